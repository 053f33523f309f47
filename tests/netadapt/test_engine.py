import json

import pytest

from service.netadapt import (
    SCHEMA_VERSION,
    JsonFileStore,
    NetAdaptConfig,
    ProposalResult,
    RunMismatchError,
)
from tests.netadapt.stubs import StubRun, baseline_ref, chain_macs, linear_cost

# Cost 2a + b + 4c: baseline {a: 32, b: 64, c: 16} costs 192, the budget (0.5) is 96.
WEIGHTED = linear_cost({"a": 2, "b": 1, "c": 4})
STEPS = dict(init_reduction_ratio=0.1, decay=0.8)


def kept(report):
    return [(it["kept"]["group"], it["channels"]) for it in report["iterations"]]


def test_max_accuracy_history():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    report = run.run()

    assert report["baseline"] == {
        "groups": {"a": 32, "b": 64, "c": 16},
        "cost": 192.0,
        "estimated_cost": 192.0,
        "cost_source": "estimated",
        "holdout_accuracy": 0.9,
        "budget_cost": 96.0,
        "waypoint_costs": [],
    }
    assert kept(report) == [
        ("b", {"a": 32, "b": 40, "c": 16}),
        ("a", {"a": 24, "b": 40, "c": 16}),
        ("b", {"a": 24, "b": 24, "c": 16}),
        # a and b tie on accuracy and cost here; the group id decides.
        ("a", {"a": 16, "b": 24, "c": 16}),
        ("b", {"a": 16, "b": 16, "c": 16}),
        ("b", {"a": 16, "b": 8, "c": 16}),
        ("c", {"a": 16, "b": 8, "c": 8}),
    ]
    targets = [it["target"] for it in report["iterations"]]
    # step_i = 19.2 * 0.8**i below the previous iteration's cost
    assert targets == pytest.approx(
        [172.8, 152.64, 139.712, 126.1696, 112.13568, 105.708544, 98.9668352]
    )
    assert [it["kept"]["cost"] for it in report["iterations"]] == [
        168.0, 152.0, 136.0, 120.0, 112.0, 104.0, 72.0,
    ]
    assert all(it["step_halvings"] == 0 for it in report["iterations"])

    first = report["iterations"][0]
    assert [(p["group"], p["channels"], p["estimated_cost"]) for p in first["proposals"]] == [
        ("a", 16, 160.0),
        ("b", 40, 168.0),
        ("c", 8, 160.0),
    ]
    b = first["proposals"][1]
    assert b["holdout_accuracy"] == pytest.approx(0.871875)
    assert b["accuracy_drop"] == pytest.approx(0.028125)
    assert b["drop_per_cost"] == pytest.approx(0.028125 / 24)
    assert b["finetune_seconds"] == 5.0
    assert b["model"] == "it0-b:a=32,b=40,c=16" == first["artifact"]
    # Stub saliency is (i*5) % 7: scores 6..3 cover 36 of the 64 channels; the other 4 kept
    # are the lowest-index channels scoring 2 (ties go to the lower index).
    score = [(i * 5) % 7 for i in range(64)]
    twos = [i for i in range(64) if score[i] == 2][:4]
    assert b["keep"] == sorted([i for i in range(64) if score[i] >= 3] + twos)
    assert len(b["keep"]) == 40
    assert first["kept"]["cost_source"] == "estimated"
    # Last iteration: only a and c could still shrink (b is at the floor of 8 channels).
    assert [p["group"] for p in report["iterations"][-1]["proposals"]] == ["a", "c"]

    assert report["stop"]["reason"] == "budget_met"
    assert report["final"]["model"] == "final:a=16,b=8,c=8"
    assert report["summary"]["final_cost"] == 72.0
    assert report["summary"]["iterations"] == 7
    assert run.network.finalize_calls == ["it6-c:a=16,b=8,c=8"]
    # One saliency call per iteration, always on the current model and with the method.
    assert run.network.saliency_calls[0] == (baseline_ref(), "l1")
    assert len(run.network.saliency_calls) == 7
    assert run.network.evaluate_calls == [baseline_ref()]


