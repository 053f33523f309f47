"""`netadapt-agent`: run the measurement agent, or self-test a backend.

    netadapt-agent --server URL --token T --backend NAME [--threads 1] [--cpu N] \
        [--name NAME] [--max-jobs 8] [--cache-dir DIR]
    netadapt-agent self-test --backend NAME [--threads 1] [--cpu N]
    netadapt-agent setup-arm [--dir DIR]      # once, for --backend qemu-aarch64
    netadapt-agent backends                   # the backends, one per line: NAME<TAB>what it measures

Backends and their own options: device_agent.backends.BACKENDS.

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

from device_agent.backends import BACKENDS, Backend, backend_names, get_backend
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


def _cpu_option(text: str) -> list[int] | str:
    """Core numbers (pinning) or, for qemu-aarch64, an emulated core name."""
    if text[:1].isalpha():
        return text
    return _cpus(text)


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", required=True, choices=backend_names(), help="how to measure")
    parser.add_argument("--threads", type=_positive, default=1, help="interpreter threads (default 1)")
    parser.add_argument(
        "--cpu", type=_cpu_option, default=None,
        help="core(s) to pin to, e.g. 3 or 2,3 (default: the last core(s)); "
        "qemu-aarch64: the emulated core, cortex-a53 (default) or cortex-a76",
    )
    for name, entry in sorted(BACKENDS.items()):
        for option in entry.options:
            parser.add_argument(option.flag, dest=option.name, type=option.type, default=None,
                                help=f"{name}: {option.help}")


def _make_backend(args: argparse.Namespace) -> Backend:
    cpu = args.cpu if isinstance(args.cpu, str) else _cpu_argument(args.cpu)
    options = {option.name: getattr(args, option.name) for entry in BACKENDS.values() for option in entry.options}
    return get_backend(args.backend, threads=args.threads, cpu=cpu, **options)


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
    args = self_test_parser().parse_args(argv)
    print(_make_backend(args).self_test())
    return 0


def list_backends(argv: list[str]) -> int:
    """What a server asks before it starts an agent (`netadapt serve --with-agent NAME`)."""
    argparse.ArgumentParser(prog=f"{PROG} backends", description="List the backends, one per line: "
                            "name, a tab, what it measures.").parse_args(argv)
    for name in backend_names():
        print(f"{name}\t{BACKENDS[name].summary}")
    return 0


def setup_arm_parser() -> argparse.ArgumentParser:
    from device_agent.arm.setup import DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR, DEFAULT_SUITE, default_arm_dir

    parser = argparse.ArgumentParser(
        prog=f"{PROG} setup-arm",
        description="Build what --backend qemu-aarch64 needs: an aarch64 root filesystem from Debian packages, "
        "aarch64 numpy and ai-edge-litert wheels, fake /proc/cpuinfo per core, the instruction-counting QEMU "
        "plugin. Cached: a second run only checks.",
    )
    parser.add_argument("--dir", type=Path, default=None, help=f"where to build (default: {default_arm_dir()})")
    parser.add_argument("--suite", default=DEFAULT_SUITE, help=f"Debian suite of the root filesystem (default {DEFAULT_SUITE})")
    parser.add_argument("--mirror", default=DEFAULT_MIRROR, help=f"Debian mirror (default {DEFAULT_MIRROR})")
    parser.add_argument("--security-mirror", default=DEFAULT_SECURITY_MIRROR, help="Debian security mirror")
    parser.add_argument("--numpy-version", default=None, help="numpy for the emulated Python (default: this host's)")
    parser.add_argument("--litert-version", default=None, help="ai-edge-litert for the emulated Python (default: this host's)")
    parser.add_argument("--plugin-header", type=Path, default=None,
                        help="QEMU's qemu-plugin.h (default: fetched from Debian's qemu source package)")
    parser.add_argument("--no-verify", action="store_true", help="skip counting the reference layer at the end")
    return parser


def setup_arm(argv: list[str]) -> int:
    from device_agent.arm.setup import ArmSetup, SetupOptions, default_arm_dir

    args = setup_arm_parser().parse_args(argv)
    options = SetupOptions(
        suite=args.suite, mirror=args.mirror, security_mirror=args.security_mirror,
        numpy_version=args.numpy_version, litert_version=args.litert_version,
        plugin_header=args.plugin_header, verify=not args.no_verify,
    )
    report = ArmSetup(args.dir or default_arm_dir(), options, progress=lambda m: print(m, file=sys.stderr, flush=True)).run()
    print("\n".join(report.lines()))
    return 0


def run_agent(argv: list[str]) -> int:
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
    backend = _make_backend(args)
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
        if argv[:1] == ["setup-arm"]:
            return setup_arm(argv[1:])
        if argv[:1] == ["backends"]:
            return list_backends(argv[1:])
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
