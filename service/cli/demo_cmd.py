"""`netadapt demo`: the whole product on this machine in one command.

Starts the server with an embedded host-latency agent (SQLite in --data-dir, dev-mode
secrets), trains the demo baseline once (the VGG-style zoo net on scikit-learn's digits
resized to 32x32: ~1-2 ms per inference here, well above timing noise), and runs a
latency_ms NetAdapt run to 60% of the baseline's measured latency through the REST API,
showing progress. Running it again shows the same run (resuming it if it was
interrupted); --fresh starts a new one.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path
from typing import Any

from service.run_options import add_cli_arguments, cli_values

DEMO_MODEL = "vgg_digits32.keras"
DEMO_IMAGE_SIZE = (32, 32)
DEMO_BASELINE_EPOCHS = 8
# Demo schedule: a bigger step than the paper's 0.025 (13.5% of the baseline, so that 60%
# is reached in 3 iterations), two proposals fine-tuned per iteration and shorter
# fine-tunes, to finish in under 3 minutes on 2 cores with a lookup table measured afresh
# (measuring it is most of the first iteration). In three demo runs with prescreen 3 the
# kept proposal was among the prescreen's first two in 9 of 10 iterations. Every value is
# in the run record.
DEMO_ENGINE = {"init_reduction_ratio": 0.135, "decay": 1.0, "channel_step": 4, "max_iterations": 20, "prescreen": 2}
DEMO_TRAINING = {"short_term_steps": 40, "long_term_epochs": 3, "holdout": 0.15, "seed": 0}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="server + local agent + a latency_ms NetAdapt run on the digits, in one go")
    p.add_argument("--data-dir", type=Path, default=Path("netadapt-demo"), help="server data (default ./netadapt-demo)")
    p.add_argument("--port", type=int, default=8000, help="server port on 127.0.0.1 (default 8000)")
    p.add_argument("--budget", type=float, default=0.6, help="fraction of the baseline latency (default 0.6)")
    p.add_argument("--fresh", action="store_true", help="start a new run even if the demo ran before")
    add_cli_arguments(p, _demo_options())
    p.set_defaults(handler=run)


def _demo_options() -> tuple[Any, ...]:
    """Run options the demo takes on its command line (declared with the run's options)."""
    from service.run_options import training_options

    return tuple(o for o in training_options() if o.name == "precision")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _ServerThread:
    """The server (uvicorn) in a thread of this process, stopped on exit."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from service.api.http_server import http_server_options
        from service.app import SHUTDOWN_GRACE_SECONDS, AppServer, create_app

        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=settings.port, log_level="warning",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS, **http_server_options(settings),
        )
        self.server = AppServer(config)  # ends the agent's lease long poll at once on exit
        self.thread = threading.Thread(target=self.server.run, name="netadapt-server", daemon=True)

    def __enter__(self) -> _ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                from service.cli.errors import CommandError

                raise CommandError("the server did not start; see the messages above")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def wait_for_agent_profile(api: Any, metric: str, agent: Any, timeout: float = 120.0) -> str:
    """The profile id of the embedded agent, once it has registered and is online."""
    from service.cli.errors import CommandError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failure = agent.failure()
        if failure:
            raise CommandError(f"the embedded agent {failure} (log: {agent.log_path})")
        for profile in api.profiles():
            if profile["metric"] == metric and any(
                a["online"] and a["name"].startswith("embedded-") for a in api.profile(profile["id"])["agents"]
            ):
                return profile["id"]
        time.sleep(0.5)
    raise CommandError(f"the embedded agent did not register within {timeout:g} s; see {agent.log_path}")


def ensure_baseline(data_dir: Path) -> Path:
    from service.cli.zoo_cmd import train_zoo_model
    from service.pruning.options import DataSpec

    path = data_dir / "demo" / DEMO_MODEL
    if path.is_file():
        print(f"baseline: {path} (trained earlier)")
        return path
    train_zoo_model(
        "vgg", DataSpec("digits", DEMO_IMAGE_SIZE, 1), path, epochs=DEMO_BASELINE_EPOCHS, seed=0,
    )
    return path


def run(args: argparse.Namespace) -> int:
    from service.cli.errors import CommandError
    from service.cli.runs_cmd import follow
    from service.client import NetAdaptClient
    from service.settings import Settings

    if not 0 < args.budget <= 1:
        raise CommandError(f"--budget is a fraction of the baseline latency in (0, 1], got {args.budget}")
    if not _port_free(args.port):
        raise CommandError(f"port {args.port} on 127.0.0.1 is in use; pass --port with a free one")
    settings = Settings(
        _env_file=None, data_dir=args.data_dir.resolve(), port=args.port, dev_mode=True,
        embedded_agent="host-latency",
    )
    baseline = ensure_baseline(settings.data_dir)
    with _ServerThread(settings) as server, NetAdaptClient(settings.internal_url, settings.api_token) as api:
        print(f"server: {settings.internal_url} (API docs at /docs), data in {settings.data_dir}")
        model = api.upload_model(baseline)
        device = wait_for_agent_profile(api, "latency_ms", server.app.state.embedded_agent)
        chosen = cli_values(args, _demo_options())
        spec = {
            "model_id": model["id"], "dataset_id": "digits", "metric": "latency_ms", "device": device,
            "budget": args.budget, "engine": DEMO_ENGINE, "training": {**DEMO_TRAINING, **chosen},
        }
        precision = chosen.get("precision", "float32")
        key = None if args.fresh else f"demo-{model['id']}-{device}-{args.budget}" + (
            f"-{precision}" if precision != "float32" else ""
        )
        run_record = api.create_run(spec, idempotency_key=key)
        if run_record["status"] in ("cancelled", "failed"):
            run_record = api.resume(run_record["id"])
        print(
            f"run {run_record['id']}: metric latency_ms ({precision}) on profile {device}, budget "
            f"{args.budget:.0%} of the baseline"
        )
        code = follow(api, run_record["id"])
        final = api.run(run_record["id"])
        if final["baseline_cost"] and final["current_cost"]:
            print(
                f"measured host latency ({precision}): baseline {final['baseline_cost']:.3f} ms -> final "
                f"{final['current_cost']:.3f} ms ({final['current_cost'] / final['baseline_cost']:.1%}; "
                f"budget {args.budget:.0%})"
            )
        if final.get("tflite_test_accuracy") is not None:
            print(f"final.tflite ({precision}, LiteRT) test accuracy {final['tflite_test_accuracy']:.1%}")
        print(f"artifacts: netadapt runs download {run_record['id']} --server {settings.internal_url}")
        print(f"dashboard: {settings.internal_url}/ (serve it again with `netadapt serve --dev --data-dir {args.data_dir} --port {args.port}`)")
    return code