def test_min_drop_per_cost_chooses_differently():
    run = StubRun(NetAdaptConfig(budget=0.5, selection="min_drop_per_cost", **STEPS), WEIGHTED)
    report = run.run()
    assert kept(report) == [
        ("b", {"a": 32, "b": 40, "c": 16}),
        ("a", {"a": 24, "b": 40, "c": 16}),
        # max_accuracy keeps b here (0.797 vs c's 0.759), but c removes twice the cost.
        ("c", {"a": 24, "b": 40, "c": 8}),
        ("b", {"a": 24, "b": 24, "c": 8}),
        ("b", {"a": 24, "b": 16, "c": 8}),
    ]
    third = report["iterations"][2]["proposals"]
    per_cost = [p["drop_per_cost"] for p in third]
    assert per_cost == pytest.approx([0.075 / 16, 0.05 / 16, 0.0875 / 32])
    assert report["summary"]["final_cost"] == 96.0
    assert report["stop"]["reason"] == "budget_met"


def test_last_iteration_aims_at_the_budget_not_below_it():
    # Step 38.4 would aim at 153.6; the budget is 172.8.
    run = StubRun(NetAdaptConfig(budget=0.9, init_reduction_ratio=0.2), WEIGHTED)
    report = run.run()
    (only,) = report["iterations"]
    assert only["target"] == pytest.approx(172.8)
    # At 153.6 c could not be proposed and b would have to go to 24.
    proposed = [(p["group"], p["channels"]) for p in only["proposals"]]
    assert proposed == [("a", 16), ("b", 40), ("c", 8)]
    assert only["kept"]["group"] == "b" and only["kept"]["cost"] == 168.0
    assert report["stop"]["reason"] == "budget_met"


HALVING_GROUPS = {"a": 16, "b": 16}
HALVING_SENSITIVITY = {"a": 0.1, "b": 0.2}


def halving_run(**settings):
    cfg = NetAdaptConfig(**{"budget": 0.25, "init_reduction_ratio": 0.75, "decay": 1.0, **settings})
    return StubRun(cfg, linear_cost({"a": 1, "b": 1}), HALVING_GROUPS, HALVING_SENSITIVITY)


def test_step_is_halved_until_a_group_can_meet_the_target():
    # Cost a + b = 32, step 24, budget 8. Shrinking any group by 8 saves only 8.
    report = halving_run().run()
    first, second = report["iterations"]
    assert [(a["step"], a["target"]) for a in first["attempts"]] == [(24, 8), (12, 20), (6, 26)]
    assert first["step_halvings"] == 2 and first["initial_step"] == 24 and first["step"] == 6
    assert [a["proposable"] for a in first["attempts"]] == [[], [], ["a", "b"]]
    assert first["kept"]["group"] == "a" and first["channels"] == {"a": 8, "b": 16}
    assert second["step_halvings"] == 2 and second["target"] == 18
    assert second["channels"] == {"a": 8, "b": 8}

    # Both groups are at the floor; the budget of 8 is out of reach.
    stop = report["stop"]
    assert stop["reason"] == "no_proposal_meets_target"
    assert stop["iteration"] == 2
    attempts = [(a["step"], a["target"]) for a in stop["attempts"]]
    assert attempts == [(24, 8), (12, 8), (6, 10), (3, 13)]
    assert "no channel group can be shrunk" in stop["message"]
    assert "3 step halving(s)" in stop["message"]
    assert report["final"]["model"] == "final:a=8,b=8"


def test_too_few_halvings_stop_the_run():
    run = halving_run(max_step_halvings=1)
    report = run.run()
    assert report["iterations"] == []
    assert report["stop"]["reason"] == "no_proposal_meets_target"
    assert [(a["step"], a["target"]) for a in report["stop"]["attempts"]] == [(24, 8), (12, 20)]
    assert run.network.finalize_calls == [baseline_ref(HALVING_GROUPS)]
    assert run.network.saliency_calls == []


def test_halving_skips_probes_when_the_target_stays_at_the_budget():
    # Budget 22.4: the first two steps (24, 12) both aim at 22.4, which a=8 (24) misses.
    run = halving_run(budget=0.7)
    report = run.run()
    first = report["iterations"][0]
    attempts = [(a["target"], a["probes"]) for a in first["attempts"]]
    assert attempts == [(22.4, 2), (22.4, 0), (26, 2)]
    assert first["probes"] == 4
    one_each = [{"a": 8, "b": 16}, {"a": 16, "b": 8}]
    # baseline, the two probing rounds of iteration 0, then iteration 1's single round
    assert run.estimator.batches == [[{"a": 16, "b": 16}], one_each, one_each, [{"a": 8, "b": 8}]]
    recorded = sum(a["probes"] for it in report["iterations"] for a in it["attempts"])
    assert recorded + 1 == run.estimator.probes


