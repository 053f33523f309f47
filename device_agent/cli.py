"""`netadapt-agent`: run the measurement agent, or self-test a backend.

    netadapt-agent --server URL --token T --backend NAME [--threads 1] [--cpu N] \
        [--name NAME] [--max-jobs 8] [--cache-dir DIR]
    netadapt-agent self-test --backend NAME [--threads 1] [--cpu N]

The token may come from NETADAPT_AGENT_TOKEN instead of --token (keeps it out of `ps`).
Errors are one line on stderr; exit status 2 for usage errors, 1 for everything else.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from pathlib import Path

from device_agent.runner import LEASE_WAIT_SECONDS
from device_agent.text import one_line

TOKEN_ENV = "NETADAPT_AGENT_TOKEN"
PROG = "netadapt-agent"


def _cpus(text: str) -> list[int]:
    try:
        cpus = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a core number or a comma list, got {text!r}") from None
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative core numbers, got {text!r}")
    return cpus


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    from device_agent.backends import backend_names

    parser.add_argument("--backend", required=True, choices=backend_names(), help="how to measure")
    parser.add_argument("--threads", type=_positive, default=1, help="interpreter threads (default 1)")
    parser.add_argument(
        "--cpu", type=_cpus, default=None, help="core(s) to pin to, e.g. 3 or 2,3 (default: the last core(s))"
    )


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Measure layers and models for a NetAdapt server. "
        f"'{PROG} self-test --backend NAME' checks a backend without a server.",
    )
    parser.add_argument("--server", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", default=None, help=f"agent registration token (default: ${TOKEN_ENV})")
    _add_backend_options(parser)
    parser.add_argument("--name", default=None, help="agent name shown on the server (default: hostname-backend)")
    parser.add_argument("--max-jobs", type=_positive, default=8, help="jobs per lease = per measured batch")
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=LEASE_WAIT_SECONDS,
        help=f"long-poll wait per lease request; an idle agent takes up to this long to stop (default {LEASE_WAIT_SECONDS:g})",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="where downloaded models are kept (default: ~/.cache/netadapt-agent)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def self_test_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{PROG} self-test", description="Measure the reference layer and print it.")
    _add_backend_options(parser)
    return parser


def _cpu_argument(cpus: list[int] | None) -> int | list[int] | None:
    if cpus is None:
        return None
    return cpus[0] if len(cpus) == 1 else cpus


def self_test(argv: list[str]) -> int:
    from device_agent.backends import get_backend

    args = self_test_parser().parse_args(argv)
    backend = get_backend(args.backend, threads=args.threads, cpu=_cpu_argument(args.cpu))
    print(backend.self_test())
    return 0


def run_agent(argv: list[str]) -> int:
    from device_agent.backends import get_backend
    from device_agent.model_cache import BlobCache, default_cache_dir
    from device_agent.runner import AgentRunner
    from device_agent.server_client import ServerClient

    parser = run_parser()
    args = parser.parse_args(argv)
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        parser.error(f"--token or ${TOKEN_ENV} is required")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too chatty
    backend = get_backend(args.backend, threads=args.threads, cpu=_cpu_argument(args.cpu))
    name = args.name or f"{socket.gethostname()}-{backend.name}"
    client = ServerClient(args.server, token, name, backend.describe(), stop=threading.Event())
    blobs = BlobCache((args.cache_dir or default_cache_dir()) / "blobs", client.download_blob)
    runner = AgentRunner(backend, client, blobs, max_jobs=args.max_jobs, wait_seconds=args.wait_seconds)
    try:
        return runner.run()
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["self-test"]:
            return self_test(argv[1:])
        if argv[:1] == ["run"]:
            argv = argv[1:]
        return run_agent(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for people; -v and the log have the rest
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
