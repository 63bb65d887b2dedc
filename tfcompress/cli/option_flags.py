"""Flags made from declared options (`jobs/options.py`), and options read back.

Defines no flag at import, so any command can use it: `cli/common.py`
defines the training commands' shared flags at import, `evaluate` only some.
"""

import dataclasses
import sys

from absl import flags

from tfcompress.jobs import options


def define_option_flags(job_class, flag_values=flags.FLAGS, only=None):
    """A flag for each option of `job_class`, named as its `flag`, else its
    field: its type, default, choices, bounds and help (an option without a
    default is a required flag). Returns {field: flag}.

    `only`: {field: changes to its `default` or `Option` (`help`, say)}, for
    the flags of these fields alone.
    """
    # The caller's flags, as if it defined them: the module whose --help lists them.
    caller = sys._getframe(1).f_globals["__name__"]  # pylint: disable=protected-access
    args = {"flag_values": flag_values, "module_name": caller}
    defined = {}
    for field, option in options.declared(job_class):
        if only is None or field.name in only:
            changes = dict((only or {}).get(field.name, {}))
            default = changes.pop("default", field.default)
            defined[field.name] = _define(option.flag or field.name, field, default,
                                          dataclasses.replace(option, **changes), **args)
    return defined


def _define(name, field, default, option, **args):
    if default is dataclasses.MISSING:
        default, args["required"] = None, True
    if option.choices is not None:  # an enum of strings, read back as the choice
        return flags.DEFINE_enum(name, None if default is None else str(default),
                                 [str(c) for c in option.choices], option.help, **args)
    kind = options.kind(field)
    if kind is tuple:
        return flags.DEFINE_list(name, list(default or ()), option.help, **args)
    if kind is bool:
        return flags.DEFINE_bool(name, default, option.help, **args)
    bounds = {k: getattr(option, k) for k in ("lower_bound", "upper_bound")
              if getattr(option, k) is not None}
    define = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
              float: flags.DEFINE_float}[kind]
    return define(name, default, option.help, **bounds, **args)


def option_values(job_class, flag_values=flags.FLAGS, names=None):
    """{field: value} of `job_class`'s option flags (of the fields `names` only,
    if given)."""
    values = {}
    for field, option in options.declared(job_class):
        if names is None or field.name in names:
            value = flag_values[option.flag or field.name].value
            if option.choices is not None:
                value = next((c for c in option.choices if str(c) == value), None)
            elif options.kind(field) is tuple:
                value = tuple(value)
            values[field.name] = value
    return values


def job_from_flags(job_class, flag_values=flags.FLAGS, **values):
    """A `job_class` of its option flags; `values` add to them, or replace them."""
    return job_class(**{**option_values(job_class, flag_values), **values})
