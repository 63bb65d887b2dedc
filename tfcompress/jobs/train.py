"""The `tfcompress train` job: train, evaluate and export one model."""

import dataclasses

from tfcompress import data
from tfcompress import models
from tfcompress import training
from tfcompress.jobs import artifacts
from tfcompress.jobs import loop
from tfcompress.jobs import options
from tfcompress.jobs import runner


def build_for_data(spec, run):
    """The zoo model `spec`, built for the run's inputs and classes.

    On text (tsv:) the model takes the vocabulary size and sequence length of
    the data, on images (and audio clips) the run's input shape. Jobs that
    build a zoo model (train, and distill's student) share this, so both read
    the data alike. An audio model's own input shape ((samples,) for
    (samples, 1) clips) becomes the run's.
    """
    source = data.open_source(run.training.dataset, run.training.data_dir)
    if source.is_text:
        inputs = {"vocab_size": source.vocabulary_size,
                  "sequence_length": source.sequence_length}
    else:
        inputs = {"input_shape": run.input_shape}
        if getattr(source, "is_audio", False):  # the frontend computes features at this rate
            inputs["sample_rate"] = source.sample_rate
    model = models.build(spec, num_classes=run.num_classes, **inputs)
    run.take_built_input_shape(model, "model_spec")
    return model


@dataclasses.dataclass
class TrainJob(runner.Job):
    """Trains the zoo model `model_spec` on the run's dataset.

    Writes model.keras, saved_model/, model.tflite (both exports run and
    compared with Keras on real test images) and summary.json; on text
    (tsv:), also vocabulary.txt, and the text model is built for its
    vocabulary size and sequence length.
    """

    model_spec: str = options.option(
        "lenet_300_100", "Model spec: NAME[:ARGS], e.g. lenet_300_100, lenet5, mlp:800,800, "
        "mlp:1200,1200,dropout=0.5, small_cnn:16,32, resnet8, mobilenet_v2:alpha=0.35; "
        "on audio clips ds_cnn.",
        flag="model")
    name = "train"

    def _build_model(self, run):
        return build_for_data(self.model_spec, run)

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
