"""`netadapt runs create|list|show|cancel|resume|delete|download`: runs on a server."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from service.cli.options import add_budget_arguments, add_engine_arguments, add_training_arguments, budget_kind
from service.cli.options import engine_options, training_options

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_DOWNLOADS = ("final.keras", "final.tflite", "report.json")


def register(sub: argparse._SubParsersAction) -> None:
    runs = sub.add_parser("runs", help="create, follow and download pruning runs on a server")
    commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")

    create = commands.add_parser("create", help="start a run (uploads the model and dataset if given as files)")
    _server_arguments(create)
    create.add_argument("--model", required=True, help="a .keras file, or the id of an uploaded model")
    create.add_argument("--data", default="digits", help="'digits', an .npz file, or an uploaded dataset id")
    create.add_argument("--metric", default="macs", choices=("macs", "params", "latency_ms", "instructions"))
    create.add_argument("--device", default=None,
                        help="device profile id; default for measured metrics: the one profile with an "
                        "online agent measuring that metric")
    add_budget_arguments(create, "fraction of the baseline cost, e.g. 0.6")
    create.add_argument("--workers", type=int, default=None, help="parallel fine-tunes (default: server cores)")
    create.add_argument("--idempotency-key", default=None, help="retrying with the same key returns the same run")
    create.add_argument("--wait", action="store_true", help="follow progress, then print the result table")
    add_engine_arguments(create)
    add_training_arguments(create)
    create.set_defaults(handler=run_create)

    listing = commands.add_parser("list", help="runs, newest first")
    _server_arguments(listing)
    listing.add_argument("--status", default=None,
                         choices=("queued", "running", "cancelling", "cancelled", "finished", "failed"))
    listing.set_defaults(handler=run_list)

    for name, handler, text in (
        ("show", run_show, "a run's status and iterations"),
        ("cancel", run_cancel, "stop a queued or running run"),
        ("resume", run_resume, "continue a cancelled or failed run"),
        ("delete", run_delete, "delete an ended run and its files"),
        ("wait", run_wait, "follow a run until it ends, then print the result table"),
    ):
        p = commands.add_parser(name, help=text)
        _server_arguments(p)
        p.add_argument("run_id")
        p.set_defaults(handler=handler)

    download = commands.add_parser("download", help="download a run's artifacts")
    _server_arguments(download)
    download.add_argument("run_id")
    download.add_argument("--artifact", action="append", default=None,
                          help=f"artifact name (repeatable; default: {', '.join(DEFAULT_DOWNLOADS)}; "
                          "'all' for every one)")
    download.add_argument("--out", type=Path, default=Path("."), help="directory to write into")
    download.set_defaults(handler=run_download)


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=os.environ.get("NETADAPT_SERVER", DEFAULT_SERVER),
                        help=f"server URL (default: $NETADAPT_SERVER or {DEFAULT_SERVER})")
    parser.add_argument("--api-token", default=os.environ.get("NETADAPT_API_TOKEN"),
                        help="API token (default: $NETADAPT_API_TOKEN; a dev-mode server accepts 'changethis')")
    parser.set_defaults(needs_tensorflow=False)


def client(args: argparse.Namespace) -> Any:
    from service.client import NetAdaptClient
    from service.settings import DEFAULT_SECRET

    return NetAdaptClient(args.server, args.api_token or DEFAULT_SECRET)


# -- create -----------------------------------------------------------------------------------


def resolve_model(api: Any, model: str) -> str:
    path = Path(model)
    if path.suffix in (".keras", ".h5", ".hdf5") or path.exists():
        if not path.is_file():
            from service.cli.errors import CommandError

            raise CommandError(f"model file {path} does not exist")
        return api.upload_model(path)["id"]
    return model


def resolve_dataset(api: Any, data: str) -> str:
    path = Path(data)
    if path.suffix == ".npz" or path.exists():
        if not path.is_file():
            from service.cli.errors import CommandError

            raise CommandError(f"dataset file {path} does not exist")
        return api.upload_dataset(path)["id"]
    return data


def resolve_device(api: Any, metric: str, device: str | None) -> str | None:
    """The given profile, or for measured metrics the only profile with an online agent."""
    from service.cli.errors import CommandError

    if device is not None or metric not in ("latency_ms", "instructions"):
        return device
    candidates = [
        p for p in api.profiles()
        if p["metric"] == metric and any(a["online"] for a in api.profile(p["id"])["agents"])
    ]
    if len(candidates) == 1:
        return candidates[0]["id"]
    if not candidates:
        raise CommandError(
            f"no device profile with an online agent measures {metric}; start one "
            "(`netadapt serve --with-agent host-latency`, or netadapt-agent on the device) or pass --device"
        )
    ids = ", ".join(f"{p['id']} ({p['backend']}, {p['cpu_model']})" for p in candidates)
    raise CommandError(f"several device profiles measure {metric}: {ids}; pass --device ID")


def run_create(args: argparse.Namespace) -> int:
    with client(args) as api:
        spec = {
            "model_id": resolve_model(api, args.model),
            "dataset_id": resolve_dataset(api, args.data),
            "metric": args.metric,
            "device": resolve_device(api, args.metric, args.device),
            "budget": args.budget,
            "budget_kind": budget_kind(args),
            "engine": engine_options(args),
            "training": training_options(args),
            "workers": args.workers,
        }
        run = api.create_run(spec, args.idempotency_key)
        print(f"run {run['id']} {run['status']}")
        if args.wait:
            return follow(api, run["id"])
    return 0


def follow(api: Any, run_id: str) -> int:
    """Show progress until the run ends; print the result table. Exit 0 only if it finished."""
    from service.cli.progress_view import RunProgressView, line_console

    console = line_console()
    with RunProgressView(console) as view:
        def on_event(event: dict[str, Any]) -> None:
            if event["type"] == "status":
                data = event["data"]
                view.say(f"[{data['status']}] {data.get('message', '')}")
            else:
                view.update({"event": event["type"], **event["data"]})

        run = api.wait(run_id, on_event=on_event)
    print_run(console, api, run)
    return 0 if run["status"] == "finished" else 1


# -- other actions ------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    with client(args) as api:
        runs = api.runs(status=args.status)
    table = Table(title=f"{len(runs)} run(s)")
    # Ids are what users copy into the next command: never wrapped or cut.
    table.add_column("id", no_wrap=True, min_width=16)
    for column in ("status", "metric", "budget", "progress", "baseline -> current", "accuracy", "created"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run["id"], run["status"], run["metric"], f"{run['budget']:g}", f"{run['progress']:.0%}",
            _cost_pair(run), _maybe(run["current_accuracy"]), run["created_at"][:19].replace("T", " "),
        )
    Console().print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from service.cli.progress_view import line_console

    with client(args) as api:
        print_run(line_console(), api, api.run(args.run_id))
    return 0


def run_wait(args: argparse.Namespace) -> int:
    with client(args) as api:
        return follow(api, args.run_id)


def run_cancel(args: argparse.Namespace) -> int:
    with client(args) as api:
        run = api.cancel(args.run_id)
    print(f"run {run['id']} {run['status']}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    with client(args) as api:
        run = api.resume(args.run_id)
    print(f"run {run['id']} {run['status']}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with client(args) as api:
        api.delete(args.run_id)
    print(f"run {args.run_id} deleted")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from service.cli.errors import CommandError

    with client(args) as api:
        available = {a["name"] for a in api.artifacts(args.run_id)}
        wanted = args.artifact or list(DEFAULT_DOWNLOADS)
        if "all" in wanted:
            wanted = sorted(available)
        missing = [name for name in wanted if name not in available]
        if missing:
            raise CommandError(
                f"run {args.run_id} has no {', '.join(missing)} (yet); it has: {', '.join(sorted(available)) or 'nothing'}"
            )
        for name in wanted:
            path = api.download(args.run_id, name, args.out / name)
            print(f"wrote {path}")
    return 0


# -- rendering -----------------------------------------------------------------------------------


def _maybe(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _cost_pair(run: dict[str, Any]) -> str:
    from service.cli.progress_view import format_cost

    base, current = run.get("baseline_cost"), run.get("current_cost")
    if base is None:
        return ""
    text = f"{format_cost(base)} -> {format_cost(current)}" if current is not None else format_cost(base)
    return text + (f" ({current / base:.1%})" if current is not None and base else "")


def print_run(console: Any, api: Any, run: dict[str, Any]) -> None:
    from service.cli.progress_view import print_summary

    console.print(
        f"run {run['id']}: {run['status']} ({run['phase']}), metric {run['metric']}, budget {run['budget']:g}"
        + (f", stop: {run['stop_reason']}" if run.get("stop_reason") else "")
    )
    if run.get("error"):
        console.print(f"error: {run['error']}")
    if run.get("baseline_cost") is None:
        return
    report = api.report(run["id"])
    report["baseline_test_accuracy"] = run.get("baseline_test_accuracy")
    report["tflite_test_accuracy"] = run.get("tflite_test_accuracy")
    report["precision"] = run["request"]["training"].get("precision", "float32")
    print_summary(console, report)
