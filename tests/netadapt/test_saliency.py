import pytest

from service.netadapt import choose_kept_channels


def test_keeps_highest_scores_sorted_by_index():
    assert choose_kept_channels([0.1, 0.9, 0.5, 0.7], 2) == (1, 3)


def test_ties_keep_the_lower_index():
    assert choose_kept_channels([1.0, 2.0, 1.0, 2.0, 1.0], 3) == (0, 1, 3)
    assert choose_kept_channels([3.0, 3.0, 3.0], 2) == (0, 1)


def test_nan_scores_go_first():
    assert choose_kept_channels([float("nan"), 0.0, -1.0], 2) == (1, 2)


def test_keep_all():
    assert choose_kept_channels([3.0, 1.0, 2.0], 3) == (0, 1, 2)


@pytest.mark.parametrize("keep", [0, 4, -1])
def test_keep_out_of_range(keep):
    with pytest.raises(ValueError, match="keep must be in"):
        choose_kept_channels([1.0, 2.0, 3.0], keep)
