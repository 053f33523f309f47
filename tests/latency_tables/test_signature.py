"""LayerSignature: canonical JSON, hashing, validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from latency_tables import SUPPORTED_OPS, LayerSignature
from tests.latency_tables.examples import example_signatures

ALL_EXAMPLES = example_signatures("float32") + example_signatures("int8")


def conv(**changes) -> LayerSignature:
    fields = dict(op="CONV_2D", inputs=[(1, 56, 56, 64)], output=(1, 56, 56, 64), kernel=(3, 3), stride=(1, 1), padding="SAME")
    fields.update(changes)
    return LayerSignature(**fields)


@pytest.mark.parametrize("sig", ALL_EXAMPLES, ids=lambda s: f"{s.op}-{s.dtype}")
def test_json_round_trip(sig: LayerSignature) -> None:
    again = LayerSignature.from_json(sig.to_json())
    assert again == sig
    assert hash(again) == hash(sig)
    assert again.key == sig.key and again.digest == sig.digest


def test_key_is_sorted_compact_json_without_unset_options() -> None:
    sig = conv(activation="RELU6")
    assert sig.key == (
        '{"activation":"RELU6","dilation":[1,1],"dtype":"float32","groups":1,"inputs":[[1,56,56,64]],'
        '"kernel":[3,3],"op":"CONV_2D","output":[1,56,56,64],"padding":"SAME","stride":[1,1]}'
    )
    assert sig.key == sig.to_json() == str(sig)
    assert json.loads(sig.key) == sig.to_dict()


def test_digest_is_sha256_of_key() -> None:
    sig = conv()
    assert sig.digest == hashlib.sha256(sig.key.encode()).hexdigest()
    assert len(sig.digest) == 64


def test_equivalent_spellings_give_one_key() -> None:
    plain = conv()
    spelled_out = LayerSignature(
        op="CONV_2D",
        inputs=[[np.int64(1), 56, 56, 64]],  # lists and numpy integers
        output=[1, 56, 56, np.int32(64)],
        kernel=[3, 3],
        stride=(1, 1),
        padding="SAME",
        dilation=(1, 1),  # defaults given explicitly
        groups=1,
        activation="NONE",
        dtype="float32",
    )
    assert spelled_out == plain
    assert spelled_out.key == plain.key
    assert len({plain, spelled_out}) == 1


def test_axes_are_normalised() -> None:
    a = LayerSignature(op="MEAN", inputs=[(1, 7, 7, 32)], output=(1, 32), axis=(2, -3))
    b = LayerSignature(op="MEAN", inputs=[(1, 7, 7, 32)], output=(1, 32), axis=[1, 2])
    assert a.axis == (1, 2) and a.key == b.key
    c = LayerSignature(op="CONCATENATION", inputs=[(1, 4, 4, 8)] * 2, output=(1, 4, 4, 16), axis=-1)
    assert c.axis == (3,)


def test_different_signatures_differ() -> None:
    keys = {conv().key, conv(dtype="int8").key, conv(activation="RELU").key, conv(output=(1, 56, 56, 32)).key}
    assert len(keys) == 4


def test_is_frozen_and_usable_as_a_dict_key() -> None:
    sig = conv()
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.op = "ADD"  # type: ignore[misc]
    table = {sig: 2.2}
    assert table[conv()] == 2.2


def test_with_changes_revalidates() -> None:
    sig = conv()
    assert sig.with_changes(output=(1, 56, 56, 32)).output == (1, 56, 56, 32)
    with pytest.raises(ValueError, match="expected"):
        sig.with_changes(stride=(2, 2))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"op": "CONV_3D"}, "unknown or unsupported op 'CONV_3D'"),
        ({"op": "conv_2d"}, "unknown or unsupported op"),
        ({"dtype": "float16"}, "dtype 'float16'"),
        ({"inputs": [(1, 0, 56, 64)]}, "must be >= 1"),
        ({"inputs": [(1, 56.0, 56, 64)]}, "expected an integer"),
        ({"inputs": (1, 56, 56, 64)}, "expected a sequence"),
        ({"inputs": [(1, 56, 56, 64), (1, 56, 56, 64)]}, "takes 1..1 activation inputs"),
        ({"inputs": [(56, 56, 64)], "output": (56, 56, 64)}, "rank-4"),
        ({"output": (1, 28, 28, 64)}, r"expected \(1, 56, 56, 64\)"),
        ({"padding": "same"}, "padding 'same'"),
        ({"activation": "SWISH"}, "activation 'SWISH'"),
        ({"kernel": (3,)}, r"\(h, w\) pair"),
        ({"kernel": None}, "'kernel' is required"),
        ({"axis": 3}, "'axis' does not apply"),
        ({"groups": 3}, "groups=3 must divide"),
    ],
)
def test_invalid_signatures_raise_clear_errors(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conv(**changes)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(op="ADD", inputs=[(1, 4, 4, 8)], output=(1, 4, 4, 8)), "needs 2 operands"),
        (dict(op="ADD", inputs=[(1, 4, 4, 8), (1, 4, 4, 3)], output=(1, 4, 4, 8)), "do not broadcast"),
        (dict(op="CONCATENATION", inputs=[(1, 4, 4, 8), (1, 5, 4, 8)], output=(1, 4, 4, 16), axis=3), "differ outside axis"),
        (dict(op="RESHAPE", inputs=[(1, 4, 4, 8)], output=(1, 100)), "different numbers of elements"),
        (dict(op="PAD", inputs=[(1, 4, 4, 8)], output=(1, 6, 6, 8), paddings=((1, 1), (1, 1))), "one \\(before, after\\) pair"),
        (dict(op="MEAN", inputs=[(1, 4, 4, 8)], output=(1, 8), axis=(1, 4)), "out of range"),
        (dict(op="TRANSPOSE", inputs=[(1, 4, 4, 8)], output=(1, 8, 4, 4), perm=(0, 3, 1, 1)), "not a permutation"),
        (dict(op="DEQUANTIZE", inputs=[(1, 8)], output=(1, 8)), "dtype must be 'int8'"),
        (dict(op="RELU", inputs=[(1, 8)], output=(1, 9)), "expected \\(1, 8\\)"),
        (dict(op="TRANSPOSE_CONV", inputs=[(1, 8, 8, 4)], output=(1, 20, 20, 4), kernel=(3, 3), stride=(2, 2), padding="SAME"), "not reachable"),
        (dict(op="STRIDED_SLICE", inputs=[(1, 8)], output=(1, 8), begin=(0, 1)), "leaves input"),
        (dict(op="PRELU", inputs=[(1, 4, 4, 8)], output=(1, 4, 4, 8), const_inputs=[(1, 1, 3)]), "does not broadcast"),
    ],
)
def test_op_specific_shape_errors(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LayerSignature(**fields)


def test_from_json_rejects_unknown_fields_and_non_objects() -> None:
    data = conv().to_dict()
    with pytest.raises(ValueError, match="unknown signature fields"):
        LayerSignature.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="must be an object"):
        LayerSignature.from_json("[1, 2]")
    with pytest.raises(ValueError, match="at least 'op'"):
        LayerSignature.from_dict({"op": "RELU"})


def test_supported_ops_cover_the_brief() -> None:
    wanted = {
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "MAX_POOL_2D", "AVERAGE_POOL_2D",
        "MEAN", "ADD", "SUB", "MUL", "MAXIMUM", "CONCATENATION", "PAD", "RESHAPE", "SOFTMAX", "LOGISTIC",
        "RELU", "RELU6", "LEAKY_RELU", "PRELU", "HARD_SWISH", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR",
        "STRIDED_SLICE", "QUANTIZE", "DEQUANTIZE",
    }  # fmt: skip
    assert wanted <= set(SUPPORTED_OPS)
