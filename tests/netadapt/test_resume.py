"""A run killed anywhere resumes to exactly the history of an uninterrupted run."""

import functools

import pytest

from service.netadapt import JsonFileStore, NetAdaptConfig, SerialExecutor
from tests.netadapt.stubs import StubRun, chain_macs, linear_cost


class Killed(Exception):
    """The process died."""


def chain_run(store=None):
    cfg = NetAdaptConfig(budget=0.5, init_reduction_ratio=0.1, decay=0.9)
    return StubRun(cfg, chain_macs, measured_scale=0.97, store=store)


def halving_run(store=None):
    # Every iteration needs two step halvings; ends with no_proposal_meets_target.
    cfg = NetAdaptConfig(
        budget=0.25, init_reduction_ratio=0.75, decay=1.0, selection="min_drop_per_cost"
    )
    cost = linear_cost({"a": 1, "b": 1})
    return StubRun(cfg, cost, {"a": 16, "b": 16}, {"a": 0.1, "b": 0.2}, store=store)


def waypoints_run(store=None):
    cfg = NetAdaptConfig(budget=0.5, init_reduction_ratio=0.1, decay=0.9, waypoints=(0.8, 0.65))
    return StubRun(cfg, chain_macs, measured_scale=0.97, store=store)


SCENARIOS = {"chain": chain_run, "halving": halving_run, "waypoints": waypoints_run}


@functools.cache
def reference(name):
    run = SCENARIOS[name]()
    report = run.run()
    return report, run.store.saves, dict(run.runner.calls)


class KillingStore:
    """Dies at the k-th save: before the write reaches the store, or just after it."""

    def __init__(self, inner, kill_at: int, after_write: bool) -> None:
        self.inner, self.kill_at, self.after_write = inner, kill_at, after_write
        self.saves = 0

    def load(self):
        return self.inner.load()

    def save(self, state):
        self.saves += 1
        if self.saves == self.kill_at and not self.after_write:
            raise Killed
        self.inner.save(state)
        if self.saves == self.kill_at:
            raise Killed


class KillingExecutor:
    """Dies after delivering the n-th result, before the next proposal starts."""

    def __init__(self, inner, kill_after: int) -> None:
        self.inner, self.kill_after = inner, kill_after
        self.delivered = 0

    def run(self, specs, on_result):
        def deliver(result):
            on_result(result)
            self.delivered += 1
            if self.delivered == self.kill_after:
                raise Killed

        self.inner.run(specs, deliver)


class DyingAfterRun:
    """Dies when the j-th batch of proposals has finished, before selection."""

    def __init__(self, inner, kill_at: int) -> None:
        self.inner, self.kill_at = inner, kill_at
        self.runs = 0

    def run(self, specs, on_result):
        self.inner.run(specs, on_result)
        self.runs += 1
        if self.runs == self.kill_at:
            raise Killed


def kill_then_resume(run, **engine_parts):
    with pytest.raises(Killed):
        run.engine(**engine_parts).run()
    return run.run()


def assert_same_run(name, run, report):
    expected, _, calls = reference(name)
    assert report == expected
    assert dict(run.runner.calls) == calls  # every proposal fine-tuned exactly once
    assert set(calls.values()) == {1}


@pytest.mark.parametrize("name", SCENARIOS)
def test_kill_just_after_each_checkpoint(name):
    expected, saves, _ = reference(name)
    # One checkpoint for the baseline, per iteration one for the plan, one per proposal and
    # one for the kept model, then the stop and the final model.
    per_iteration = [2 + len(it["proposals"]) for it in expected["iterations"]]
    assert saves == 1 + sum(per_iteration) + 2
    for k in range(1, saves + 1):
        run = SCENARIOS[name]()
        report = kill_then_resume(run, store=KillingStore(run.store, k, after_write=True))
        assert_same_run(name, run, report)
        assert len(run.network.finalize_calls) == 1, k


