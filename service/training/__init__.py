"""Datasets, seeding, training, evaluation and export for the Keras side of the service."""

from service.training.datasets import (
    Dataset,
    DatasetError,
    IncompatibleDatasetError,
    check_compatible,
    holdout_split,
    load_dataset,
)
from service.training.export import save_keras, to_tflite
from service.training.finetune import (
    TrainingSummary,
    compile_for_finetune,
    evaluate,
    finetune,
    train,
)
from service.training.seeding import set_seeds
from service.training.tflite_inference import tflite_predict

__all__ = [
    "Dataset",
    "DatasetError",
    "IncompatibleDatasetError",
    "TrainingSummary",
    "check_compatible",
    "compile_for_finetune",
    "evaluate",
    "finetune",
    "holdout_split",
    "load_dataset",
    "save_keras",
    "set_seeds",
    "tflite_predict",
    "to_tflite",
    "train",
]
