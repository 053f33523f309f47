"""`netadapt serve`: the lookup-table and run server (settings from NETADAPT_* variables)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the server (settings from NETADAPT_* environment variables)")
    p.add_argument("--host", default=None, help="default: NETADAPT_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: NETADAPT_PORT or 8000")
    p.add_argument("--data-dir", type=Path, default=None, help="default: NETADAPT_DATA_DIR")
    p.add_argument("--dev", action="store_true", help="dev mode: allows the built-in default secrets")
    p.add_argument("--with-agent", metavar="BACKEND", default=None,
                   help="also run a device agent on this machine (e.g. host-latency, host-instructions)")
    p.set_defaults(handler=run, needs_tensorflow=False)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from service.app import serve
    from service.cli.errors import CommandError
    from service.settings import Settings

    if args.with_agent is not None:
        from service.embedded_agent import agent_backends

        backends = agent_backends()
        if args.with_agent not in backends:
            raise CommandError(f"unknown agent backend '{args.with_agent}'; use one of {', '.join(backends)}")
    given = {"host": args.host, "port": args.port, "data_dir": args.data_dir, "embedded_agent": args.with_agent}
    overrides = {k: v for k, v in given.items() if v is not None}
    if args.dev:
        overrides["dev_mode"] = True
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise CommandError(f"invalid server settings: {reasons}") from None
    serve(settings)
    return 0
