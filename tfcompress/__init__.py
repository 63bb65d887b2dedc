"""tfcompress: make Keras models small and fast for deployment.

Keras 3 and tf_keras models alike. Give Keras 3, get Keras 3 back: a Keras 3
model is converted to a tf_keras twin for TFMOT (`tfcompress.keras3`), and
what a call finishes (`shrink`, `prune.strip`, a `Distiller`'s `student`,
every job's model.keras) comes back as Keras 3; what still trains under
TFMOT (`prune(...).model`, `quantize_aware`) stays tf_keras until finished.
Keras 3 callbacks, optimizers, losses and metrics work in their `fit`.

Extension points: `distill.DistillationTerm` (a loss of your own),
`shrink.register` (a layer of your own in structured pruning),
`keras3.register` (a layer of your own across the bridge), and
`jobs.options.option` (a job option declared once).

The public API. Submodules hold one concept each: `data`, `models`,
`distill`, `prune`, `shrink` (structured pruning), `quantize`, `training`,
`evaluate`, `export`, `runtime` (running .tflite files), `keras3` (the
bridge), `graph`, `budget` (measurements for compressing to a budget), `jobs`
(the job runner), `pipeline`, `cli`.

Names load on first use (PEP 562), so `tfcompress --help` answers without
importing TensorFlow, and the CLI can set TensorFlow's log level first.
"""

import importlib

from tfcompress._version import __version__  # noqa: F401

# public name -> module that defines it
_EXPORTS = {
    "budget": "tfcompress.budget",
    "data": "tfcompress.data",
    "distill": "tfcompress.distill",
    "evaluate": "tfcompress.evaluate",
    "export": "tfcompress.export",
    "graph": "tfcompress.graph",
    "jobs": "tfcompress.jobs",
    "keras3": "tfcompress.keras3",
    "pipeline": "tfcompress.pipeline",
    "quiet": "tfcompress.quiet",
    "shrink": "tfcompress.shrink",
    "cli": "tfcompress.cli",
    "models": "tfcompress.models",
    "prune": "tfcompress.prune",
    "quantize": "tfcompress.quantize",
    "runtime": "tfcompress.runtime",
    "training": "tfcompress.training",
    "artifact_size": "tfcompress.evaluate",
    "count_params": "tfcompress.evaluate",
    "Distiller": "tfcompress.distill",
    "StudentCheckpoint": "tfcompress.distill",
    "evaluate_classifier": "tfcompress.evaluate",
    "evaluate_tflite": "tfcompress.evaluate",
    "measure_latency": "tfcompress.evaluate",
    "optimize": "tfcompress.jobs.optimize",
    "ExportValidationError": "tfcompress.export",
    "export_saved_model": "tfcompress.export",
    "export_tflite": "tfcompress.export",
    "load_keras_model": "tfcompress.export",
    "save_keras_model": "tfcompress.export",
    "compile_classifier": "tfcompress.training",
    "train_classifier": "tfcompress.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tfcompress' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"tfcompress.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
