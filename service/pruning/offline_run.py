"""`netadapt prune`: a whole NetAdapt run on this machine, in a run directory.

Every input is checked before the run directory is created, so a bad model, dataset or
budget leaves nothing behind. Running the same command on the same directory resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.netadapt import JsonFileStore, NetAdaptConfig, NetAdaptEngine, build_report
from service.netadapt.errors import UserError
from service.netadapt.interfaces import CheckpointStore
from service.netadapt.state import EngineState
from service.pruning import run_layout as layout
from service.pruning.options import DataSpec, TrainingOptions


MEASURED_METRICS = ("latency_ms", "instructions")


class RunInputError(UserError):
    """A problem with what the user asked for; the message says what to change."""


@dataclass(frozen=True)
class OfflineRunRequest:
    model_path: Path
    data: DataSpec
    metric: str
    engine: NetAdaptConfig
    out_dir: Path
    options: TrainingOptions = field(default_factory=TrainingOptions)
    workers: int | None = None
    server: str | None = None  # lookup-table service, for measured metrics
    device: str | None = None  # device profile id on that server
    api_token: str | None = None
    # Where proposals run: "local" | "ray" | None (ray when RAY_ADDRESS is set; see
    # service.executors.selection). Not a run setting: a run may resume on another.
    executor: str | None = None
    ray_address: str | None = None

    @property
    def measured(self) -> bool:
        return self.metric in MEASURED_METRICS

    def settings(self) -> dict[str, Any]:
        """What must match for a run directory to be resumed by this request."""
        return {
            "metric": self.metric,
            "device": self.device,
            "engine": self.engine.to_dict(),
            "data": self.data.to_dict(),
            "options": self.options.to_dict(),
        }


def load_keras_file(path: Path) -> Any:
    """Load a .keras file safely, or raise RunInputError saying what is wrong with it."""
    if not path.exists():
        raise RunInputError(f"model file {path} does not exist")
    if path.is_dir():
        raise RunInputError(f"{path} is a directory; pass a .keras model file")
    if path.suffix == ".h5" or path.suffix == ".hdf5":
        raise RunInputError(
            f"{path} is a legacy HDF5 file; re-save it in the Keras 3 format with "
            "model.save('model.keras')"
        )
    if not zipfile.is_zipfile(path):
        raise RunInputError(
            f"{path} is not a Keras model file (a .keras zip archive); save the model with "
            "model.save('model.keras')"
        )
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise RunInputError(f"{path} is a zip archive but not a .keras model (no config.json)")
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a broken file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunInputError(f"cannot load {path} as a Keras model: {first_line}") from exc


def _check_budget(estimator: Any, graph: Any, cfg: NetAdaptConfig) -> tuple[float, float]:
    """Baseline cost and the smallest cost the engine could reach (every prunable group at
    one channel step); raise RunInputError when the budget is below that."""
    from service.netadapt import budget_cost

    baseline_config = graph.channel_config()
    floor_config = {g: min(c, cfg.channel_step) for g, c in baseline_config.items()}
    baseline, floor = estimator.costs([baseline_config, floor_config])
    wanted = budget_cost(baseline, cfg)
    if wanted < floor:
        smallest_ratio = floor / baseline if baseline else 1.0
        raise RunInputError(
            f"budget {wanted:,.6g} {estimator.metric} is unreachable: even with every prunable "
            f"layer at {cfg.channel_step} channels the model costs {floor:,.6g} "
            f"({smallest_ratio:.1%} of the baseline {baseline:,.6g}); use --budget of at least "
            f"{smallest_ratio:.3f} (or a smaller --channel-step)"
        )
    return baseline, floor


def _prepare_run_dir(request: OfflineRunRequest) -> bool:
    """Return True when resuming an existing run directory."""
    out = request.out_dir
    settings_path = out / layout.SETTINGS_FILE
    if out.exists() and not out.is_dir():
        raise RunInputError(f"--out {out} is a file; give a directory for the run")
    if out.is_dir() and any(out.iterdir()):
        if not settings_path.exists():
            raise RunInputError(
                f"--out {out} exists and is not a netadapt run directory; choose a new or empty "
                "directory"
            )
        stored = json.loads(settings_path.read_text())
        given = json.loads(json.dumps(request.settings()))
        # A key missing from an older run directory means the default (None).
        changed = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
        if changed:
            raise RunInputError(
                f"--out {out} holds a run with different settings ({', '.join(changed)}); "
                "resume it with the same options, or choose a new directory"
            )
        return True
    return False


def _start_run_dir(request: OfflineRunRequest, model: Any) -> None:
    from service.training.export import save_keras

    out = request.out_dir
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / layout.PROPOSALS_DIR).mkdir(parents=True)
    (staging / layout.ITERATIONS_DIR).mkdir()
    save_keras(model, staging / layout.BASELINE_MODEL)
    (staging / layout.SETTINGS_FILE).write_text(json.dumps(request.settings(), indent=2))
    # The run directory appears complete or not at all.
    if out.is_dir():
        out.rmdir()
    os.replace(staging, out)


class _ArtifactKeeper:
    """After each iteration: drop its proposals' files (the kept one is now the iteration's
    model, iterations/iter_NNN.keras)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] != "iteration_finished":
            return
        for other in (self.run_dir / layout.PROPOSALS_DIR).glob(f"iter_{event['iteration']:03d}__*"):
            other.unlink(missing_ok=True)


