"""Masked short-term fine-tunes: the same function as the physically pruned model.

A proposal is fine-tuned as its parent's graph with channel masks; the kept one is then
pruned for real. These tests hold the two paths to computing the same thing (same seed,
same batches, a few Adam steps), check that masked channels get exactly no update, and
that re-estimating batch-norm statistics touches nothing else.

The two paths differ only by float rounding (a conv over zeroed channels sums in another
order than one without them, where the kernels block channels differently), and training
from a fresh initialisation amplifies rounding: measured here, a 1e-7 relative perturbation
of the resnet20's weights grows to 4% of its outputs in 8 SGD steps at lr 0.01. So the
comparison runs where it is well-conditioned, as NetAdapt proposes: kept channel counts in
multiples of 8, 3 Adam steps at a fine-tuning learning rate. (Kept counts that are not
multiples of 8 and higher learning rates differ by up to ~1e-3 after a few steps on the
MobileNetV2, by rounding alone.)"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from keras import layers

from service import zoo
from service.surgery import analyze, prune
from service.training.datasets import load_dataset
from service.training.short_term import ShortTermSettings, ShortTermTrainer, batch_order
from tests.helpers.keras_blocks import conv_bn_relu
from tests.surgery.exactness import randomize_batchnorm

SETTINGS = ShortTermSettings(steps=3, batch_size=32, learning_rate=1e-4, augment=True, batchnorm_samples=128)


def concat_net(input_shape: tuple[int, int, int] = (16, 16, 3)) -> keras.Model:
    """Two conv branches concatenated (index offsets), then a conv, GAP and a classifier."""
    inputs = keras.Input(input_shape, name="input")
    a = conv_bn_relu(inputs, 16, 3, "branch_a")
    b = conv_bn_relu(inputs, 24, 1, "branch_b")
    x = layers.Concatenate(name="cat")([a, b])
    x = conv_bn_relu(x, 32, 3, "mix", strides=2)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="concat_net")


MODELS = {
    "vgg": lambda: zoo.vgg(input_shape=(16, 16, 3)),
    "mobilenet_v2": lambda: zoo.mobilenet_v2(input_shape=(16, 16, 3)),
    "resnet20": lambda: zoo.resnet20(input_shape=(16, 16, 3)),
    "concat": concat_net,
}


@functools.lru_cache(maxsize=1)
def splits() -> tuple[np.ndarray, ...]:
    data = load_dataset("digits", image_size=(16, 16), channels=3)
    return data.x_train[:512], data.y_train[:512], data.x_test[:200], data.y_test[:200]


def build(name: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    randomize_batchnorm(model)
    return model


def half_of_every_group(graph) -> dict[str, list[int]]:
    """Every prunable group keeps a random half of its channels, rounded to a multiple of 8
    (as NetAdapt proposes them with its default channel step)."""
    rng = np.random.default_rng(3)
    return {
        g.id: sorted(rng.choice(g.channels, size=max(8, g.channels // 16 * 8), replace=False).tolist())
        for g in graph.prunable_groups
        if g.channels > 8
    }


def trainer(model: keras.Model, *, masked: bool, settings: ShortTermSettings = SETTINGS) -> ShortTermTrainer:
    x, y, xh, yh = splits()
    return ShortTermTrainer(model, analyze(model), x, y, xh, yh, settings, masked=masked)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_masked_finetune_equals_pruned_finetune(name: str) -> None:
    parent = build(name)
    keep = half_of_every_group(analyze(parent))
    masked = trainer(parent, masked=True)
    pruned_model = prune(build(name), keep)  # the same parent weights, pruned for real
    physical = trainer(pruned_model, masked=False)

    masked_score = masked.run(keep, seed=11)
    physical_score = physical.run(None, seed=11)

    _, _, xh, _ = splits()
    masked_out = masked.forward(xh, training=False).numpy()
    physical_out = physical.forward(xh, training=False).numpy()
    assert len(keep) >= 3
    # Not a vacuous pass: the fine-tune moved the outputs away from the pruned parent's.
    physical.reset(None)
    physical.reestimate_batchnorm(seed=11)
    untouched = physical.forward(xh, training=False).numpy()
    assert np.max(np.abs(physical_out - untouched)) > 1e-3 * np.max(np.abs(untouched))
    scale = np.max(np.abs(physical_out))
    assert np.max(np.abs(masked_out - physical_out)) <= 1e-4 * scale
    assert masked_score.holdout_accuracy == physical_score.holdout_accuracy
    assert masked_score.holdout_loss == pytest.approx(physical_score.holdout_loss, rel=1e-4)


def test_masked_channels_receive_exactly_zero_update() -> None:
    parent = build("vgg")
    graph = analyze(parent)
    keep = {"conv3": list(range(0, 64, 2))}
    before = {w.path: w.numpy().copy() for w in parent.weights}
    masked = trainer(parent, masked=True)
    masked.reset(keep)
    masked.finetune(seed=5, steps=SETTINGS.steps)  # Adam: zero gradients must stay zero steps
    after = {w.path: w.numpy() for w in parent.weights}
    dropped = np.setdiff1d(np.arange(64), keep["conv3"])
    kept = np.asarray(keep["conv3"])

    def by_layer(layer: str, kind: str) -> str:
        return next(p for p in after if p.startswith(f"{layer}/") and p.endswith(kind))

    # The producer's filters, its BN's gamma/beta, the consumer's input slices: all frozen.
    for path, axis in [
        (by_layer("conv3", "kernel"), 3),
        (by_layer("conv3_bn", "gamma"), 0),
        (by_layer("conv3_bn", "beta"), 0),
        (by_layer("conv4", "kernel"), 2),
    ]:
        np.testing.assert_array_equal(np.take(after[path], dropped, axis), np.take(before[path], dropped, axis))
        assert not np.array_equal(np.take(after[path], kept, axis), np.take(before[path], kept, axis))
    assert graph.group_by_id["conv3"].prunable


def test_reset_restores_the_parent_and_results_do_not_depend_on_history() -> None:
    parent = build("resnet20")
    graph = analyze(parent)
    groups = [g.id for g in graph.prunable_groups][:2]
    keep_a = {groups[0]: list(range(graph.group_by_id[groups[0]].channels // 2))}
    keep_b = {groups[1]: list(range(graph.group_by_id[groups[1]].channels // 2))}
    masked = trainer(parent, masked=True)
    initial = [w.copy() for w in masked.weights()]
    first = masked.run(keep_a, seed=2)
    masked.run(keep_b, seed=2)
    again = masked.run(keep_a, seed=2)
    assert (again.holdout_accuracy, again.holdout_loss) == (first.holdout_accuracy, first.holdout_loss)
    masked.reset(None)
    for restored, original in zip(masked.weights(), initial):
        np.testing.assert_array_equal(restored, original)


def test_batchnorm_reestimation_changes_only_moving_statistics() -> None:
    parent = build("vgg")
    masked = trainer(parent, masked=False)
    before = {w.path: w.numpy().copy() for w in parent.weights}
    masked.reestimate_batchnorm(seed=4)
    after = {w.path: w.numpy() for w in parent.weights}
    changed = {path for path, value in before.items() if not np.array_equal(value, after[path])}
    assert changed, "re-estimation must update the moving statistics"
    assert all(path.endswith(("moving_mean", "moving_variance")) for path in changed)
    # The first BN sees conv1's outputs of the sampled images: its moving statistics are
    # now exactly their mean and (population) variance.
    x, _, _, _ = splits()
    order = np.random.default_rng([4, 0x424E]).permutation(len(x))[: SETTINGS.batchnorm_samples]
    conv1 = keras.Model(parent.inputs, parent.get_layer("conv1").output)
    features = conv1(x[order]).numpy().reshape(-1, 32)
    bn = parent.get_layer("conv1_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), features.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), features.var(axis=0), rtol=1e-3, atol=1e-5)


def test_every_proposal_of_a_seed_sees_the_same_batches() -> None:
    first = batch_order(100, 32, 10, seed=9)
    assert [b.tolist() for b in first] == [b.tolist() for b in batch_order(100, 32, 10, seed=9)]
    assert [b.tolist() for b in first] != [b.tolist() for b in batch_order(100, 32, 10, seed=10)]
    # Each pass over the data is a permutation: 3 full batches per pass of 100 samples.
    assert all(len(set(np.concatenate(first[i : i + 3]).tolist())) == 96 for i in (0, 3, 6))


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        ShortTermSettings(steps=1, optimizer="rmsprop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ShortTermSettings(steps=1, batch_size=0)
