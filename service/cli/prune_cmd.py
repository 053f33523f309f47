"""`netadapt prune MODEL --data DATA --metric macs --budget 0.5 --out DIR`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from service.cli.options import add_data_arguments, data_spec


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
    p.add_argument("--budget", type=float, required=True,
                   help="target cost: a fraction of the baseline (e.g. 0.5), or an absolute "
                   "cost with --absolute-budget")
    p.add_argument("--absolute-budget", action="store_true")
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--workers", type=int, default=None, help="parallel fine-tunes (default: cores)")
    m = p.add_argument_group("measured metrics")
    m.add_argument("--server", default=None, help="lookup-table server URL (netadapt serve)")
    m.add_argument("--device", default=None, help="device profile id on that server")
    m.add_argument("--api-token", default=os.environ.get("NETADAPT_API_TOKEN"),
                   help="the server's API token (default: $NETADAPT_API_TOKEN)")
    g = p.add_argument_group("NetAdapt schedule")
    g.add_argument("--init-reduction-ratio", type=float, default=0.025)
    g.add_argument("--decay", type=float, default=0.96)
    g.add_argument("--max-iterations", type=int, default=100)
    g.add_argument("--channel-step", type=int, default=8)
    g.add_argument("--saliency", choices=("l1", "l2", "apoz"), default="l1")
    g.add_argument("--selection", choices=("max_accuracy", "min_drop_per_cost"), default="max_accuracy")
    t = p.add_argument_group("fine-tuning")
    t.add_argument("--short-term-steps", type=int, default=100)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--holdout", type=float, default=0.15, help="fraction (<1) or count of training samples")
    t.add_argument("--long-term-epochs", type=int, default=10)
    t.add_argument("--long-term-learning-rate", type=float, default=3e-4)
    t.add_argument("--augment", action="store_true")
    t.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=run)


def request_from_args(args: argparse.Namespace):
    from service.netadapt import NetAdaptConfig
    from service.pruning.offline_run import OfflineRunRequest, RunInputError
    from service.pruning.options import TrainingOptions

    try:
        engine = NetAdaptConfig(
            budget=args.budget,
            budget_kind="absolute" if args.absolute_budget else "ratio",
            init_reduction_ratio=args.init_reduction_ratio,
            decay=args.decay,
            max_iterations=args.max_iterations,
            channel_step=args.channel_step,
            saliency=args.saliency,
            selection=args.selection,
        )
        options = TrainingOptions(
            short_term_steps=args.short_term_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            holdout=args.holdout,
            long_term_epochs=args.long_term_epochs,
            long_term_learning_rate=args.long_term_learning_rate,
            augment=args.augment,
            seed=args.seed,
        )
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
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from service.cli.progress_view import RunProgressView, print_summary
    from service.pruning.offline_run import run_offline

    request = request_from_args(args)
    console = Console()
    with RunProgressView(console) as view:
        report = run_offline(request, progress=view.update)
    print_summary(console, report, args.out)
    return 0
