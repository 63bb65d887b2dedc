"""Callbacks for training through a `Distiller`."""

from tfcompress._keras import keras
from tfcompress.keras3 import callbacks as keras3_callbacks


class StudentCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves the Distiller's student, not the Distiller.

    Takes ModelCheckpoint's arguments; `monitor` reads the Distiller's logs
    (e.g. "val_accuracy", "val_loss"), and the file holds only the student,
    ready to export: a Keras 3 file when the student came as Keras 3, so
    `keras.saving.load_model` reads it.
    """

    def set_model(self, model):
        student = getattr(model, "tf_keras_student", model)
        super().set_model(keras3_callbacks.ModelView(
            student, finished=lambda: getattr(model, "student", model)))
