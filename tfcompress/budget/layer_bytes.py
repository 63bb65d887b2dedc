"""A layer's file bytes, fitted on the measured files of layers like it.

A size budget's search times nothing, yet converted a file per new layer
width to learn its bytes: 1,102 conversions, 130 of the 222 s of one search
of FSDD's DS-CNN with its variants. A layer's share of a file is its weights
(4 bytes each in float, 1 in int8), its bias and per-channel quantization
parameters, and a constant (its op and tensors), so within a family (one
class and config but for the width, at any input size) bytes are linear in
the layer's weights, output and input channels. On 3x3 and 1x1
convolutions, depthwise and dense layers of 4 to 64 channels, float and
int8, the line held to the byte in int8 and within 6 bytes in float.

A new width's bytes are fitted only when at least `MIN_FILES` measured files
of its family all lie within `TOLERANCE_BYTES` of the line and the new
layer's counts lie in the span of theirs (no direction the files did not
vary); else it is converted, and its file joins the family's.
Hand-written: no library predicts TFLite file bytes.
"""

import json

import numpy as np

MIN_FILES = 4
TOLERANCE_BYTES = 32
# Config keys that hold a layer's width: a family leaves them out.
WIDTH_KEYS = ("filters", "units")


def family(key):
    """The family of a table key (`latency_table.TableLayer.key`): its class and
    config less the width, and its input's rank."""
    kind, config, shape = json.loads(key)
    return json.dumps([kind, {k: v for k, v in config.items() if k not in WIDTH_KEYS},
                       len(shape)], sort_keys=True)


def counts(layer):
    """[weights, output channels, input channels] of a `TableLayer`, built alone
    (no file converted)."""
    built = layer.kind.from_config(layer.config)
    shape = (None, *layer.input_shape)
    built.build(shape)
    return [int(sum(np.prod(w.shape) for w in built.weights)),
            int(built.compute_output_shape(shape)[-1]), int(layer.input_shape[-1])]


class Families:
    """Measured layer files by family, and new widths' bytes fitted on them."""

    def __init__(self):
        self._files = {}  # family -> [(counts, bytes)]

    def add(self, key, layer_counts, size):
        self._files.setdefault(family(key), []).append((list(layer_counts), int(size)))

    def fitted(self, key, layer_counts):
        """The bytes of the layer of `key` and `layer_counts`, or None when its
        family's files do not yet settle them."""
        files = self._files.get(family(key), [])
        if len(files) < MIN_FILES:
            return None
        rows = np.array([[1.0, *c] for c, _ in files])
        sizes = np.array([float(s) for _, s in files])
        line = np.linalg.lstsq(rows, sizes, rcond=None)[0]
        if np.max(np.abs(rows @ line - sizes)) > TOLERANCE_BYTES:
            return None
        new = np.array([1.0, *layer_counts])
        # In the span of the files' rows: the least-squares combination of
        # them reproduces it.
        combination = np.linalg.lstsq(rows.T, new, rcond=None)[0]
        if np.max(np.abs(rows.T @ combination - new)) > 1e-6 * max(1.0, np.max(new)):
            return None
        return int(round(float(new @ line)))
