"""Candidates priced relative to measurements, kept models landed at or under their
target, prescreened proposals, and the per-group cap, on the stub network."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest

from service.netadapt import NetAdaptConfig
from service.netadapt.anchoring import AIM_WINDOW, aim_below
from service.netadapt.engine import shaving_can_close_gap, smallest_closing_step
from service.netadapt.filter_count import candidate_counts
from service.netadapt.selection import ProposalOutcome, accuracy_tolerance, select_proposal
from tests.netadapt.stubs import StubRun, linear_cost

WEIGHTED = linear_cost({"a": 2, "b": 1, "c": 4})  # baseline {32, 64, 16}: 192
STEPS = dict(init_reduction_ratio=0.1, decay=0.8)


def kept_within_targets(report) -> list[tuple[float, float]]:
    return [(it["kept"]["cost"], it["target"]) for it in report["iterations"]]


def test_a_table_biased_by_a_scale_lands_exactly_on_every_target():
    """A device 1.37x slower than its table (and so every candidate): anchored estimates
    are exact, so each kept model measures what the engine predicted, waypoints included,
    and no iteration is spent shaving."""
    cfg = NetAdaptConfig(budget=0.5, waypoints=(0.75, 0.6), **STEPS)
    unbiased = StubRun(cfg, WEIGHTED).run()
    run = StubRun(cfg, WEIGHTED, device=lambda c: 1.37 * WEIGHTED(c))
    report = run.run()
    assert [it["channels"] for it in report["iterations"]] == [
        it["channels"] for it in unbiased["iterations"]
    ]
    for it in report["iterations"]:
        assert it["kept"]["cost"] == pytest.approx(it["landing"]["predicted"], rel=1e-12)
        assert it["kept"]["cost"] <= it["target"] * (1 + 1e-12)
        assert it["landing"]["shaved"] == []
    landed = [it["waypoint"] for it in report["iterations"] if it["waypoint"] is not None]
    assert landed == [0.75, 0.6]
    # Each waypoint is landed by the first iteration that aimed at it.
    aimed = [it["index"] for it in report["iterations"] if it["target"] in report["baseline"]["waypoint_costs"]]
    assert aimed == [
        it["index"] for it in report["iterations"] if it["waypoint"] is not None
    ]


def offset_device(config: Mapping[str, int]) -> float:
    """Measured = table + a fixed overhead: the ratio of two estimates is biased (the
    overhead does not shrink with the model), so predictions err low."""
    return WEIGHTED(config) + 40.0


def test_an_affine_bias_is_learned_and_every_kept_model_lands_at_or_under_its_target():
    run = StubRun(NetAdaptConfig(budget=0.6, **STEPS), WEIGHTED, device=offset_device)
    report = run.run()
    errors = [it["landing"]["prediction_error"] for it in report["iterations"]]
    assert errors[0] > 0  # the first prediction is too low ...
    for cost, target in kept_within_targets(report):
        assert cost <= target  # ... but no kept model is above its target
    # Later iterations aim below the target by the error seen so far.
    later = report["iterations"][1:]
    assert later and all(it["aim"] < it["target"] for it in later)
    assert report["stop"]["reason"] == "budget_met"
    # Every recorded kept cost is a whole-model measurement.
    assert all(it["kept"]["cost_source"] == "measured" for it in report["iterations"])
    assert all(
        it["kept"]["cost"] == offset_device(it["channels"]) for it in report["iterations"]
    )


def test_a_kept_model_above_its_target_is_shaved_by_channel_steps():
    # On the device, b's channels save 0.4 per channel where the table says 1: the first
    # kept model (b cut to 40) misses its target, and b loses channel steps until it
    # measures at or under it (40 -> 32 -> 24 -> 16: 172.8 against a target of 172.8).
    def device(config: Mapping[str, int]) -> float:
        return WEIGHTED(config) + 0.6 * (64 - config["b"])

    run = StubRun(NetAdaptConfig(budget=0.8, max_iterations=1, **STEPS), WEIGHTED, device=device)
    report = run.run()
    first = report["iterations"][0]
    assert first["landing"]["measured"] > first["target"]
    shaved = first["landing"]["shaved"]
    assert [s["channels"] for s in shaved] == [32, 24, 16]
    assert first["kept"]["cost"] == shaved[-1]["cost"] <= first["target"]
    assert first["channels"]["b"] == shaved[-1]["channels"]
    assert first["kept"]["model"].startswith("it0-shrunk:")
    # The shaved model's accuracy is what the network measured for it, not the proposal's.
    assert first["kept"]["holdout_accuracy"] == shaved[-1]["holdout_accuracy"]
    assert run.network.commit_calls == [(0, "b")]


def test_analytic_runs_are_not_anchored():
    report = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED).run()
    assert all(it["landing"] is None and it["aim"] == it["target"] for it in report["iterations"])


def test_aim_uses_the_median_of_recent_errors_and_never_aims_above_the_target():
    assert aim_below(100.0, []) == 100.0
    assert aim_below(100.0, [-0.2, -0.1]) == 100.0
    assert aim_below(100.0, [0.02, 0.5, 0.04]) == pytest.approx(100.0 / 1.04)
    old = [0.9] * 10
    assert aim_below(100.0, old + [0.0] * AIM_WINDOW) == 100.0  # only the recent ones count


def test_prescreen_fine_tunes_only_the_best_k():
    run = StubRun(NetAdaptConfig(budget=0.5, prescreen=1, **STEPS), WEIGHTED)
    report = run.run()
    for it in report["iterations"]:
        finetuned = [p for p in it["proposals"] if p["finetuned"]]
        assert len(finetuned) == 1 and it["finetune_groups"] == [finetuned[0]["group"]]
        assert all(p["prescreen"] is not None for p in it["proposals"])
        best = max(it["proposals"], key=lambda p: p["prescreen"]["holdout_accuracy"])
        assert finetuned[0]["prescreen"]["holdout_accuracy"] == best["prescreen"]["holdout_accuracy"]
        assert it["kept"]["group"] == finetuned[0]["group"]
    # Fine-tunes: one per iteration; prescreens: every proposal of every iteration.
    stages = run.runner.stages
    assert stages["finetune"] == len(report["iterations"])
    assert stages["prescreen"] == sum(len(it["proposals"]) for it in report["iterations"])
    prescreened = [e for e in run.events if e["event"] == "proposals_prescreened"]
    assert len(prescreened) == len(report["iterations"])


def test_prescreen_of_more_than_the_proposals_fine_tunes_them_all():
    run = StubRun(NetAdaptConfig(budget=0.5, prescreen=5, **STEPS), WEIGHTED)
    report = run.run()
    assert run.runner.stages["prescreen"] == 0
    assert all(all(p["finetuned"] for p in it["proposals"]) for it in report["iterations"])


def test_group_cap_limits_each_proposal_but_always_allows_one_step():
    assert candidate_counts(64, 8, 0.25) == [48, 56]
    assert candidate_counts(16, 8, 0.25) == [8]  # one step although it removes half
    assert candidate_counts(64, 8, 1.0) == [8, 16, 24, 32, 40, 48, 56]
    run = StubRun(NetAdaptConfig(budget=0.5, max_group_reduction=0.25, init_reduction_ratio=0.3), WEIGHTED)
    report = run.run()
    for it in report["iterations"]:
        parent = it["parent"]
        for proposal in it["proposals"]:
            before = (report["iterations"][it["index"] - 1]["channels"] if it["index"] else report["baseline"]["groups"])[proposal["group"]]
            assert proposal["channels"] >= min(before - 8, 0.75 * before)
        assert parent["cost"] > it["kept"]["cost"]


def outcome(group: str, accuracy: float, loss: float, samples: int | None = 400) -> ProposalOutcome:
    return ProposalOutcome(group, accuracy, 1.0, loss, samples)


def test_accuracies_within_a_standard_error_are_ranked_by_loss():
    # 400 holdout images at 80%: one standard error is 2 points.
    results = [outcome("a", 0.80, 0.9), outcome("b", 0.79, 0.6), outcome("c", 0.70, 0.1)]
    assert accuracy_tolerance(0.80, results) == pytest.approx(0.02)
    assert select_proposal(results, "max_accuracy", 0.85, 2.0).group == "b"
    # Without sample counts, only equal accuracies tie (the paper's rule).
    plain = [outcome(r.group, r.holdout_accuracy, r.holdout_loss, None) for r in results]
    assert select_proposal(plain, "max_accuracy", 0.85, 2.0).group == "a"


def test_shaving_stops_where_the_table_says_the_steps_left_cannot_close_the_gap():
    assert shaving_can_close_gap(103.0, 100.0, 100.0, 99.0, shaves_left=3)  # 3% of 2.9%
    assert not shaving_can_close_gap(103.0, 100.0, 100.0, 99.5, shaves_left=3)  # 1.5%
    assert not shaving_can_close_gap(103.0, 100.0, 100.0, 99.0, shaves_left=2)


def test_a_gap_no_channel_step_can_close_is_not_chased_by_shaving():
    # A fixed part the channels do not touch (input, classifier): one channel step of any
    # group is at most 2.7% of the cost. The device measures every pruned model 10% above
    # the table, as a noisy or misread device would: three steps cannot close that, so the
    # kept proposal is not cut further, and the landing says why.
    def table(config: Mapping[str, int]) -> float:
        return WEIGHTED(config) + 1000.0

    def device(config: Mapping[str, int]) -> float:
        baseline = config == {"a": 32, "b": 64, "c": 16}
        return table(config) * (1.0 if baseline else 1.10)

    cfg = NetAdaptConfig(budget=0.9, max_iterations=1, init_reduction_ratio=0.02, decay=1.0)
    report = StubRun(cfg, table, device=device).run()
    first = report["iterations"][0]
    assert first["landing"]["measured"] > first["target"]
    assert first["landing"]["shaved"] == []
    assert "the gap is" in first["landing"]["shaving_stopped"]
    kept = next(p for p in first["proposals"] if p["group"] == first["kept"]["group"])
    assert first["channels"][kept["group"]] == kept["channels"]


def test_the_smallest_single_step_that_closes_the_gap_is_chosen():
    # A gap of 2% of 100: b's step removes 1.5% (too little), a's 5% and c's 2.5%.
    assert smallest_closing_step(102.0, 99.96, 100.0, {"a": 95.0, "b": 98.5, "c": 97.5}) == "c"
    assert smallest_closing_step(110.0, 99.0, 100.0, {"a": 95.0, "b": 98.5, "c": 97.5}) is None


def test_a_kept_group_that_cannot_shrink_further_lands_by_another_groups_step():
    # c is the cheapest group to prune and is cut 16 -> 8 (its last channel step), but on
    # the device each of c's channels saves 0.5 instead of 4: the kept model measures
    # 188 against a target of 172.8. c has no step left, so one step of a (the smallest
    # single step that closes the 8.1% gap by the table: b's is 4.3%) lands it at 172,
    # in the same iteration.
    def device(config: Mapping[str, int]) -> float:
        return WEIGHTED(config) + 3.5 * (16 - config["c"])

    cfg = NetAdaptConfig(budget=0.8, max_iterations=1, **STEPS)
    report = StubRun(cfg, WEIGHTED, sensitivity={"a": 0.4, "b": 0.4, "c": 0.01}, device=device).run()
    first = report["iterations"][0]
    assert first["kept"]["group"] == "c" and first["landing"]["measured"] == 188.0
    assert [(s["group"], s["channels"]) for s in first["landing"]["shaved"]] == [("a", 24)]
    assert first["kept"]["cost"] == 172.0 <= first["target"]
    assert first["channels"] == {"a": 24, "b": 64, "c": 8}
    assert "shaving_stopped" not in first["landing"]


def tiled_cost(tiled: Sequence[str], per_channel: Mapping[str, float]) -> Callable[[Mapping[str, int]], float]:
    """A cost where the `tiled` groups cost in tiles of 32 channels, as device latency falls
    in steps (a layer at 20, 24 or 32 channels can cost the same): their only cheaper count
    cuts far past a target; the other groups cost per channel."""

    def cost(config: Mapping[str, int]) -> float:
        tiles = sum(-(-config[group] // 32) for group in tiled)
        return 32.0 * tiles + sum(weight * config[group] for group, weight in per_channel.items())

    return cost


stepped_cost = tiled_cost(["b"], {"a": 2.0, "c": 4.0})


def test_a_tied_proposal_landing_near_the_target_is_kept_over_one_cutting_far_past_it():
    free_ab = {"a": 0.0, "b": 0.0, "c": 0.35}  # pruning a or b costs no accuracy: they tie
    config = dict(budget=0.5, init_reduction_ratio=0.1, channel_step=1, max_iterations=1)
    runs = {
        band: StubRun(NetAdaptConfig(landing_band=band, **config), stepped_cost, sensitivity=free_ab).run()
        for band in (0.0, 0.03)
    }
    target = 0.9 * 192.0
    for band, report in runs.items():
        (it,) = report["iterations"]
        assert it["target"] == pytest.approx(target)
        costs = {p["group"]: p["estimated_cost"] for p in it["proposals"]}
        assert costs["b"] == 160.0 and target - 3.0 < costs["a"] <= target  # b cuts 6.7% past
        assert it["kept"]["group"] == ("b" if band == 0.0 else "a")
        if band:
            assert it["kept"]["cost"] >= target - band * 192.0


def test_prescreen_gives_its_last_place_to_a_proposal_landing_in_the_band():
    # All three groups prune for free, so the prescreen ranks them by name: a, b, c. With
    # prescreen 2, a and b would be fine-tuned, both 3.3% of the baseline past the target;
    # the band hands b's place to c, which lands within it and is kept.
    free = {"a": 0.0, "b": 0.0, "c": 0.0}
    groups = {"a": 64, "b": 64, "c": 64}
    config = dict(budget=0.5, init_reduction_ratio=0.05, channel_step=1, max_iterations=1, prescreen=2)
    runs = {
        band: StubRun(NetAdaptConfig(landing_band=band, **config), tiled_cost(["a", "b"], {"c": 4.0}), groups=groups, sensitivity=free)
        for band in (0.0, 0.03)
    }
    reports = {band: run.run() for band, run in runs.items()}
    target = 0.95 * 384.0
    for band, report in reports.items():
        (it,) = report["iterations"]
        costs = {p["group"]: p["estimated_cost"] for p in it["proposals"]}
        assert costs["a"] == costs["b"] == 352.0 < target - 0.03 * 384.0 < costs["c"] <= target
        finetuned = sorted(p["group"] for p in it["proposals"] if p.get("finetuned"))
        assert finetuned == (["a", "b"] if band == 0.0 else ["a", "c"])
        assert it["kept"]["group"] == ("a" if band == 0.0 else "c")
        assert runs[band].runner.stages["finetune"] == 2


def test_on_a_saturated_holdout_one_sample_less_still_ties():
    # 216 of 216 against 215 of 216: the standard error at 100% is 0, but one image is
    # chance; the lower loss wins. Two images less do not tie.
    results = [outcome("perfect", 1.0, 0.034, 216), outcome("calm", 215 / 216, 0.023, 216)]
    assert accuracy_tolerance(1.0, results) == pytest.approx(1 / 216)
    assert select_proposal(results, "max_accuracy", 1.0, 2.0).group == "calm"
    two_less = [results[0], outcome("calm", 214 / 216, 0.023, 216)]
    assert select_proposal(two_less, "max_accuracy", 1.0, 2.0).group == "perfect"