def layer_channels(graph: Any, config: dict[str, int]) -> dict[str, int]:
    """Output channels per producer layer for a group configuration."""
    out = {}
    for group in graph.groups:
        for member in group.members:
            out[member] = int(config.get(group.id, group.channels))
    return out


def write_history(request: OfflineRunRequest, state: EngineState, graph: Any,
                  extra: dict[str, Any]) -> dict[str, Any]:
    """The report (build_report) with each iteration's channels per layer, the settings
    and `extra`, written to history.json."""
    from latency_tables.atomic_files import write_bytes_atomically

    report = build_report(state)
    for iteration in report["iterations"]:
        iteration["layer_channels"] = layer_channels(graph, iteration["channels"])
    report["baseline_layer_channels"] = layer_channels(graph, {})
    report["settings"] = request.settings()
    report.update(extra)
    write_bytes_atomically(
        request.out_dir / layout.HISTORY_FILE, json.dumps(report, indent=2).encode()
    )
    return report


def _saved_state(store: CheckpointStore) -> EngineState:
    state = store.load()
    assert state is not None  # the engine saves before it reports progress or returns
    return state


def _measured_estimator(request: OfflineRunRequest, graph: Any, progress: Any) -> Any:
    """Lookup-table estimator backed by the server's tables for `request.device`."""
    from service.costs.keras_signatures import signature_fn
    from service.costs.measured import MeasuredEstimator
    from service.pruning.run_tflite import run_tflite
    import httpx

    from service.tables_client import TablesClient, TablesClientError

    client = TablesClient(request.server, request.api_token or "")
    try:
        profile = client.profile(request.device)
    except TablesClientError as exc:
        raise RunInputError(f"device profile '{request.device}' on {request.server}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise RunInputError(f"cannot reach the server at {request.server}: {exc}") from exc
    if profile.get("metric") != request.metric:
        raise RunInputError(
            f"device profile '{request.device}' measures {profile.get('metric')}, not "
            f"{request.metric}; pick a profile of an agent with a matching backend"
        )

    def export(ref: str) -> bytes:
        import keras

        path = Path(ref) if Path(ref).is_absolute() else request.out_dir / ref
        # The conversion the run's .tflite artifacts get too (run_tflite).
        return run_tflite(keras.saving.load_model(path, compile=False), request.data, request.options)

    precision = request.options.precision
    return MeasuredEstimator(
        signature_fn(graph, precision), client, request.device, request.metric, export,
        progress=progress, dtype=precision,
    )


def run_offline(
    request: OfflineRunRequest,
    progress: Callable[[dict[str, Any]], None] | None = None,
    store: CheckpointStore | None = None,
) -> dict[str, Any]:
    """Run (or resume) NetAdapt as asked; return the report also written to history.json.

    `store` keeps the engine's checkpoint (default: state.json in the run directory; the
    server keeps it in its database)."""
    from service.executors.local import default_workers
    from service.executors.selection import choose_executor, make_executor
    from service.pruning.analytic_cost import ANALYTIC_METRICS, AnalyticEstimator
    from service.pruning.data import load_run_data
    from service.pruning.keras_network import KerasNetwork
    from service.pruning.proposal_worker import ProposalContext, limit_threads, run_proposal
    from service.pruning.run_tflite import final_tflite_test_accuracy
    from service.surgery import SurgeryError, analyze
    from service.training.dataset_types import DatasetError
    from service.training.datasets import check_compatible

    if request.metric not in ANALYTIC_METRICS + MEASURED_METRICS:
        raise RunInputError(
            f"unknown metric '{request.metric}'; use one of "
            f"{', '.join(ANALYTIC_METRICS + MEASURED_METRICS)}"
        )
    if request.measured and not (request.server and request.device):
        raise RunInputError(
            f"metric '{request.metric}' is measured on a device: pass --server URL and "
            "--device PROFILE_ID (see `netadapt serve` and `netadapt-agent`)"
        )
    try:
        choice = choose_executor(request.executor, request.ray_address)
    except ValueError as exc:
        raise RunInputError(str(exc)) from exc
    resuming = _prepare_run_dir(request)
    model = load_keras_file(
        request.out_dir / layout.BASELINE_MODEL if resuming else request.model_path
    )
    try:
        graph = analyze(model)
    except SurgeryError as exc:
        raise RunInputError(str(exc)) from exc
    if not graph.prunable_groups:
        raise RunInputError(f"model '{model.name}' has no prunable layers")
    try:
        data = load_run_data(request.data, request.options.holdout, request.options.seed)
        check_compatible(model, data.dataset)
    except DatasetError as exc:
        raise RunInputError(str(exc)) from exc
    if request.measured:
        estimator = _measured_estimator(request, graph, progress)
    else:
        estimator = AnalyticEstimator(graph, request.metric)
    _check_budget(estimator, graph, request.engine)

    if not resuming:
        _start_run_dir(request, model)
    run_dir = request.out_dir
    network = KerasNetwork(run_dir, request.data, request.options)
    store = store or JsonFileStore(run_dir / layout.STATE_FILE)
    baseline_test_accuracy = network.evaluate_test(layout.BASELINE_MODEL)
    keeper = _ArtifactKeeper(run_dir)
    workers = request.workers or default_workers()
    context = ProposalContext(str(run_dir), request.data, request.options)
    threads = max(1, default_workers() // workers)
    extra = {"baseline_test_accuracy": baseline_test_accuracy, "workers": workers}

    def on_progress(event: dict[str, Any]) -> None:
        keeper(event)
        if event["event"] == "iteration_finished":
            write_history(request, _saved_state(store), graph, extra)
        if progress is not None:
            progress(event)

    with make_executor(
        choice, run_proposal, context, workers=workers, threads=threads, initializer=limit_threads
    ) as executor:
        engine = NetAdaptEngine(
            network,
            estimator,
            executor,
            store,
            request.engine,
            layout.BASELINE_MODEL,
            progress=on_progress,
        )
        engine.run()
    # The file a user deploys, run with LiteRT: at precision int8 this is the quantized
    # model's accuracy, next to the Keras model's in the summary.
    extra["precision"] = request.options.precision
    extra["tflite_test_accuracy"] = final_tflite_test_accuracy(run_dir, request.data, request.options)
    return write_history(request, _saved_state(store), graph, extra)
