"""Settings refuse shipped or empty secrets unless dev_mode, naming the variable to set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import DEFAULT_SECRET, Settings

STRONG = "a-long-random-secret-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("NETADAPT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("name", ["agent_token", "api_token"])
@pytest.mark.parametrize("value", [DEFAULT_SECRET, ""])
def test_weak_secret_is_refused_outside_dev_mode(name: str, value: str) -> None:
    values = {"agent_token": STRONG, "api_token": STRONG, name: value}
    with pytest.raises(ValidationError, match=f"NETADAPT_{name.upper()}") as error:
        Settings(_env_file=None, **values)
    assert "NETADAPT_DEV_MODE" in str(error.value)


def test_defaults_are_refused_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETADAPT_AGENT_TOKEN", STRONG)
    with pytest.raises(ValidationError, match="NETADAPT_API_TOKEN is the built-in default") as error:
        Settings(_env_file=None)
    assert STRONG not in str(error.value)  # the error never prints a secret


def test_both_weak_secrets_are_reported_at_once() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None)
    assert "NETADAPT_AGENT_TOKEN" in str(error.value) and "NETADAPT_API_TOKEN" in str(error.value)


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    assert STRONG not in repr(Settings(_env_file=None, agent_token=STRONG, api_token=STRONG, data_dir=tmp_path))


def test_dev_mode_allows_the_defaults(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, dev_mode=True, data_dir=tmp_path)
    assert settings.agent_token == DEFAULT_SECRET
    assert settings.database_url == f"sqlite:///{(tmp_path / 'netadapt.db').as_posix()}"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETADAPT_AGENT_TOKEN", STRONG)
    monkeypatch.setenv("NETADAPT_API_TOKEN", STRONG + "x")
    monkeypatch.setenv("NETADAPT_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("NETADAPT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings(_env_file=None)
    assert (settings.lease_seconds, settings.database_url, settings.dev_mode) == (
        2.5,
        "postgresql+psycopg://u@h/db",
        False,
    )


def test_create_app_refuses_weak_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from service import settings as settings_module
    from service.app import create_app

    settings_module.get_settings.cache_clear()
    monkeypatch.setenv("NETADAPT_DATA_DIR", str(tmp_path))
    try:
        with pytest.raises(ValidationError, match="NETADAPT_AGENT_TOKEN"):
            create_app()
    finally:
        settings_module.get_settings.cache_clear()
