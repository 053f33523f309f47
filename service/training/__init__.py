"""Datasets, seeding, training, evaluation and export for the Keras side of the service.

Import the submodules directly (service.training.datasets, .finetune, .export, ...):
this package module stays empty so that importing a light submodule such as
dataset_types does not pull in TensorFlow.
"""
