"""The engine's view of a Keras model on disk (the PrunableNetwork interface)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.pruning.data import load_run_data
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import FINAL_KERAS, FINAL_TFLITE, resolve


class KerasNetwork:
    """Loads models from the run directory by reference; one model is cached at a time
    (the engine asks several questions about the current model in a row)."""

    def __init__(self, run_dir: Path, data: DataSpec, options: TrainingOptions) -> None:
        self.run_dir = Path(run_dir)
        self.data_spec = data
        self.options = options
        self._cached: tuple[str, Any, Any] | None = None

    @property
    def data(self):
        return load_run_data(self.data_spec, self.options.holdout, self.options.seed)

    def _load(self, ref: str) -> tuple[Any, Any]:
        if self._cached is None or self._cached[0] != ref:
            import keras

            from service.surgery import analyze

            model = keras.saving.load_model(resolve(self.run_dir, ref), compile=False)
            self._cached = (ref, model, analyze(model))
        return self._cached[1], self._cached[2]

    def channel_groups(self, model: str) -> dict[str, int]:
        _, graph = self._load(model)
        return graph.channel_config()

    def saliency(self, model: str, method: str) -> dict[str, Sequence[float]]:
        from service.surgery import channel_saliency

        keras_model, graph = self._load(model)
        batch = self.data.x_train[: self.options.apoz_samples] if method == "apoz" else None
        scores = channel_saliency(keras_model, method, batch=batch, graph=graph)
        return {gid: [float(v) for v in s] for gid, s in scores.items()}

    def evaluate_holdout(self, model: str) -> float:
        from service.training.evaluation import evaluate

        keras_model, _ = self._load(model)
        return float(evaluate(keras_model, self.data.x_holdout, self.data.y_holdout))

    def evaluate_test(self, model: str) -> float:
        from service.training.evaluation import evaluate

        keras_model, _ = self._load(model)
        ds = self.data.dataset
        return float(evaluate(keras_model, ds.x_test, ds.y_test))

    def finalize(self, model: str) -> tuple[str, float]:
        """Long-term fine-tune on the whole training split (the holdout has done its job of
        choosing proposals), then evaluate once on the test split and export."""
        import keras

        from service.training.export import save_keras, to_tflite
        from service.training.finetune import train

        keras_model = keras.saving.load_model(resolve(self.run_dir, model), compile=False)
        opts = self.options
        ds = self.data.dataset
        if opts.long_term_epochs > 0:
            summary = train(
                keras_model,
                ds,
                epochs=opts.long_term_epochs,
                batch_size=opts.batch_size,
                learning_rate=opts.long_term_learning_rate,
                seed=opts.seed,
                augment=opts.augment,
            )
            accuracy = summary.test_accuracy
        else:
            from service.training.evaluation import evaluate

            accuracy = evaluate(keras_model, ds.x_test, ds.y_test)
        save_keras(keras_model, self.run_dir / FINAL_KERAS)
        to_tflite(keras_model, self.run_dir / FINAL_TFLITE)
        self._cached = None
        return FINAL_KERAS, float(accuracy)