def test_budget_already_met_stops_before_iteration_zero():
    run = StubRun(NetAdaptConfig(budget=1.0), WEIGHTED)
    report = run.run()
    assert report["iterations"] == []
    assert report["stop"]["reason"] == "budget_met"
    assert run.runner.calls == {}
    assert run.network.finalize_calls == [baseline_ref()]
    assert report["final"]["cost"] == 192.0


def test_absolute_budget():
    report = StubRun(NetAdaptConfig(budget=150, budget_kind="absolute", **STEPS), WEIGHTED).run()
    assert report["baseline"]["budget_cost"] == 150.0
    assert kept(report) == [
        ("b", {"a": 32, "b": 40, "c": 16}),
        ("a", {"a": 24, "b": 40, "c": 16}),
        ("b", {"a": 24, "b": 32, "c": 16}),
    ]
    # 152 - 12.288 would be below the budget, so the last target is the budget itself.
    assert report["iterations"][-1]["target"] == 150.0
    assert report["summary"]["final_cost"] == 144.0


def test_max_iterations():
    report = StubRun(NetAdaptConfig(budget=0.5, max_iterations=2, **STEPS), WEIGHTED).run()
    assert report["stop"]["reason"] == "max_iterations"
    assert "raise max_iterations" in report["stop"]["message"]
    assert kept(report) == [
        ("b", {"a": 32, "b": 40, "c": 16}),
        ("a", {"a": 24, "b": 40, "c": 16}),
    ]
    assert report["final"]["model"] == "final:a=24,b=40,c=16"


def test_measured_costs_set_the_baseline_and_every_kept_cost():
    # The device measures half of what the table says: budgets are fractions of the measured
    # baseline, candidates are priced relative to the measured current model (the bias
    # cancels), so the run takes the same steps as an unbiased one, in measured units.
    unbiased = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED).run()
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED, measured_scale=0.5)
    report = run.run()
    assert report["baseline"]["cost"] == 96.0 and report["baseline"]["cost_source"] == "measured"
    assert report["baseline"]["estimated_cost"] == 192.0
    assert report["baseline"]["budget_cost"] == 48.0
    assert kept(report) == kept(unbiased)
    first = report["iterations"][0]
    assert first["kept"]["cost"] == 84.0 and first["kept"]["cost_source"] == "measured"
    assert first["kept"]["estimated_cost"] == 84.0  # anchored: 96 * 168 / 192
    assert first["landing"]["prediction_error"] == 0.0 and first["landing"]["shaved"] == []
    assert [it["kept"]["cost"] for it in report["iterations"]] == [
        it["kept"]["cost"] / 2 for it in unbiased["iterations"]
    ]
    assert run.estimator.observed[:2] == [
        ({"a": 32, "b": 64, "c": 16}, baseline_ref()),
        ({"a": 32, "b": 40, "c": 16}, "it0-b:a=32,b=40,c=16"),
    ]


def test_progress_events():
    run = StubRun(NetAdaptConfig(budget=0.9, init_reduction_ratio=0.2), WEIGHTED)
    run.run()
    assert [e["event"] for e in run.events] == [
        "baseline_measured",
        "iteration_started",
        "proposal_finished",
        "proposal_finished",
        "proposal_finished",
        "iteration_finished",
        "finalizing",
        "finished",
    ]
    started = run.events[1]
    assert started["iteration"] == 0 and started["proposals_total"] == 3
    assert started["target"] == pytest.approx(172.8) and started["resumed"] is False
    finished = [e for e in run.events if e["event"] == "proposal_finished"]
    assert [e["proposals_done"] for e in finished] == [1, 2, 3]
    assert [e["best_accuracy"] for e in finished] == pytest.approx([0.8, 0.871875, 0.871875])
    assert run.events[-3]["kept_group"] == "b" and run.events[-3]["cost"] == 168.0
    assert run.events[-1]["stop_reason"] == "budget_met"
    for event in run.events:
        json.dumps(event)


