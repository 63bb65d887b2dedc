"""The `tfcompress train` job: train, evaluate and export one model."""

import dataclasses

from tfcompress import models
from tfcompress import training
from tfcompress.jobs import artifacts
from tfcompress.jobs import loop
from tfcompress.jobs import runner


@dataclasses.dataclass
class TrainJob(runner.Job):
    """Trains the zoo model `model_spec` on the run's dataset.

    Writes model.keras, saved_model/, model.tflite (both exports run and
    compared with Keras on real test images) and summary.json.
    """

    model_spec: str
    name = "train"

    def config(self):
        return {"model_spec": self.model_spec}

    def _build_model(self, run):
        return models.build(self.model_spec, input_shape=run.input_shape,
                            num_classes=run.num_classes)

    def check(self, run):
        try:
            self._build_model(run)  # cheap, and checks the spec's values (dropout=2 fails)
        except ValueError as e:
            raise ValueError(f"`model_spec`: {e}") from None

    def build(self, run, phase):
        self._model = self._build_model(run)
        training.compile_classifier(self._model, optimizer=run.training.optimizer,
                                    learning_rate=run.learning_rate())
        run.log(f"Training {self.model_spec} ({self._model.count_params():,} parameters) "
                f"on {run.training.dataset} {run.training.train_split} for "
                f"{run.training.epochs} epochs.")
        return loop.Trainee(self._model)

    def finish(self, run):
        return artifacts.export_and_evaluate(run.local(self._model), run.staging,
                                             run.test(), run.check_batch(), run.test_count)
