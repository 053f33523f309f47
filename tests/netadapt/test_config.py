import json

import pytest

from service.netadapt import NetAdaptConfig


def test_defaults_follow_the_paper():
    cfg = NetAdaptConfig(budget=0.5)
    assert cfg.budget_kind == "ratio"
    assert cfg.init_reduction_ratio == 0.025
    assert cfg.decay == 0.96
    assert cfg.max_iterations == 100
    assert cfg.channel_step == 8
    assert cfg.saliency == "l1"
    assert cfg.selection == "max_accuracy"
    assert cfg.max_step_halvings == 3


def test_dict_round_trip_and_int_coercion():
    cfg = NetAdaptConfig(budget=1, budget_kind="absolute", selection="min_drop_per_cost")
    data = cfg.to_dict()
    assert data["budget"] == 1.0 and isinstance(data["budget"], float)
    assert NetAdaptConfig.from_dict(data) == cfg


def test_from_dict_names_unknown_settings():
    with pytest.raises(ValueError, match="unknown NetAdapt setting.*'budjet'"):
        NetAdaptConfig.from_dict({"budget": 0.5, "budjet": 0.4})


def test_from_dict_requires_budget():
    with pytest.raises(ValueError, match="budget"):
        NetAdaptConfig.from_dict({"decay": 0.9})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0.0}, r"must be in \(0, 1\]"),
        ({"budget": 1.5}, r"budget_kind='absolute'"),
        ({"budget": 0.0, "budget_kind": "absolute"}, "can never be reached"),
        ({"budget": -3.0, "budget_kind": "absolute"}, "positive cost"),
        ({"budget": float("nan")}, "finite"),
        ({"budget": True}, "must be a number"),
        ({"budget": 0.5, "budget_kind": "percent"}, "budget_kind must be one of"),
        ({"budget": 0.5, "init_reduction_ratio": 0.0}, "init_reduction_ratio"),
        ({"budget": 0.5, "init_reduction_ratio": 1.0}, "init_reduction_ratio"),
        ({"budget": 0.5, "decay": 0.0}, "decay"),
        ({"budget": 0.5, "decay": 1.2}, "constant step"),
        ({"budget": 0.5, "max_iterations": 0}, "max_iterations"),
        ({"budget": 0.5, "max_iterations": 2.5}, "max_iterations must be an integer"),
        ({"budget": 0.5, "channel_step": 0}, "channel_step"),
        ({"budget": 0.5, "saliency": "taylor"}, "saliency must be one of"),
        ({"budget": 0.5, "selection": "best"}, "selection must be one of"),
        ({"budget": 0.5, "max_step_halvings": -1}, "max_step_halvings"),
        ({"budget": 0.5, "waypoints": [1.0]}, r"waypoint 1.0 .*between the budget 0.5 and 1"),
        ({"budget": 0.5, "waypoints": [0.5]}, r"waypoint 0.5 .*lower the budget"),
        ({"budget": 0.5, "waypoints": [0.3]}, "between the budget"),
        ({"budget": 50, "budget_kind": "absolute", "waypoints": [40]}, "above the absolute budget 50"),
        ({"budget": 0.5, "waypoints": [0.7, 0.6, 0.7]}, r"waypoints \[0.7\] are given more than once"),
        ({"budget": 0.5, "waypoints": [float("nan")]}, "waypoint must be finite"),
        ({"budget": 0.5, "waypoints": ["0.7"]}, "waypoint must be a number"),
        ({"budget": 0.5, "waypoints": 0.7}, "must be a list"),
    ],
)
def test_invalid_values_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NetAdaptConfig(**kwargs)


def test_decay_one_and_budget_one_are_allowed():
    cfg = NetAdaptConfig(budget=1.0, decay=1.0, max_step_halvings=0, channel_step=1)
    assert (cfg.budget, cfg.decay) == (1.0, 1.0)


def test_waypoints_are_sorted_tuples_and_round_trip_through_json():
    cfg = NetAdaptConfig(budget=0.5, waypoints=[0.6, 0.75])
    assert cfg.waypoints == (0.75, 0.6)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data == cfg.to_dict() and data["waypoints"] == [0.75, 0.6]
    assert NetAdaptConfig.from_dict(data) == cfg
    absolute = NetAdaptConfig(budget=10, budget_kind="absolute", waypoints=[200, 30])
    assert absolute.waypoints == (200.0, 30.0)


def test_no_waypoints_leave_the_dict_as_before():
    # Settings saved before waypoints existed must still equal a config without them.
    assert "waypoints" not in NetAdaptConfig(budget=0.5).to_dict()
    assert NetAdaptConfig.from_dict({"budget": 0.5}).waypoints == ()
