import pytest

from service.netadapt import ProposalResult, ProposalSpec, SerialExecutor


def spec(group: str) -> ProposalSpec:
    return ProposalSpec(0, group, 8, tuple(range(8)), "p", 1.0, {group: 8})


def run_one(s: ProposalSpec) -> ProposalResult:
    return ProposalResult(s.iteration, s.group, f"m-{s.group}", 0.5, 1.0)


def test_runs_in_order_and_reports_each():
    seen = []
    SerialExecutor(run_one).run([spec("a"), spec("b")], lambda r: seen.append(r.model))
    assert seen == ["m-a", "m-b"]


def test_error_in_on_result_stops_before_the_next_proposal():
    started = []

    def recording(s):
        started.append(s.group)
        return run_one(s)

    def fail(_result):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        SerialExecutor(recording).run([spec("a"), spec("b")], fail)
    assert started == ["a"]