def test_step_halved_events():
    run = halving_run(max_step_halvings=1)
    run.run()
    assert [e for e in run.events if e["event"] == "step_halved"] == [
        {"event": "step_halved", "iteration": 0, "step": 12, "target": 8}
    ]


def test_state_is_json_and_round_trips_through_a_file(tmp_path):
    cfg = NetAdaptConfig(budget=0.5, **STEPS)
    in_memory = StubRun(cfg, WEIGHTED).run()
    path = tmp_path / "state.json"
    on_disk = StubRun(cfg, WEIGHTED, store=JsonFileStore(path)).run()
    assert on_disk == in_memory
    assert json.loads(json.dumps(in_memory)) == in_memory
    state = json.loads(path.read_text())
    assert state["schema_version"] == SCHEMA_VERSION
    assert state["pending"] is None and state["final"]["model"] == in_memory["final"]["model"]
    assert state["iterations"] == in_memory["iterations"]


def test_finished_run_is_not_redone():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    first = run.run()
    saves = run.store.saves
    again = run.run()
    assert again == first
    assert run.store.saves == saves
    assert len(run.network.finalize_calls) == 1
    assert sum(run.runner.calls.values()) == sum(len(it["proposals"]) for it in first["iterations"])


def test_store_with_different_settings_is_refused():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    run.run()
    message = r"different settings \(budget: stored 0.5, given 0.4"
    with pytest.raises(RunMismatchError, match=message):
        run.engine(config=NetAdaptConfig(budget=0.4, **STEPS))
    other = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED, groups={"a": 8, "b": 8, "c": 8})
    with pytest.raises(RunMismatchError, match="baseline_model"):
        other.engine(store=run.store)


def test_unknown_schema_version_is_refused():
    run = StubRun(NetAdaptConfig(budget=0.5), WEIGHTED)
    run.store.save({"schema_version": 99})
    with pytest.raises(RunMismatchError, match="schema version 99"):
        run.engine()


class DroppingExecutor:
    def __init__(self, keep: int, run_one) -> None:
        self.keep, self.run_one = keep, run_one

    def run(self, specs, on_result):
        for spec in specs[: self.keep]:
            on_result(self.run_one(spec))


def test_executor_that_loses_results_is_an_error():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    with pytest.raises(RuntimeError, match=r"without results for iteration 0, group\(s\) \['c'\]"):
        run.engine(executor=DroppingExecutor(2, run.runner)).run()


class ForeignResultExecutor:
    def run(self, specs, on_result):
        on_result(ProposalResult(5, "zz", "m", 0.5, 1.0))


def test_result_for_an_unplanned_proposal_is_an_error():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    with pytest.raises(ValueError, match="iteration 5, group 'zz'"):
        run.engine(executor=ForeignResultExecutor()).run()


class TwiceExecutor:
    def __init__(self, run_one) -> None:
        self.run_one = run_one

    def run(self, specs, on_result):
        for spec in specs:
            first = self.run_one(spec)
            on_result(first)
            on_result(ProposalResult(first.iteration, first.group, "dup", 0.0, 9.0))


def test_duplicate_results_keep_the_first():
    cfg = NetAdaptConfig(budget=0.5, **STEPS)
    expected = StubRun(cfg, WEIGHTED).run()
    run = StubRun(cfg, WEIGHTED)
    assert run.engine(executor=TwiceExecutor(run.runner)).run() == expected


def test_saliency_of_the_wrong_length_is_an_error():
    run = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED)
    run.network.saliency = lambda model, method: {"a": [1.0], "b": [1.0] * 64, "c": [1.0] * 16}
    with pytest.raises(ValueError, match="group 'a' has 1 scores but the group has 32"):
        run.run()


def test_chain_cost_run_reaches_its_budget():
    run = StubRun(NetAdaptConfig(budget=0.5, init_reduction_ratio=0.1, decay=0.9), chain_macs)
    report = run.run()
    assert report["stop"]["reason"] == "budget_met"
    assert report["summary"]["final_cost"] <= report["baseline"]["budget_cost"]
    costs = [report["baseline"]["cost"]] + [it["kept"]["cost"] for it in report["iterations"]]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == len(costs)
    for it in report["iterations"]:
        assert it["kept"]["cost"] <= it["target"]


# Cost of one channel_step (8) of each group under WEIGHTED (2a + b + 4c).
WEIGHTED_STEP_COST = {"a": 16.0, "b": 8.0, "c": 32.0}


