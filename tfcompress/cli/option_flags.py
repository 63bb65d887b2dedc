"""Flags made from declared options (`jobs/options.py`), and options read back.

Defines no flag at import, so any command can use it (`cli/common.py`
defines the training commands' shared flags at import; `evaluate` takes
only some of them). A flag defined here is its caller's, as if the caller
defined it: the module whose --help lists it.
"""

import dataclasses
import sys

from absl import flags

from tfcompress.jobs import options


def _caller():
    """The name of the module calling into this one."""
    frame = sys._getframe(1)  # pylint: disable=protected-access
    while frame.f_globals["__name__"] == __name__:
        frame = frame.f_back
    return frame.f_globals["__name__"]


def define_option_flag(name, field, option, flag_values=flags.FLAGS, **changes):
    """Defines the flag `name` of a job option: its type, default, choices,
    bounds and help; an option without a default is a required flag.

    `changes`: to its `default`, or to its `Option` (help, say).
    """
    option = dataclasses.replace(option, **{k: v for k, v in changes.items()
                                            if k != "default"})
    default = changes.get("default", field.default)
    required = default is dataclasses.MISSING
    default = None if required else default
    args = {"flag_values": flag_values, "module_name": _caller(),
            **({"required": True} if required else {})}
    if option.choices is not None:  # an enum of strings, read back as the choice
        return flags.DEFINE_enum(name, None if default is None else str(default),
                                 [str(c) for c in option.choices], option.help, **args)
    kind = options.kind(field)
    if kind is tuple:
        return flags.DEFINE_list(name, list(default or ()), option.help, **args)
    if kind is bool:
        return flags.DEFINE_bool(name, default, option.help, **args)
    define = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
              float: flags.DEFINE_float}[kind]
    bounds = {k: v for k, v in (("lower_bound", option.lower_bound),
                                ("upper_bound", option.upper_bound)) if v is not None}
    return define(name, default, option.help, **bounds, **args)


def define_option_flags(job_class, flag_values=flags.FLAGS, only=None):
    """A flag for each option of `job_class`, named as its `flag`, else its
    field; returns {field: flag}.

    `only`: {field: changes to its flag (see `define_option_flag`)}, for the
    flags of these fields alone.
    """
    return {field.name: define_option_flag(option.flag or field.name, field, option,
                                           flag_values, **(only or {}).get(field.name, {}))
            for field, option in options.declared(job_class)
            if only is None or field.name in only}


def option_values(job_class, flag_values=flags.FLAGS, names=None):
    """{field: value} of `job_class`'s option flags (of the fields `names` only,
    if given)."""
    values = {}
    for field, option in options.declared(job_class):
        if names is not None and field.name not in names:
            continue
        value = flag_values[option.flag or field.name].value
        if option.choices is not None and value is not None:
            value = next(c for c in option.choices if str(c) == value)
        elif options.kind(field) is tuple:
            value = tuple(value)
        values[field.name] = value
    return values


def job_from_flags(job_class, flag_values=flags.FLAGS, **values):
    """A `job_class` of its option flags; `values` add to them, or replace them."""
    return job_class(**{**option_values(job_class, flag_values), **values})
