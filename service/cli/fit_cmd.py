"""`netadapt fit MODEL --metric latency_ms --budget 0.6 --out FITTED.keras`: measure a model
whole and cut channel steps until it is within the budget (service/pruning/fit_budget.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from service.cli.options import add_budget_arguments, add_measuring_server_arguments, budget_kind
from service.run_options import add_cli_arguments, cli_values, engine_option


def register(sub: argparse._SubParsersAction) -> None:
    from service.pruning.fit_budget import FIT_SALIENCY
    from service.pruning.fit_measures import FIT_METRICS

    p = sub.add_parser(
        "fit",
        help="shrink any .keras model until its measured cost is within a budget, one channel "
        "step at a time (no training)",
        description="Measure MODEL whole; while it costs more than the budget, remove one channel "
        "step from the layer group whose weakest channels matter least (filter norms divided by "
        "the layer's mean), and measure again. Writes the first model measured within the budget "
        "and a JSON record of every step next to it. No fine-tuning: fine-tune the result (or "
        "use `netadapt prune`) if accuracy matters.",
    )
    p.add_argument("model", type=Path, help="the .keras model to fit")
    p.add_argument("--metric", default="macs", choices=FIT_METRICS,
                   help="cost to fit; latency_ms and instructions are measured by a device agent "
                   "through --server")
    add_budget_arguments(p, "a fraction of the input model's measured cost (e.g. 0.6), or a cost in the "
                         "metric's unit with --absolute-budget")
    p.add_argument("--out", type=Path, required=True,
                   help="where to write the fitted model (.keras); its record goes next to it (.json)")
    add_cli_arguments(p, (engine_option("channel_step"),))
    p.add_argument("--saliency", choices=FIT_SALIENCY, default="l1",
                   help="which channels go first: the smallest filters by L1 or L2 norm (default l1)")
    add_measuring_server_arguments(p)
    p.set_defaults(handler=run)


def _out_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from service.cli.errors import CommandError

    out: Path = args.out
    if out.suffix != ".keras":
        raise CommandError(f"--out {out} must end in .keras (the record goes next to it as .json)")
    if out.is_dir():
        raise CommandError(f"--out {out} is a directory; give a file name ending in .keras")
    if out.exists() and args.model.exists() and out.resolve() == args.model.resolve():
        raise CommandError("--out is the input model; give another file name")
    return out, out.with_suffix(".json")


def _percent(cost: float, baseline: float) -> str:
    return f"{cost / baseline:.1%}" if baseline > 0 else "n/a"


class StepPrinter:
    """One line per measurement, as it happens."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.baseline = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        from service.cli.progress_view import fit_step_text, format_cost

        kind = event["event"]
        if kind == "baseline_measured":
            self.baseline = event["cost"]
            print(f"input model: {format_cost(event['cost'])} {self.metric}; budget "
                  f"{format_cost(event['budget_cost'])} {self.metric} "
                  f"({_percent(event['budget_cost'], self.baseline)} of the input)", flush=True)
        elif kind == "fit_step":
            print(fit_step_text(event, self.baseline, self.metric), flush=True)


def run(args: argparse.Namespace) -> int:
    from latency_tables.atomic_files import write_bytes_atomically
    from service.cli.progress_view import format_cost
    from service.pruning.fit_run import FitRequest, run_fit
    from service.training.export import save_keras

    out, record_path = _out_paths(args)
    request = FitRequest(
        model_path=args.model,
        metric=args.metric,
        budget=args.budget,
        budget_kind=budget_kind(args),
        saliency=args.saliency,
        server=args.server,
        device=args.device,
        api_token=args.api_token,
        **cli_values(args, (engine_option("channel_step"),)),
    )
    outcome = run_fit(request, progress=StepPrinter(args.metric))
    result = outcome.result
    out.parent.mkdir(parents=True, exist_ok=True)
    save_keras(result.model, out)
    write_bytes_atomically(record_path, json.dumps(outcome.record(), indent=2).encode())
    cuts = len(result.steps) - 1
    print(f"fitted: {format_cost(result.baseline_cost)} -> {format_cost(result.cost)} {args.metric} "
          f"({_percent(result.cost, result.baseline_cost)} of the input; budget {format_cost(result.budget)}), "
          f"{cuts} channel step(s), {len(result.steps)} measurement(s)")
    print(f"wrote {out} and {record_path}")
    return 0
