"""Export to SavedModel and TFLite; every artifact is run before it lands."""

from tfcompress.export.keras_model import load_keras3_file
from tfcompress.export.keras_model import load_keras_model
from tfcompress.export.keras_model import save_keras_model
from tfcompress.export.model_formats import check_keras_path
from tfcompress.export.keras_model import saved_by_keras3
from tfcompress.export.saved_model import export_saved_model
from tfcompress.export.tflite import export_tflite
from tfcompress.export.validation import ExportResult
from tfcompress.export.validation import ExportValidationError

__all__ = ["ExportResult", "ExportValidationError", "check_keras_path", "export_saved_model",
           "export_tflite", "load_keras3_file", "load_keras_model", "save_keras_model",
           "saved_by_keras3"]
