"""Every run option is declared once (NetAdaptConfig, TrainingOptions) and appears, with
the same default, bounds and choices, in the REST schema, the CLI and the dashboard."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import MISSING
from typing import Any

import pytest
from pydantic import ValidationError

from service.app import create_app
from service.cli import build_parser
from service.cli.options import engine_options, training_options
from service.dashboard.views import run_settings
from service.netadapt import NetAdaptConfig
from service.netadapt.option_fields import info_of, option, to_saved_dict
from service.pruning.options import TrainingOptions
from service.run_options import TOP_LEVEL_ENGINE_FIELDS, declared_options
from service.runs.spec import RunCreate
from tests.server.conftest import make_settings

ENGINE = [f.name for f in dataclasses.fields(NetAdaptConfig) if f.name not in TOP_LEVEL_ENGINE_FIELDS]
TRAINING = [f.name for f in dataclasses.fields(TrainingOptions)]
ALL_FIELDS = [*dataclasses.fields(NetAdaptConfig), *dataclasses.fields(TrainingOptions)]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    document = create_app(make_settings(tmp_path_factory.mktemp("openapi") / "data")).openapi()
    return document["components"]["schemas"]


def subcommand(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def group_dests(parser: argparse.ArgumentParser, title: str) -> list[str]:
    group = next(g for g in parser._action_groups if g.title == title)
    return [a.dest for a in group._group_actions]


def parse(path: tuple[str, ...], *extra: str) -> argparse.Namespace:
    required = {"prune": ["m.keras", "--data", "digits", "--budget", "0.5", "--out", "o"],
                "create": ["--model", "m", "--budget", "0.5"]}[path[-1]]
    return subcommand(*path).parse_args([*required, *extra])


COMMANDS = [("prune",), ("runs", "create")]


def test_rest_schema_has_exactly_the_declared_options(schemas):
    assert list(schemas["EngineOptions"]["properties"]) == ENGINE
    assert list(schemas["TrainingOptionsIn"]["properties"]) == TRAINING
    assert {"budget", "budget_kind", "engine", "training"} <= set(schemas["RunCreate"]["properties"])


@pytest.mark.parametrize("path", COMMANDS)
def test_cli_has_exactly_the_declared_options(path):
    parser = subcommand(*path)
    assert group_dests(parser, "NetAdapt schedule") == ENGINE
    assert group_dests(parser, "fine-tuning") == TRAINING
    dests = {a.dest for a in parser._actions}
    assert {"budget", "absolute_budget"} <= dests  # budget_kind's flag


def test_dashboard_labels_every_declared_option():
    rows = run_settings(RunCreate(model_id="m" * 64, budget=0.5).model_dump(mode="json"))
    assert [r["name"] for r in rows] == [*TOP_LEVEL_ENGINE_FIELDS, *ENGINE, *TRAINING]
    assert all(r["label"] and r["help"] for r in rows)
    assert [r["name"] for r in rows if not r["is_default"]] == ["budget"]  # the one without a default
    labels = [r["label"] for r in rows]
    assert len(set(labels)) == len(labels)


def test_every_field_is_declared_with_a_description():
    for field in ALL_FIELDS:
        assert len(info_of(field).help) > 20, field.name


def _schema_of(schemas: dict[str, Any], name: str) -> dict[str, Any]:
    for model in ("EngineOptions", "TrainingOptionsIn", "RunCreate"):
        if name in schemas[model]["properties"]:
            return schemas[model]["properties"][name]
    raise AssertionError(f"{name} is in no request schema")


@pytest.mark.parametrize("field", ALL_FIELDS, ids=lambda f: f.name)
def test_defaults_bounds_choices_and_descriptions_agree(schemas, field):
    info, schema = info_of(field), _schema_of(schemas, field.name)
    default = field.default if field.default_factory is MISSING else field.default_factory()
    if default is MISSING:
        assert field.name in schemas["RunCreate"]["required"]
    else:
        assert schema["default"] == (list(default) if isinstance(default, tuple) else default)
    assert schema["description"] == info.help
    for ours, theirs in (("gt", "exclusiveMinimum"), ("ge", "minimum"), ("lt", "exclusiveMaximum"),
                         ("le", "maximum")):
        assert schema.get(theirs) == getattr(info, ours), (field.name, ours)
    assert tuple(schema.get("enum", ())) == info.choices


@pytest.mark.parametrize("path", COMMANDS)
def test_cli_defaults_are_the_declared_ones(path):
    args = parse(path)
    # Nothing given: nothing sent, so the server's (the declaration's) defaults apply.
    assert engine_options(args) == {} and training_options(args) == {}
    assert NetAdaptConfig(budget=0.5, **engine_options(args)) == NetAdaptConfig(budget=0.5)
    help_text = subcommand(*path).format_help()
    assert "(in [1, 10000]; default 100)" in help_text  # --max-iterations, from its declaration


@pytest.mark.parametrize("path", COMMANDS)
def test_cli_values_reach_the_options(path):
    args = parse(path, "--saliency", "apoz", "--waypoints", "0.8,0.7", "--max-step-halvings", "0",
                 "--augment", "--apoz-samples", "64", "--holdout", "300")
    assert engine_options(args) == {"saliency": "apoz", "waypoints": (0.8, 0.7), "max_step_halvings": 0}
    assert training_options(args) == {"augment": True, "apoz_samples": 64, "holdout": 300.0}
    assert TrainingOptions(**training_options(args)).apoz_samples == 64


def test_rest_defaults_build_the_default_options():
    spec = RunCreate(model_id="m" * 64, budget=0.5)
    assert NetAdaptConfig(**spec.engine_config_kwargs()) == NetAdaptConfig(budget=0.5)
    assert TrainingOptions(**spec.training.model_dump()) == TrainingOptions()


def _outside(field: dataclasses.Field) -> Any:
    info = info_of(field)
    if info.choices:
        return "nonsense"
    if info.ge is not None:
        return info.ge - 1
    if info.gt is not None:
        return info.gt
    return None


BOUNDED = [f for f in ALL_FIELDS if _outside(f) is not None and f.name not in TOP_LEVEL_ENGINE_FIELDS]


@pytest.mark.parametrize("field", BOUNDED, ids=lambda f: f.name)
def test_a_refused_value_names_the_field_everywhere(field):
    bad = _outside(field)
    part = "engine" if field.name in ENGINE else "training"
    with pytest.raises(ValueError, match=field.name):
        if part == "engine":
            NetAdaptConfig(budget=0.5, **{field.name: bad})
        else:
            TrainingOptions(**{field.name: bad})
    with pytest.raises(ValidationError) as refused:
        RunCreate(model_id="m" * 64, budget=0.5, **{part: {field.name: bad}})
    assert [e["loc"] for e in refused.value.errors()] == [(part, field.name)]


# -- compatibility: what older versions saved still compares equal ------------------------------

# As version bb8781e (before any option was derived) computed them. A default that changed
# since (the short-term learning rate, 1e-3 then) changes what a request relying on it means,
# so these name the old value.
OLD_FINGERPRINTS = {
    "3da243e93f350c15d39415339eaf5423c5faa5ce057b9bf8d05559d375bf2572": {
        "model_id": "m" * 64, "budget": 0.5, "training": {"learning_rate": 1e-3},
    },
    "c1f2c8bb3dbc7c2dcb6e79d254846dd2a87cb77270de9bbe12e9a8be77d96d66": {
        "model_id": "m" * 64, "budget": 0.6, "metric": "latency_ms", "device": "d" * 16,
        "engine": {"saliency": "apoz", "waypoints": [0.8]},
        "training": {"holdout": 200, "long_term_epochs": 0, "learning_rate": 1e-3},
    },
}


@pytest.mark.parametrize("fingerprint", OLD_FINGERPRINTS)
def test_requests_keep_the_fingerprint_older_versions_gave_them(fingerprint):
    assert RunCreate(**OLD_FINGERPRINTS[fingerprint]).fingerprint() == fingerprint


def test_options_added_since_change_the_fingerprint_only_when_not_default():
    base = RunCreate(model_id="m" * 64, budget=0.5)
    assert RunCreate(model_id="m" * 64, budget=0.5, training={"apoz_samples": 256}).fingerprint() == base.fingerprint()
    assert RunCreate(model_id="m" * 64, budget=0.5, training={"apoz_samples": 64}).fingerprint() != base.fingerprint()


def test_settings_saved_by_older_versions_still_compare_equal():
    # run directories and checkpoints of bb8781e held exactly these keys
    old_engine = {"budget": 0.5, "budget_kind": "ratio", "init_reduction_ratio": 0.025, "decay": 0.96,
                  "max_iterations": 100, "channel_step": 8, "saliency": "l1", "selection": "max_accuracy",
                  "max_step_halvings": 3}
    old_training = {"short_term_steps": 100, "batch_size": 64, "learning_rate": 0.001, "holdout": 0.15,
                    "long_term_epochs": 10, "long_term_learning_rate": 0.0003, "augment": False, "seed": 0,
                    "apoz_samples": 256}
    assert NetAdaptConfig(budget=0.5).to_dict() == old_engine
    # The short-term learning rate's default changed (1e-3 then): saved explicitly, as always.
    assert TrainingOptions(learning_rate=1e-3).to_dict() == old_training
    assert NetAdaptConfig.from_dict(old_engine) == NetAdaptConfig(budget=0.5)
    assert TrainingOptions.from_dict(old_training) == TrainingOptions(learning_rate=1e-3)


@dataclasses.dataclass(frozen=True)
class _Later:
    old: int = option(1, help="an option every version saved")
    new: str = option("a", choices=("a", "b"), help="an option added later")


def test_an_option_added_later_is_saved_only_when_not_default():
    assert to_saved_dict(_Later(), {"old"}) == {"old": 1}
    assert to_saved_dict(_Later(new="b"), {"old"}) == {"old": 1, "new": "b"}


def test_every_field_is_a_declared_option():
    for cls in (NetAdaptConfig, TrainingOptions):
        assert [o.name for o in declared_options(cls)] == [f.name for f in dataclasses.fields(cls)]
