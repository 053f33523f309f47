"""Fine-tuning, baseline training helpers, evaluation and seeding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from service.training.finetune import (
    compile_for_finetune,
    evaluate,
    finetune,
    outputs_probabilities,
)
from service.training.input_pipeline import augment_batch, training_batches
from service.zoo import digits_cnn


def fresh_digits_cnn(**kwargs) -> keras.Model:
    keras.utils.set_random_seed(0)
    return digits_cnn(**kwargs)


def test_finetune_improves_an_untrained_model(digits):
    model = fresh_digits_cnn()
    before = evaluate(model, digits.x_test, digits.y_test)
    seconds = finetune(
        model, digits.x_train, digits.y_train, steps=60, batch_size=32, learning_rate=1e-3, seed=1
    )
    after = evaluate(model, digits.x_test, digits.y_test)
    assert seconds > 0
    assert before < 0.3 and after > 0.8


def test_same_seed_gives_identical_weights(digits):
    weights = []
    for _ in range(2):
        model = fresh_digits_cnn()
        finetune(
            model,
            digits.x_train,
            digits.y_train,
            steps=15,
            batch_size=32,
            learning_rate=1e-3,
            seed=5,
            augment=True,
        )
        weights.append(model.get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_logit_models_train_with_from_logits(digits):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    logits_model = keras.Model(inputs, outputs)
    assert not outputs_probabilities(logits_model)
    assert compile_for_finetune(logits_model, 1e-3).loss.from_logits
    finetune(
        logits_model, digits.x_train, digits.y_train, steps=60, batch_size=32,
        learning_rate=1e-2, seed=0,
    )
    assert evaluate(logits_model, digits.x_test, digits.y_test) > 0.8


def test_probability_outputs_are_detected():
    assert outputs_probabilities(digits_cnn())
    inputs = keras.Input((4,))
    softmax_layer = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(inputs)))
    activation_layer = keras.Model(
        inputs, keras.layers.Activation("softmax")(keras.layers.Dense(3)(inputs))
    )
    assert outputs_probabilities(softmax_layer) and outputs_probabilities(activation_layer)
    assert not compile_for_finetune(softmax_layer, 1e-3).loss.from_logits


def test_evaluate_classification_and_per_pixel_accuracy():
    identity = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    scores = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]
    assert evaluate(identity, scores, np.array([0, 1, 2, 0]), batch_size=3) == 0.75

    pixel_identity = keras.Sequential([keras.Input((2, 2, 2)), keras.layers.Identity()])
    masks = np.array([[[0, 1], [1, 1]]])
    pixel_scores = np.eye(2, dtype=np.float32)[[[[0, 1], [0, 0]]]]
    assert evaluate(pixel_identity, pixel_scores, masks) == 0.5


def test_training_batches_visit_every_sample_each_pass():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10)
    batches = list(training_batches(x, y, batch_size=5, seed=0, augment=False).take(4))
    first_pass = np.concatenate([labels.numpy() for _, labels in batches[:2]])
    second_pass = np.concatenate([labels.numpy() for _, labels in batches[2:]])
    assert sorted(first_pass) == sorted(second_pass) == list(range(10))
    assert first_pass.tolist() != second_pass.tolist()


def test_augmentation_moves_masks_with_images():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (16, 8, 8))
    images = tf.constant(masks[..., None], tf.float32)
    augmented, augmented_masks = augment_batch(
        images, tf.constant(masks), seed=tf.constant([3, 4], tf.int64)
    )
    np.testing.assert_array_equal(augmented.numpy()[..., 0], augmented_masks.numpy())
    assert not np.array_equal(augmented_masks.numpy(), masks)


def test_set_seeds_makes_runs_repeatable():
    # In a subprocess: op determinism is process-wide and cannot be switched off again.
    script = (
        "import random, numpy, tensorflow as tf\n"
        "from service.training.seeding import set_seeds\n"
        "for _ in range(2):\n"
        "    set_seeds(3)\n"
        "    print(random.random(), numpy.random.rand(), float(tf.random.uniform(())))\n"
    )
    repo_root = str(Path(__file__).resolve().parents[2])
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": repo_root},
    )
    first, second = completed.stdout.strip().splitlines()
    assert first == second
