"""Channel saliency: filter norms summed over a group's members, and APoZ."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from service.surgery import analyze, channel_saliency


def _residual_model() -> keras.Model:
    inp = keras.Input((6, 6, 2))
    a = layers.Conv2D(4, 3, padding="same", name="a")(inp)
    b = layers.Conv2D(4, 1, name="b")(a)
    z = layers.ReLU(name="relu")(layers.Add(name="add")([a, b]))
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(z))
    return keras.Model(inp, out)


def test_l1_and_l2_sum_normalised_norms_over_group_members():
    model = _residual_model()
    ka = model.get_layer("a").get_weights()[0]  # (3, 3, 2, 4)
    kb = model.get_layer("b").get_weights()[0]  # (1, 1, 4, 4)
    scores = channel_saliency(model, "l1")
    expected = np.abs(ka).mean(axis=(0, 1, 2)) + np.abs(kb).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(scores["a"], expected, rtol=1e-6)
    l2 = channel_saliency(model, "l2")
    expected2 = np.sqrt((ka**2).mean(axis=(0, 1, 2))) + np.sqrt((kb**2).mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(l2["a"], expected2, rtol=1e-6)


def test_l1_ranks_a_zeroed_filter_last():
    model = _residual_model()
    for name in ("a", "b"):
        w = model.get_layer(name).get_weights()
        w[0][..., 2] = 0
        model.get_layer(name).set_weights(w)
    scores = channel_saliency(model, "l1")["a"]
    assert int(np.argmin(scores)) == 2 and scores[2] == 0


def test_apoz_scores_channels_that_are_always_off_as_zero():
    model = _residual_model()
    for name in ("a", "b"):  # channel 1: large negative bias, never active after ReLU
        w = model.get_layer(name).get_weights()
        w[1][1] = -100.0
        w[1][3] = 100.0
        model.get_layer(name).set_weights(w)
    batch = np.random.default_rng(0).uniform(0, 1, (16, 6, 6, 2)).astype("float32")
    scores = channel_saliency(model, "apoz", batch=batch, graph=analyze(model))["a"]
    assert scores[1] == 0.0 and scores[3] == 1.0
    assert np.all((scores >= 0) & (scores <= 1))


def test_unknown_method_and_missing_batch_are_clear_errors():
    model = _residual_model()
    with pytest.raises(ValueError, match="unknown saliency method 'l3'"):
        channel_saliency(model, "l3")
    with pytest.raises(ValueError, match="needs a data batch"):
        channel_saliency(model, "apoz")
