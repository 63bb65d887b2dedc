"""Fine-tuning jobs train on logits: a model that ends in a softmax is refused."""

from tfcompress.models.outputs import ends_in_softmax


def require_logits(model, path, arg_name="model"):
    """Raises ValueError if `model` outputs probabilities (ends in a softmax).

    The jobs fine-tune with cross-entropy from logits; on probabilities that
    loss trains the wrong thing without any error, so it is stopped here.
    """
    if ends_in_softmax(model):
        raise ValueError(
            f"`{arg_name}` {path!r} ends in a softmax (it outputs probabilities), but "
            "tfcompress fine-tunes on logits: save the model without its last softmax "
            "(keras.applications: `classifier_activation=None`) and pass that file.")
