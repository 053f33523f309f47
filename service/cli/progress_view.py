"""Live progress of a NetAdapt run in the terminal (plain lines when not a terminal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.netadapt.state import IterationRecord, RunSummary


def line_console() -> Console:
    """The CLI's console. Lines are never wrapped: rich wraps at 80 columns when the output
    is a file or a pipe, which would split a result line in a log; tables still fit."""
    return Console(soft_wrap=True)


class RunProgressView:
    """Renders the engine's progress events: iteration, target, proposals, best accuracy."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.budget: float | None = None
        self.baseline: float | None = None
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not self.live,
        )
        self.task = None

    def __enter__(self) -> "RunProgressView":
        self.progress.__enter__()
        self.task = self.progress.add_task("starting", total=None, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def say(self, text: str) -> None:
        # Printed lines survive in logs; the bar shows the same live in a terminal.
        self.console.print(text, highlight=False)

    def _ratio(self, cost: float) -> str:
        return f"{cost / self.baseline:.1%}" if self.baseline else f"{cost:,.0f}"

    def update(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "baseline_measured":
            self.baseline, self.budget = event["cost"], event["budget_cost"]
            accuracy = event.get("holdout_accuracy")  # None for a fit run: it reads no data
            self.say(
                f"baseline cost {format_cost(event['cost'])}, budget {format_cost(event['budget_cost'])} "
                f"({self._ratio(event['budget_cost'])})"
                + (f", holdout accuracy {accuracy:.4f}" if accuracy is not None else "")
            )
        elif kind == "fit_step":
            self.say(fit_step_text(event, self.baseline))
        elif kind == "iteration_started":
            self.progress.update(
                self.task,
                description=f"iteration {event['iteration']} target {self._ratio(event['target'])}",
                total=event["proposals_total"],
                completed=event["proposals_done"],
                detail="",
            )
        elif kind == "proposals_prescreened":
            chosen = event["finetune_groups"]
            self.progress.update(self.task, total=len(chosen), completed=0)
            self.say(
                f"iteration {event['iteration']}: prescreened {event['proposals_total']} proposals; "
                f"fine-tuning {', '.join(chosen)}"
            )
        elif kind == "step_halved":
            self.say(f"iteration {event['iteration']}: no layer met the target; step halved")
        elif kind == "proposal_finished":
            self.progress.update(
                self.task,
                completed=event["proposals_done"],
                detail=f"best holdout {event['best_accuracy']:.4f}",
            )
            if not self.live:
                self.say(
                    f"  iteration {event['iteration']} proposal {event['proposals_done']}/"
                    f"{event['proposals_total']}: {event['group']} holdout {event['holdout_accuracy']:.4f}"
                )
        elif kind == "iteration_finished":
            target = event.get("target")  # missing in events recorded before targets were
            shaved = event.get("shaved") or 0
            self.say(
                f"iteration {event['iteration']}: kept {event['kept_group']}, cost "
                f"{self._ratio(event['cost'])} of baseline"
                + (f" (target {self._ratio(target)})" if target is not None else "")
                + f", holdout {event['holdout_accuracy']:.4f}"
                + (f", {shaved} channel step(s) shaved to land under the target" if shaved else "")
                + (f" (waypoint {event['waypoint']:g})" if event.get("waypoint") is not None else "")
            )
        elif kind == "finalizing":
            self.progress.update(self.task, description="long-term fine-tune", total=None, detail="")
            self.say(f"stopped ({event['stop_reason']}) after {event['iterations']} iterations; long-term fine-tune ...")
        elif kind == "waiting_for_measurements":
            what = "whole-model measurement" if event["kind"] == "model" else "layer measurements"
            self.say(f"waiting for {event['jobs']} {what} from the device agent ...")
        elif kind == "finished":
            self.progress.update(self.task, description="done", detail="")


def format_cost(value: float) -> str:
    """Counts (MACs, instructions) as integers, milliseconds with their digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def fit_step_text(event: dict[str, Any], baseline: float | None, unit: str = "") -> str:
    """One measured channel step of a fit (a `fit_step` event)."""
    share = f" ({event['cost'] / baseline:.1%})" if baseline else ""
    return (f"step {event['step']}: {event['group']} {event['channels_before']} -> {event['channels']} "
            f"channels: {format_cost(event['cost'])}{' ' + unit if unit else ''}{share}")


def _accuracy(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else ""


def print_summary(console: Console, report: dict[str, Any], out_dir: Path | None = None) -> None:
    """The report (service.netadapt.build_report, and what the run added) as a table."""
    s: RunSummary = report["summary"]
    iterations: list[IterationRecord] = report["iterations"]
    base, final = s["baseline_cost"], s["final_cost"]
    assert base is not None and final is not None  # the report of a finished run
    method = "Fit" if report.get("method") == "fit" else "NetAdapt"
    table = Table(title=f"{method} ({report['metric']}) - {s['stop_reason']}")
    for col in ("", "cost", "of baseline", "holdout acc", "test acc"):
        table.add_column(col, justify="right")
    baseline_test = report.get("baseline_test_accuracy")
    table.add_row("baseline", format_cost(base), "100.0%", _accuracy(s["baseline_holdout_accuracy"]),
                  _accuracy(baseline_test))
    for it in iterations:
        kept = it["kept"]
        table.add_row(f"iter {it['index']}: {kept['group']} -> {kept['channels']}",
                      format_cost(kept['cost']), f"{kept['cost'] / base:.1%}",
                      f"{kept['holdout_accuracy']:.4f}", "")
    if method == "Fit":
        steps = report["fit"]["steps"][1:]
        table.add_row(f"fit: {len(steps)} channel step(s)", "", "", "", "")
    table.add_row("final", format_cost(final), f"{final / base:.1%}", _accuracy(s["final_holdout_accuracy"]),
                  _accuracy(s["test_accuracy"]))
    console.print(table)
    tflite_accuracy = report.get("tflite_test_accuracy")
    if tflite_accuracy is not None:
        console.print(f"final.tflite ({report.get('precision', 'float32')}, LiteRT) test accuracy {tflite_accuracy:.4f}")
    if out_dir is not None:
        console.print(f"wrote {out_dir}/history.json, {out_dir}/final.keras, {out_dir}/final.tflite")