def test_waypoints_are_landed_on_one_at_a_time():
    run = StubRun(NetAdaptConfig(budget=0.5, waypoints=[0.6, 0.75], **STEPS), WEIGHTED)
    report = run.run()
    assert report["baseline"]["waypoint_costs"] == [144.0, pytest.approx(115.2)]
    iterations = report["iterations"]
    landed = [(it["index"], it["waypoint"]) for it in iterations if it["waypoint"] is not None]
    assert [w for _, w in landed] == [0.75, 0.6]
    assert [it["kept"]["cost"] for it in iterations] == [168, 152, 144, 128, 120, 104, 72]

    for (index, _), cost in zip(landed, report["baseline"]["waypoint_costs"]):
        it = iterations[index]
        # Aimed exactly at the waypoint, from above it: the first model under it, and at
        # most one channel step of the pruned group below it.
        assert it["target"] == cost
        assert it["parent"]["cost"] > cost
        assert cost - WEIGHTED_STEP_COST[it["kept"]["group"]] < it["kept"]["cost"] <= cost
        # Every earlier iteration stayed above it.
        assert all(earlier["kept"]["cost"] > cost for earlier in iterations[:index])

    # The budget is still where the run ends.
    assert report["stop"]["reason"] == "budget_met"
    assert report["summary"]["final_cost"] <= 96.0

    summary = report["summary"]["waypoints"]
    assert [(w["iteration"], w["waypoint"]) for w in summary] == landed
    assert [w["model"] for w in summary] == [iterations[i]["artifact"] for i, _ in landed]
    assert [w["reached_cost"] for w in summary] == [iterations[i]["kept"]["cost"] for i, _ in landed]

    measured = run.events[0]
    assert measured["event"] == "baseline_measured"
    assert measured["waypoint_costs"] == report["baseline"]["waypoint_costs"]
    finished = [e["waypoint"] for e in run.events if e["event"] == "iteration_finished"]
    assert finished == [it["waypoint"] for it in iterations]


def test_without_waypoints_nothing_changes():
    report = StubRun(NetAdaptConfig(budget=0.5, **STEPS), WEIGHTED).run()
    assert all(it["waypoint"] is None for it in report["iterations"])
    assert report["summary"]["waypoints"] == []


def test_absolute_waypoints():
    cfg = NetAdaptConfig(budget=100, budget_kind="absolute", waypoints=[150], **STEPS)
    report = StubRun(cfg, WEIGHTED).run()
    assert report["baseline"]["waypoint_costs"] == [150.0]
    (entry,) = report["summary"]["waypoints"]
    it = report["iterations"][entry["iteration"]]
    assert (it["target"], it["waypoint"]) == (150.0, 150.0)
    assert 150.0 - WEIGHTED_STEP_COST[it["kept"]["group"]] < it["kept"]["cost"] <= 150.0


def test_halving_at_a_waypoint_keeps_the_target_and_skips_probes():
    # Cost a + b = 32; waypoint 0.7 is 22.4, which one group at 8 channels (24) misses.
    report = halving_run(waypoints=[0.7]).run()
    first, second = report["iterations"][:2]
    assert [(a["target"], a["probes"]) for a in first["attempts"]] == [(22.4, 2), (22.4, 0), (26, 2)]
    assert first["waypoint"] is None and first["kept"]["cost"] == 24
    # The next iteration aims at the waypoint again, and lands on it.
    assert second["target"] == 22.4 and second["waypoint"] == 0.7
    assert second["kept"]["cost"] == 16


def test_checkpoint_from_before_waypoints_resumes():
    cfg = NetAdaptConfig(budget=0.5, **STEPS)
    expected = StubRun(cfg, WEIGHTED).run()
    run = StubRun(cfg, WEIGHTED)
    # Dies mid-iteration, leaving a plan behind; then made to look like an older checkpoint.
    with pytest.raises(RuntimeError):
        run.engine(executor=DroppingExecutor(1, run.runner)).run()
    state = run.store.load()
    del state["baseline"]["waypoint_costs"]
    del state["pending"]["waypoint"]
    run.store.save(state)
    report = run.run()
    assert kept(report) == kept(expected)
    assert report["summary"]["waypoints"] == []
    assert report["summary"]["final_cost"] == expected["summary"]["final_cost"]
