"""Argument checks shared across modules; errors name the argument and value."""


def check_positive_int(arg_name, value):
    """Raises ValueError unless `value` is an int > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{arg_name}` must be a positive int, got {value!r}.")
    return value
