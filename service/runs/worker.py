"""`python -m service.runs.worker RUN_ID --parent PID`: execute (or resume) one run.

Started by the server's supervisor with the server's settings in NETADAPT_* variables.
The engine checkpoints into the run's database row after every proposal, so a worker
killed at any point (cancel, server crash) is resumed by a new one at the next
unfinished proposal. Exit 0 when the run reached an end (finished or failed with a
recorded reason); anything else means the supervisor records the failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from service.executors.lifetime import die_with_parent
from service.quiet_tf import import_tensorflow_quietly
from service.resource_limits import is_out_of_memory, limit_address_space, run_out_of_memory_message

log = logging.getLogger("netadapt.worker")


def build_request(settings: Any, session: Any, run: Any) -> Any:
    """The offline driver's request for a server run (model and dataset from the catalog,
    the dataset resized to the model's input)."""
    from service.netadapt import NetAdaptConfig
    from service.pruning.offline_run import OfflineRunRequest, RunInputError
    from service.pruning.options import DataSpec, TrainingOptions
    from service.runs.artifacts import run_dir
    from service.runs.spec import MEASURED_METRICS, RunCreate
    from service.uploads import catalog

    spec = RunCreate.model_validate(run.request)
    model = catalog.find_model(session, spec.model_id)
    if model is None:
        raise RunInputError(f"model {spec.model_id} is no longer stored; upload it again and create a new run")
    dataset = catalog.find_dataset(session, spec.dataset_id)
    if dataset is None:
        raise RunInputError(f"dataset {spec.dataset_id} is no longer stored; upload it again and create a new run")
    height, width, channels = catalog.model_analysis(model)["input_shape"][-3:]
    measured = spec.metric in MEASURED_METRICS
    return OfflineRunRequest(
        model_path=catalog.model_keras_path(settings.data_dir, spec.model_id),
        data=DataSpec(
            source=catalog.dataset_source(settings.data_dir, dataset),
            image_size=(int(height), int(width)),
            channels=int(channels),
        ),
        metric=spec.metric,
        engine=NetAdaptConfig(**spec.engine_config_kwargs()),
        out_dir=run_dir(settings.runs_dir, run.id),
        options=TrainingOptions(**spec.training.model_dump()),
        workers=spec.workers,
        server=settings.internal_url if measured else None,
        device=spec.device if measured else None,
        api_token=settings.api_token if measured else None,
    )


def export_iteration_tflites(directory: Path, request: Any) -> None:
    """Every kept iteration model also as .tflite: the conversion the run measures, at the
    run's precision."""
    from service.pruning.run_tflite import write_tflites_beside
    from service.runs.artifacts import iteration_models_without_tflite

    write_tflites_beside(iteration_models_without_tflite(directory), request.data, request.options)


def execute(run_id: str) -> int:
    from service.db.session import Database
    from service.netadapt.errors import user_message
    from service.pruning.offline_run import run_offline
    from service.runs import repository
    from service.runs.artifacts import run_dir
    from service.runs.checkpoint import DatabaseCheckpointStore
    from service.runs.fit_job import fit_request, run_fit_job
    from service.runs.progress import RunProgressRecorder
    from service.settings import Settings

    settings = Settings(_env_file=None)
    database = Database.connect(settings.database_url)
    directory = run_dir(settings.runs_dir, run_id)
    try:
        with database.session() as session:
            run = repository.get_run(session, run_id)
            if run is None:
                log.error("no run %s", run_id)
                return 0
            fit = run.request.get("method") == "fit"
            request = fit_request(settings, run) if fit else build_request(settings, session, run)
        recorder = RunProgressRecorder(
            database, run_id, on_iteration=None if fit else lambda _: export_iteration_tflites(directory, request)
        )
        store = DatabaseCheckpointStore(database, run_id)
        if fit:
            report = run_fit_job(request, directory, recorder, store.save)
        else:
            report = run_offline(request, progress=recorder, store=store)
            export_iteration_tflites(directory, request)
        with database.session() as session:
            repository.mark_finished(
                session, run_id, report["summary"], baseline_test_accuracy=report.get("baseline_test_accuracy"),
                tflite_test_accuracy=report.get("tflite_test_accuracy"),
            )
        return 0
    except Exception as exc:  # recorded on the run; a bug's traceback goes to the worker log
        # The same split as the CLI: the user's to fix (bad input, an unreachable budget,
        # a device that could not measure) is the message; anything else is a bug.
        message = user_message(exc)
        if message is None and is_out_of_memory(exc):
            traceback.print_exc()
            message = run_out_of_memory_message(settings.run_memory_bytes)
        if message is None:
            traceback.print_exc()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            message = f"internal error ({type(exc).__name__}: {first}); see the worker log"
        with database.session() as session:
            repository.mark_failed(session, run_id, message)
        return 0
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.runs.worker")
    parser.add_argument("run_id")
    parser.add_argument("--parent", type=int, default=None, help="exit if this process is gone")
    parser.add_argument("--memory-bytes", type=int, default=None, help="address-space limit, children included")
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    if args.memory_bytes:
        limit_address_space(args.memory_bytes)  # before TensorFlow's import
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    import_tensorflow_quietly()
    return execute(args.run_id)


if __name__ == "__main__":
    sys.exit(main())
