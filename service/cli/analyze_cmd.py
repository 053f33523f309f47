"""`netadapt analyze MODEL`: channel groups, MACs and parameters of a .keras model."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="show a model's prunable channel groups and costs")
    p.add_argument("model", type=Path, help="a .keras model file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from service.pruning.offline_run import load_keras_file
    from service.surgery import analyze, count_macs, count_params

    model = load_keras_file(args.model)
    graph = analyze(model)
    table = Table(title=f"{model.name}: channel groups")
    for col in ("group", "channels", "members", "prunable"):
        table.add_column(col)
    for g in graph.groups:
        if not g.members:
            continue
        table.add_row(g.id, str(g.channels), ", ".join(g.members), "yes" if g.prunable else f"no ({g.frozen_reason})")
    console = Console()
    console.print(table)
    console.print(f"MACs {count_macs(graph):,}   params {count_params(graph):,}")
    return 0
