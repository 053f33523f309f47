"""The engine's view of a Keras model on disk (the PrunableNetwork interface)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.netadapt.interfaces import ProposalResult, ProposalSpec
from service.pruning.data import load_run_data
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import FINAL_KERAS, FINAL_TFLITE, iteration_artifact, resolve


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
        """Holdout accuracy after re-estimating the BN statistics, as proposals are scored."""
        import keras

        keras_model = keras.saving.load_model(resolve(self.run_dir, model), compile=False)
        return self._rescored(keras_model)[0]

    def _rescored(self, keras_model: Any) -> tuple[float, Any]:
        """(holdout accuracy, model) after BN re-estimation on the run's training split, with
        the re-estimated statistics left in the model."""
        from service.pruning.proposal_worker import ProposalContext, build_trainer

        context = ProposalContext(str(self.run_dir), self.data_spec, self.options)
        trainer = build_trainer(keras_model, context, masked=False)
        score = trainer.run(None, self.options.seed, steps=0)
        return float(score.holdout_accuracy), keras_model

    def commit(self, spec: ProposalSpec, result: ProposalResult) -> str:
        """The kept proposal, physically pruned: its fine-tuned (parent-shaped) weights on
        the parent, minus the channels it masked, saved as the iteration's model."""
        import keras

        from service.pruning.proposal_worker import load_weights
        from service.surgery import prune
        from service.training.export import save_keras

        target = iteration_artifact(spec.iteration)
        source = resolve(self.run_dir, result.model)
        if source.suffix == ".keras":  # a proposal saved whole (runs started before masks)
            pruned = keras.saving.load_model(source, compile=False)
        else:
            parent = keras.saving.load_model(resolve(self.run_dir, spec.parent), compile=False)
            parent.set_weights(load_weights(source))
            pruned = prune(parent, {spec.group: list(spec.keep)})
        save_keras(pruned, resolve(self.run_dir, target))
        self._cached = None
        return target

    def shrink(
        self, model: str, group: str, keep: Sequence[int], iteration: int
    ) -> tuple[str, float]:
        """`model` with `group` cut to `keep` (no fine-tune; BN statistics re-estimated),
        saved as the iteration's model; returns it and its holdout accuracy."""
        from service.surgery import prune
        from service.training.export import save_keras

        keras_model, graph = self._load(model)
        pruned = prune(keras_model, {group: list(keep)}, graph=graph)
        accuracy, pruned = self._rescored(pruned)
        target = iteration_artifact(iteration)
        save_keras(pruned, resolve(self.run_dir, target))
        self._cached = None
        return target, accuracy

    def evaluate_test(self, model: str) -> float:
        from service.training.evaluation import evaluate

        keras_model, _ = self._load(model)
        ds = self.data.dataset
        return float(evaluate(keras_model, ds.x_test, ds.y_test))

    def finalize(self, model: str) -> tuple[str, float]:
        """Long-term fine-tune on the whole training split (the holdout has done its job of
        choosing proposals), then evaluate once on the test split and export .keras and the
        device .tflite."""
        import keras

        from service.pruning.run_tflite import write_run_tflite
        from service.training.export import save_keras
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
        # The conversion the run measured, at its precision (int8: calibrated on the
        # training split); fine-tuning above stayed in float.
        write_run_tflite(keras_model, self.run_dir / FINAL_TFLITE, self.data_spec, opts)
        self._cached = None
        return FINAL_KERAS, float(accuracy)
