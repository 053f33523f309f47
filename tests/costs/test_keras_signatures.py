"""signatures_for_config equals what the converter emits for the pruned model.

For each model: analyse the original once, draw random channel counts, build the pruned
model with `prune` (keeping the first n channels of each group), convert it with
to_device_tflite and read its signatures. Their multiset must equal the one derived from
the original's graph. Conversions are the slow part; each model's pruned variants are
built once per module.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import keras
import numpy as np
import pytest

from latency_tables.signature import LayerSignature
from latency_tables.tflite_model import signatures_from_tflite
from service.costs.device_export import to_device_tflite
from service.costs.keras_signatures import UnsupportedForTables, signature_fn, signatures_for_config
from service.surgery import analyze, prune
from service.surgery.graph import ChannelGraph
from service.zoo import build
from tests.helpers.zoo_models import ZOO_TEST_KWARGS

from .rule_models import FLOAT32_RULE_MODELS, RULE_MODELS, build_rule_model

INT8_ZOO = ["digits_cnn", "vgg", "mobilenet_v2"]
VARIANTS = 2
# keras.applications models with keras.ops operation nodes (MobileNetV3's hard sigmoid)
# and squeeze-excite gates over 1x1 maps at this size; name -> (constructor, dtypes).
APPLICATIONS = {
    "keras_mobilenet_v3_small": (keras.applications.MobileNetV3Small, ("float32", "int8")),
    "keras_mobilenet_v3_large": (keras.applications.MobileNetV3Large, ("float32",)),
    "keras_efficientnet_v2_b0": (keras.applications.EfficientNetV2B0, ("float32",)),
}


@dataclass
class Case:
    """A model, its graph, and pruned variants built on demand."""

    model: keras.Model
    graph: ChannelGraph
    counts: list[dict[str, int]]
    _pruned: dict[int, keras.Model] = field(default_factory=dict)

    def pruned(self, variant: int) -> keras.Model:
        if variant not in self._pruned:
            keep = {group: range(n) for group, n in self.counts[variant].items()}
            self._pruned[variant] = prune(self.model, keep, self.graph)
        return self._pruned[variant]


def random_counts(graph: ChannelGraph, seed: int, variants: int) -> list[dict[str, int]]:
    """Per variant, a random count for a random half or more of the prunable groups (the
    others stay whole, so configurations mix pruned and unpruned neighbours)."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(variants):
        groups = [g for g in graph.prunable_groups if rng.random() < 0.75] or graph.prunable_groups[:1]
        configs.append({g.id: int(rng.integers(1, g.channels + 1)) for g in groups})
    return configs


def make_case(model: keras.Model, seed: int, variants: int = VARIANTS) -> Case:
    graph = analyze(model)
    return Case(model, graph, random_counts(graph, seed, variants))


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {}


def case_for(cases: dict[str, Case], name: str) -> Case:
    if name not in cases:
        if name == "keras_mobilenet_v2":
            model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None, classes=10)
            cases[name] = make_case(model, seed=7, variants=1)
        elif name in APPLICATIONS:
            keras.utils.set_random_seed(0)
            model = APPLICATIONS[name][0](input_shape=(32, 32, 3), weights=None, classes=10)
            cases[name] = make_case(model, seed=zlib.crc32(name.encode()), variants=1)
        elif name in RULE_MODELS or name in FLOAT32_RULE_MODELS:
            cases[name] = make_case(build_rule_model(name), seed=zlib.crc32(name.encode()))
        else:
            cases[name] = make_case(build(name, **ZOO_TEST_KWARGS[name]), seed=zlib.crc32(name.encode()))
    return cases[name]


def assert_same_ops(derived: list[LayerSignature], converted: list[LayerSignature], what: str) -> None:
    mine, truth = Counter(s.key for s in derived), Counter(s.key for s in converted)
    if mine != truth:
        lines = [f"{what}: derived signatures differ from the converter's"]
        lines += [f"  missing {key} x{n}" for key, n in (truth - mine).items()]
        lines += [f"  extra   {key} x{n}" for key, n in (mine - truth).items()]
        pytest.fail("\n".join(lines))


def check_variant(case: Case, variant: int, dtype: str, what: str) -> None:
    converted = signatures_from_tflite(to_device_tflite(case.pruned(variant), dtype))
    derived = signatures_for_config(case.graph, case.counts[variant], dtype)
    assert_same_ops(derived, converted, f"{what} variant {variant} {case.counts[variant]}")


# ---- equality with the converter -----------------------------------------------------


@pytest.mark.parametrize("name", list(ZOO_TEST_KWARGS))
def test_zoo_float32_matches_converter(cases: dict[str, Case], name: str) -> None:
    case = case_for(cases, name)
    for variant in range(VARIANTS):
        check_variant(case, variant, "float32", name)


