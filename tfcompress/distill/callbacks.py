"""Callbacks for training through a `Distiller`."""

from tfcompress._keras import keras


class StudentCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves the Distiller's student, not the Distiller.

    Takes ModelCheckpoint's arguments; `monitor` reads the Distiller's logs
    (e.g. "val_accuracy", "val_loss"), and the file holds only the student,
    ready to export.
    """

    def set_model(self, model):
        super().set_model(getattr(model, "student", model))
