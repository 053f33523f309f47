import pytest

from service.netadapt import ProposalOutcome, score_proposal, select_proposal
from service.netadapt.selection import choose_finetune_groups

# Parent: accuracy 0.90 at cost 100. "a" loses little accuracy but saves little cost; "b"
# loses more but saves much more, so it loses less per unit of cost.
CASE = [
    ProposalOutcome("a", holdout_accuracy=0.88, estimated_cost=95.0),  # 0.02 / 5 = 0.004
    ProposalOutcome("b", holdout_accuracy=0.86, estimated_cost=80.0),  # 0.04 / 20 = 0.002
]


def test_rules_choose_differently():
    assert select_proposal(CASE, "max_accuracy", 0.90, 100.0).group == "a"
    assert select_proposal(CASE, "min_drop_per_cost", 0.90, 100.0).group == "b"


def test_scores():
    score = score_proposal(CASE[1], 0.90, 100.0)
    assert score.accuracy_drop == pytest.approx(0.04)
    assert score.drop_per_cost == pytest.approx(0.002)


def test_no_cost_saved_has_no_ratio_and_ranks_last():
    stuck = ProposalOutcome("z", 0.95, 100.0)
    assert score_proposal(stuck, 0.90, 100.0).drop_per_cost is None
    assert select_proposal([stuck, CASE[0]], "min_drop_per_cost", 0.90, 100.0).group == "a"


def test_max_accuracy_ties_prefer_lower_cost_then_group_id():
    results = [
        ProposalOutcome("c", 0.8, 50.0),
        ProposalOutcome("b", 0.8, 40.0),
        ProposalOutcome("a", 0.8, 40.0),
        ProposalOutcome("d", 0.7, 10.0),
    ]
    assert select_proposal(results, "max_accuracy", 0.9, 100.0).group == "a"


def test_min_drop_per_cost_ties_prefer_higher_accuracy():
    # Both lose 1/128 per unit of cost (binary fractions, so the tie is exact).
    results = [
        ProposalOutcome("a", 0.25, 0.0),  # 0.5 / 64
        ProposalOutcome("b", 0.5, 32.0),  # 0.25 / 32
    ]
    assert select_proposal(results, "min_drop_per_cost", 0.75, 64.0).group == "b"


def test_accuracy_gain_wins_min_drop_per_cost():
    results = [CASE[1], ProposalOutcome("g", 0.91, 99.0)]
    assert select_proposal(results, "min_drop_per_cost", 0.90, 100.0).group == "g"


def test_errors():
    with pytest.raises(ValueError, match="no proposals"):
        select_proposal([], "max_accuracy", 0.9, 1.0)
    with pytest.raises(ValueError, match="unknown selection rule"):
        select_proposal(CASE, "random", 0.9, 1.0)


def test_max_accuracy_breaks_accuracy_ties_by_holdout_loss_before_cost():
    tied = [
        ProposalOutcome("cheap", 1.0, 40.0, holdout_loss=0.30),
        ProposalOutcome("careful", 1.0, 60.0, holdout_loss=0.05),
        ProposalOutcome("worse", 0.99, 10.0, holdout_loss=0.01),
    ]
    assert select_proposal(tied, "max_accuracy", 1.0, 100.0).group == "careful"
    without_loss = [ProposalOutcome(o.group, o.holdout_accuracy, o.estimated_cost) for o in tied]
    assert select_proposal(without_loss, "max_accuracy", 1.0, 100.0).group == "cheap"


def test_max_accuracy_prefers_tied_proposals_that_land_near_the_target():
    # The demo's third iteration (target 60% of the baseline): conv2's next cheaper count
    # cuts to 50.6%, conv3's to 57.4%; their accuracies tie and conv2's loss is a hair lower.
    tied = [
        ProposalOutcome("conv2", 0.9907, 50.6, holdout_loss=0.0459, holdout_samples=216),
        ProposalOutcome("conv3", 0.9907, 57.4, holdout_loss=0.0461, holdout_samples=216),
    ]
    assert select_proposal(tied, "max_accuracy", 1.0, 68.0).group == "conv2"
    assert select_proposal(tied, "max_accuracy", 1.0, 68.0, landing_floor=57.0).group == "conv3"
    # None lands in the band: the rule falls back to the loss among all the tied ones.
    assert select_proposal(tied, "max_accuracy", 1.0, 68.0, landing_floor=59.0).group == "conv2"
    # A clearly better accuracy still wins over landing near the target.
    better = [ProposalOutcome("conv2", 1.0, 50.6, 0.01, 216), tied[1]]
    assert select_proposal(better, "max_accuracy", 1.0, 68.0, landing_floor=57.0).group == "conv2"


def test_finetune_groups_keep_the_prescreen_order_or_give_the_last_place_to_the_band():
    ranked = [("a", 50.0), ("b", 52.0), ("c", 58.0), ("d", 59.0)]
    assert choose_finetune_groups(ranked, 2, None) == ["a", "b"]
    # c is the best-ranked proposal at or above the floor; b's place goes to it.
    assert choose_finetune_groups(ranked, 2, 57.0) == ["a", "c"]
    # One of the first two already lands in the band: the prescreen's order stands.
    assert choose_finetune_groups(ranked, 2, 51.0) == ["a", "b"]
    # None lands in the band, or only one place: the prescreen's order stands.
    assert choose_finetune_groups(ranked, 2, 60.0) == ["a", "b"]
    assert choose_finetune_groups(ranked, 1, 57.0) == ["a"]
