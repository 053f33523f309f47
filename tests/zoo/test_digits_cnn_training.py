"""The digits CNN is the service's quick end-to-end model: it must learn digits for real."""

from __future__ import annotations

from service.training.datasets import load_dataset
from service.training.finetune import train
from service.zoo import digits_cnn


def test_digits_cnn_reaches_95_percent_quickly():
    dataset = load_dataset("digits")
    summary = train(
        digits_cnn(), dataset, epochs=10, batch_size=64, learning_rate=3e-3, seed=0
    )
    assert summary.test_accuracy >= 0.95
    assert summary.seconds < 60
