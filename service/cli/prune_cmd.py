"""`netadapt prune MODEL --data DATA --metric macs --budget 0.5 --out DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

from service.cli.options import (
    add_budget_arguments,
    add_data_arguments,
    add_engine_arguments,
    add_measuring_server_arguments,
    add_training_arguments,
    budget_kind,
    data_spec,
    engine_options,
    training_options,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune",
        help="run NetAdapt on a .keras model (same command on the same --out resumes)",
    )
    p.add_argument("model", type=Path, help="the trained .keras model to prune")
    add_data_arguments(p)
    p.add_argument("--metric", default="macs", choices=("macs", "params", "latency_ms", "instructions"),
                   help="cost to reduce; latency_ms and instructions are measured by a device "
                   "agent through --server")
    add_budget_arguments(p, "target cost: a fraction of the baseline (e.g. 0.5), or an absolute cost with "
                         "--absolute-budget")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--workers", type=int, default=None, help="parallel fine-tunes (default: cores)")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="where proposals are fine-tuned: local worker processes, or Ray tasks (a "
                   "private local Ray instance, or the cluster at $RAY_ADDRESS); default: ray when "
                   "RAY_ADDRESS is set, else local")
    add_measuring_server_arguments(p)
    add_engine_arguments(p)
    add_training_arguments(p)
    p.set_defaults(handler=run)


def request_from_args(args: argparse.Namespace):
    from service.netadapt import NetAdaptConfig
    from service.pruning.offline_run import OfflineRunRequest, RunInputError
    from service.pruning.options import TrainingOptions

    try:
        engine = NetAdaptConfig(
            budget=args.budget,
            budget_kind=budget_kind(args),
            **engine_options(args),
        )
        options = TrainingOptions(**training_options(args))
    except ValueError as exc:
        raise RunInputError(str(exc)) from exc
    return OfflineRunRequest(
        model_path=args.model,
        data=data_spec(args),
        metric=args.metric,
        engine=engine,
        out_dir=args.out,
        options=options,
        workers=args.workers,
        server=args.server,
        device=args.device,
        api_token=args.api_token,
        executor=args.executor,
    )


def run(args: argparse.Namespace) -> int:
    from service.cli.progress_view import RunProgressView, line_console, print_summary
    from service.pruning.offline_run import run_offline

    request = request_from_args(args)
    console = line_console()
    with RunProgressView(console) as view:
        report = run_offline(request, progress=view.update)
    print_summary(console, report, args.out)
    return 0