@pytest.mark.parametrize("name", SCENARIOS)
def test_kill_during_each_checkpoint_write(name):
    expected, saves, calls = reference(name)
    for k in range(1, saves + 1):
        run = SCENARIOS[name]()
        report = kill_then_resume(run, store=KillingStore(run.store, k, after_write=False))
        assert report == expected, k
        assert set(run.runner.calls) == set(calls)
        # Only a result whose checkpoint was lost is fine-tuned again.
        rerun = [key for key, count in run.runner.calls.items() if count > 1]
        assert len(rerun) <= 1 and all(run.runner.calls[key] == 2 for key in rerun), k
        # Losing the final checkpoint means finalizing again; nothing else does.
        assert len(run.network.finalize_calls) == (2 if k == saves else 1), k


@pytest.mark.parametrize("name", SCENARIOS)
def test_kill_between_proposals(name):
    _, _, calls = reference(name)
    for n in range(1, len(calls) + 1):
        run = SCENARIOS[name]()
        executor = KillingExecutor(SerialExecutor(run.runner), n)
        report = kill_then_resume(run, executor=executor)
        assert_same_run(name, run, report)


@pytest.mark.parametrize("name", SCENARIOS)
def test_kill_after_the_last_proposal_before_selection(name):
    expected, _, _ = reference(name)
    for j in range(1, len(expected["iterations"]) + 1):
        run = SCENARIOS[name]()
        report = kill_then_resume(run, executor=DyingAfterRun(SerialExecutor(run.runner), j))
        assert_same_run(name, run, report)
        resumed = [e for e in run.events if e["event"] == "iteration_started" and e["resumed"]]
        assert [(e["iteration"], e["proposals_done"]) for e in resumed] == [
            (j - 1, e["proposals_total"]) for e in resumed
        ]
        assert len(resumed) == 1


def test_kill_while_measuring_the_kept_model():
    expected, _, _ = reference("chain")
    for j in range(1, len(expected["iterations"]) + 1):
        run = chain_run()
        observe = run.estimator.measure_model
        seen = []

        def dying(config, model, j=j, seen=seen, observe=observe):
            seen.append(model)
            if len(seen) == j:
                raise Killed
            return observe(config, model)

        run.estimator.measure_model = dying
        with pytest.raises(Killed):
            run.run()
        run.estimator.measure_model = observe
        assert_same_run("chain", run, run.run())


@pytest.mark.parametrize("name", SCENARIOS)
def test_kill_during_finalize(name):
    run = SCENARIOS[name]()

    def dying(model):
        run.network.finalize_calls.append(model)
        raise Killed

    run.network.finalize = dying
    with pytest.raises(Killed):
        run.run()
    del run.network.finalize  # the restarted process finalizes normally
    report = run.run()
    assert_same_run(name, run, report)
    assert len(run.network.finalize_calls) == 2
    assert run.network.finalize_calls[0] == run.network.finalize_calls[1]


@pytest.mark.parametrize("name", SCENARIOS)
def test_killed_again_and_again(name):
    expected, saves, _ = reference(name)
    run = SCENARIOS[name]()
    attempts = 0
    while True:
        attempts += 1
        try:
            report = run.engine(store=KillingStore(run.store, 3, after_write=True)).run()
            break
        except Killed:
            pass
    assert_same_run(name, run, report)
    # Each attempt persists 3 new checkpoints; if the last of them is the final one, one more
    # attempt just reads the finished run.
    assert attempts == -(-saves // 3) + (1 if saves % 3 == 0 else 0)


def test_resume_from_a_json_file(tmp_path):
    path = tmp_path / "run" / "state.json"
    run = chain_run(store=JsonFileStore(path))
    report = kill_then_resume(run, store=KillingStore(run.store, 7, after_write=True))
    assert_same_run("chain", run, report)
    # A brand-new store object on the same file sees the finished run.
    again = chain_run(store=JsonFileStore(path))
    assert again.run() == report
    assert again.runner.calls == {} and again.network.finalize_calls == []
