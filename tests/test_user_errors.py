"""Errors meant for users share one base class, and the CLI, the API and a run's record
show them the same way: the message's first line (the API with the class's status)."""

from __future__ import annotations


import httpx
import pytest

from service.api.errors import install_error_handlers
from service.cli.errors import CommandError
from service.cli.errors import user_message as cli_message
from service.costs.measured import MeasurementFailed
from service.netadapt import RunMismatchError, UserError, user_message
from service.pruning.baselines import UnreachableTargetError
from service.pruning.offline_run import RunInputError
from service.queue.errors import InvalidResult, JobConflict, JobNotFound
from service.runs.repository import IdempotencyConflict, RunStateError
from service.settings import InsecureSettingsError
from service.surgery import SurgeryError
from service.surgery.errors import UnsupportedLayerError
from service.tables_client import ServerUnreachable, TablesClientError
from service.training.dataset_types import DatasetError

USER_ERRORS = [
    CommandError, RunInputError, SurgeryError, UnsupportedLayerError, DatasetError, MeasurementFailed,
    RunMismatchError, InsecureSettingsError, UnreachableTargetError, JobNotFound, JobConflict,
    InvalidResult, RunStateError, IdempotencyConflict, TablesClientError, ServerUnreachable,
]


@pytest.mark.parametrize("error_class", USER_ERRORS, ids=lambda c: c.__name__)
def test_every_package_s_user_errors_are_user_errors(error_class: type) -> None:
    assert issubclass(error_class, UserError)


def test_a_bug_is_not_a_user_error() -> None:
    assert user_message(KeyError("x")) is None and cli_message(ZeroDivisionError()) is None


def _api_answer(exc: Exception) -> tuple[int, dict]:
    """What the app answers when a route raises `exc`. The TestClient runs the app on its own
    thread and loop: a session-scoped browser fixture may keep a loop running on this one."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/x")
    def raise_it() -> None:
        raise exc

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/x")
    return response.status_code, response.json()


def test_the_api_and_the_cli_show_the_same_message() -> None:
    error = UnsupportedLayerError("gate", "Lambda")
    status, body = _api_answer(error)
    assert status == 422 and body["detail"] == str(error) == cli_message(error)
    assert body["instance"] == "/v1/x"


@pytest.mark.parametrize("error, status", [(JobNotFound("j1"), 404), (JobConflict("leased"), 409),
                                           (RunStateError("still running"), 409), (DatasetError("bad"), 422)])
def test_the_api_answers_with_the_error_s_status(error: UserError, status: int) -> None:
    assert _api_answer(error)[0] == status


def test_the_cli_shows_the_first_line() -> None:
    assert cli_message(RunInputError("the budget is too small\nsee --budget")) == "the budget is too small"


def test_an_unreachable_server_says_where_and_what_to_start() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/v1/runs")
    message = cli_message(httpx.ConnectError("Connection refused", request=request))
    assert message == ("cannot reach the server at http://127.0.0.1:9/v1/runs (Connection refused); "
                       "is `netadapt serve` running there?")


def test_the_tables_client_turns_no_answer_into_a_user_error() -> None:
    from service.tables_client import TablesClient
    from tests.device_agent.live import free_port

    with TablesClient(f"http://127.0.0.1:{free_port()}", "token") as client, pytest.raises(ServerUnreachable):
        client.profile("p1")
