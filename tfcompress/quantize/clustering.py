"""Weight clustering (weight sharing) with TFMOT: each clustered kernel keeps
at most N distinct values, which compress well and survive int8 QAT (CQAT)."""

import numpy as np
import tensorflow_model_optimization as tfmot

from tfcompress import _tfmot_wrappers
from tfcompress._checks import check_positive_int
from tfcompress._keras import keras
from tfcompress._keras import require_keras2_model
from tfcompress.keras3 import accepts_keras3

_CLUSTERING = tfmot.clustering.keras

# Layers whose kernels are clustered by default: those that hold nearly all
# of the weights of the models we compress.
CLUSTERED_TYPES = (keras.layers.Dense, keras.layers.Conv2D)


@accepts_keras3("model", returns_model=True)
def cluster(model, number_of_clusters, *, preserve_sparsity=True):
    """A copy of `model` whose Dense and Conv2D kernels are clustered.

    Centroids start with k-means++ on each kernel (TFMOT). Fine-tune the
    result (a few epochs at a low learning rate), then `strip_clusters`.

    Args:
      model: tf_keras Sequential or functional model, without pruning
        wrappers.
      number_of_clusters: int >= 2, distinct values per kernel.
      preserve_sparsity: keep zero weights zero (for pruned models).
    """
    require_keras2_model(model)
    check_positive_int("number_of_clusters", number_of_clusters)
    if number_of_clusters < 2:
        raise ValueError(f"`number_of_clusters` must be at least 2, got "
                         f"{number_of_clusters}.")
    if _tfmot_wrappers.has_pruning_wrappers(model):
        raise ValueError(f"{model.name!r} still has pruning wrappers: strip them "
                         "first (tfcompress.prune.strip).")
    params = dict(number_of_clusters=number_of_clusters, preserve_sparsity=preserve_sparsity,
                  cluster_centroids_init=_CLUSTERING.CentroidInitialization.KMEANS_PLUS_PLUS)

    # The wrappers hold the layers they wrap and set their centroids from the
    # layer's kernel when built: wrap a trained private copy, so training
    # the result never changes `model`.
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())

    def wrap(layer):
        if isinstance(layer, CLUSTERED_TYPES):
            return _CLUSTERING.cluster_weights(layer, **params)
        return layer

    with _CLUSTERING.cluster_scope():
        return keras.models.clone_model(copy, clone_function=wrap)


@accepts_keras3("model", returns_model=True)
def strip_clusters(model):
    """`model` without clustering wrappers, kernels holding the shared values."""
    require_keras2_model(model)
    return _CLUSTERING.strip_clustering(model)


def distinct_values(model):
    """{layer name: number of distinct values in its kernel} for Dense/Conv2D."""
    return {layer.name: int(np.unique(layer.kernel.numpy()).size)
            for layer in model.layers if isinstance(layer, CLUSTERED_TYPES)}