@pytest.mark.parametrize("name", INT8_ZOO)
def test_zoo_int8_matches_converter(cases: dict[str, Case], name: str) -> None:
    # One variant: int8 lowers these models like float32 (the float test covers both
    # variants), so this checks the int8-specific part at half the conversions.
    check_variant(case_for(cases, name), VARIANTS - 1, "int8", name)


def test_keras_mobilenet_v2_float32_matches_converter(cases: dict[str, Case]) -> None:
    check_variant(case_for(cases, "keras_mobilenet_v2"), 0, "float32", "keras MobileNetV2 96x96")


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_keras_applications_with_operation_nodes_match_converter(cases: dict[str, Case], name: str) -> None:
    case = case_for(cases, name)
    for dtype in APPLICATIONS[name][1]:
        check_variant(case, 0, dtype, f"{name} 32x32")


@pytest.mark.parametrize("name", list(RULE_MODELS))
def test_rule_models_match_converter(cases: dict[str, Case], name: str) -> None:
    case = case_for(cases, name)
    check_variant(case, 0, "float32", name)
    check_variant(case, 1, "int8", name)


@pytest.mark.parametrize("name", list(FLOAT32_RULE_MODELS))
def test_float32_rule_models_match_converter(cases: dict[str, Case], name: str) -> None:
    case = case_for(cases, name)
    for variant in range(VARIANTS):
        check_variant(case, variant, "float32", name)


# ---- what is refused -----------------------------------------------------------------


def _one_branch_model(make: object) -> keras.Model:
    inputs = keras.Input((8, 8, 4))
    return keras.Model(inputs, make(inputs))  # type: ignore[operator]


def test_unknown_layer_raises_naming_it() -> None:
    model = _one_branch_model(lambda x: keras.layers.ELU(name="odd_act")(keras.layers.Conv2D(8, 3)(x)))
    with pytest.raises(UnsupportedForTables, match="'odd_act' of class ELU") as raised:
        signatures_for_config(analyze(model))
    assert (raised.value.layer_name, raised.value.class_name) == ("odd_act", "ELU")


def test_activation_without_rule_raises_naming_the_layer() -> None:
    model = _one_branch_model(lambda x: keras.layers.Conv2D(8, 3, activation="hard_sigmoid", name="gate")(x))
    with pytest.raises(UnsupportedForTables, match="'gate' of class Conv2D.*hard_sigmoid"):
        signatures_for_config(analyze(model))


def test_int8_maximum_is_refused_but_float32_is_not() -> None:
    def branches(x: keras.KerasTensor) -> keras.KerasTensor:
        convs = [keras.layers.Conv2D(8, 1)(x), keras.layers.Conv2D(8, 3, padding="same")(x)]
        return keras.layers.Maximum(name="max")(convs)

    graph = analyze(_one_branch_model(branches))
    assert [s.op for s in signatures_for_config(graph)][-1] == "MAXIMUM"
    with pytest.raises(UnsupportedForTables, match="'max' of class Maximum"):
        signatures_for_config(graph, dtype="int8")


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda x: 2.0 / keras.layers.Conv2D(8, 3)(x), "true_divide"),
        (lambda x: keras.ops.divide(keras.layers.Conv2D(8, 3)(x), keras.layers.Conv2D(8, 3)(x)), "divide"),
    ],
)
def test_division_by_a_tensor_is_refused_naming_the_operation(make: object, name: str) -> None:
    with pytest.raises(UnsupportedForTables, match="DIV") as raised:
        signatures_for_config(analyze(_one_branch_model(make)))
    assert raised.value.layer_name.startswith(name)
    assert raised.value.class_name.startswith("keras.src.ops.numpy.")


# ---- the cached function -------------------------------------------------------------


def test_signature_fn_caches_by_effective_counts(cases: dict[str, Case]) -> None:
    case = case_for(cases, "resnet20")
    signatures = signature_fn(case.graph)
    counts = case.counts[0]
    assert signatures(counts) == signatures_for_config(case.graph, counts)
    full = case.graph.channel_config()
    assert signatures({}) == signatures(full)  # a group left out is a group kept whole
    assert signatures.cache_info().hits == 1  # type: ignore[attr-defined]
    signatures(counts).clear()  # callers get copies: the cache cannot be corrupted
    assert signatures(counts) == signatures_for_config(case.graph, counts)


def test_bad_counts_are_rejected(cases: dict[str, Case]) -> None:
    graph = case_for(cases, "vgg").graph
    group = graph.prunable_groups[0]
    frozen = next(g for g in graph.groups if not g.prunable)
    bad: list[Mapping[str, int]] = [
        {"nope": 3},
        {group.id: 0},
        {group.id: group.channels + 1},
        {frozen.id: 1},
    ]
    for counts in bad:
        with pytest.raises(ValueError):
            signatures_for_config(graph, counts)
    with pytest.raises(ValueError, match="dtype"):
        signatures_for_config(graph, {}, dtype="float16")

