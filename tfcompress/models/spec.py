"""Model specs: short strings that name a zoo model, for flags and configs.

Grammar: NAME[:ARG,ARG,...] where each ARG is an int (layer sizes, filters)
or KEY=VALUE (a float keyword such as dropout=0.5). Examples:
"lenet_300_100", "mlp:800,800", "mlp:1200,1200,dropout=0.5", "small_cnn:16,32",
"residual_cnn:32,64".
"""

from tfcompress.models import zoo

# name -> (builder, takes the int list as first argument, float keywords)
_BUILDERS = {
    "mlp": (zoo.mlp, True, ("dropout", "input_dropout")),
    "lenet_300_100": (zoo.lenet_300_100, False, ()),
    "lenet5": (zoo.lenet5, False, ()),
    "small_cnn": (zoo.small_cnn, True, ()),
    "residual_cnn": (zoo.residual_cnn, True, ()),
    "hinton_teacher": (zoo.hinton_teacher, False, ()),
    "hinton_student": (zoo.hinton_student, False, ()),
}

NAMES = tuple(sorted(_BUILDERS))


def parse(spec):
    """Splits a spec into (name, int args, keyword args).

    Raises:
      ValueError: unknown name, or an argument the model does not take.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Model spec must be a non-empty string, got {spec!r}.")
    name, _, arg_text = spec.strip().partition(":")
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown model {name!r} in spec {spec!r}; known models: "
            f"{', '.join(NAMES)} (e.g. 'mlp:800,800')."
        )
    _, takes_sizes, allowed_keywords = _BUILDERS[name]
    sizes, keywords = [], {}
    for arg in filter(None, (a.strip() for a in arg_text.split(","))):
        key, eq, value = arg.partition("=")
        try:
            if eq:
                if key not in allowed_keywords:
                    raise ValueError(f"{name!r} takes no keyword {key!r}")
                keywords[key] = float(value)
            else:
                sizes.append(int(arg))
        except ValueError as e:
            raise ValueError(
                f"Bad argument {arg!r} in model spec {spec!r} ({e}); arguments "
                f"are ints or KEY=VALUE with KEY in {list(allowed_keywords)}."
            ) from None
    if sizes and not takes_sizes:
        raise ValueError(
            f"Model {name!r} takes no arguments, got spec {spec!r}; use 'mlp:...' "
            "or 'small_cnn:...' for custom sizes."
        )
    return name, sizes, keywords


def build(spec, *, input_shape=zoo.MNIST_SHAPE, num_classes=10):
    """Builds the tf_keras model a spec names (see the module docstring)."""
    name, sizes, keywords = parse(spec)
    builder, takes_sizes, _ = _BUILDERS[name]
    args = (tuple(sizes),) if takes_sizes and sizes else ()
    return builder(*args, input_shape=input_shape, num_classes=num_classes,
                   **keywords)
