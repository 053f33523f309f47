"""`netadapt`: the command-line entry point. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys

from service.cli import analyze_cmd, demo_cmd, fit_cmd, prune_cmd, runs_cmd, serve_cmd, zoo_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netadapt",
        description="Hardware-aware NetAdapt pruning for Keras models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    zoo_cmd.register(sub)
    analyze_cmd.register(sub)
    prune_cmd.register(sub)
    fit_cmd.register(sub)
    serve_cmd.register(sub)
    runs_cmd.register(sub)
    demo_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "needs_tensorflow", True):
            from service.quiet_tf import import_tensorflow_quietly

            import_tensorflow_quietly()
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - user-facing errors become one line
        from service.cli.errors import user_message

        message = user_message(exc)
        if message is None:
            raise
        print(f"netadapt: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
