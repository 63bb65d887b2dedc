"""One declaration per job option: a dataclass field that carries its help,
default and bounds.

The command line's flags (`cli/option_flags.py`), the run's config
(`Job.config`) and the pipeline's per-stage options (`pipeline/stages.py`)
are all made from these fields, so adding an option touches one place:

    class MyJob(runner.Job):
        width: int = options.option(8, "Units of the new layer.", lower_bound=1)
"""

import dataclasses
import json

_KEY = "tfcompress.option"


@dataclasses.dataclass(frozen=True)
class Option:
    """What a job option declares besides its name, type and default.

    Attributes:
      help: the help of its flags.
      choices: the values it takes (its flag is an enum), or None.
      lower_bound, upper_bound: bounds of a number's flag, or None.
      flag: its flag's name on the job's command, when not the field's.
      record: turns its value into what the run's config records (a model's
        absolute path, say); None: the value itself.
    """

    help: str
    choices: tuple = None
    lower_bound: float = None
    upper_bound: float = None
    flag: str = None
    record: object = None


def option(default=dataclasses.MISSING, help="", **declared):  # pylint: disable=redefined-builtin
    """A dataclass field declaring one option; without a default, it is required.

    `declared`: the rest of `Option` (choices, lower_bound, upper_bound, flag,
    record).
    """
    return dataclasses.field(default=default, metadata={_KEY: Option(help, **declared)})


def declared(job):
    """[(field, Option)] of a job's (or job class's) options, in their order."""
    if not dataclasses.is_dataclass(job):
        return []
    return [(f, f.metadata[_KEY]) for f in dataclasses.fields(job) if _KEY in f.metadata]


def kind(field):
    """An option field's type: str, int, float, bool or tuple (also when annotated
    as a string, under `from __future__ import annotations`)."""
    found = _KINDS.get(field.type, field.type)
    if found not in _KINDS.values():
        raise TypeError(f"Option `{field.name}` is of type {field.type!r}; options are "
                        "str, int, float, bool or tuple (a list flag).")
    return found


_KINDS = {t.__name__: t for t in (str, int, float, bool, tuple)}


def redeclared(option, default, **changes):
    """A field declaring `option` anew, with `default` and `changes` to it (the
    pipeline's options are made from the jobs' this way)."""
    return dataclasses.field(default=default, metadata={
        _KEY: dataclasses.replace(option, **changes)})


def record(job):
    """The job's options as its run's config records them."""
    return {f.name: o.record(getattr(job, f.name)) if o.record else getattr(job, f.name)
            for f, o in declared(job)}


def read_pairs(text, arg_name, convert, file_key, what):
    """{name: convert(value)} from "a=1,b=2", or from a .json file of that mapping.

    A file may instead hold a run's record with the mapping under
    `file_key` (a shrink run's plan "widths", a prune run's "plan"), so one
    run's choice can be given to another. Returns None when the text's pairs
    do not parse; the caller checks the values and words the error.

    Raises:
      ValueError: a .json file that cannot be read, naming `arg_name` and
        saying it should hold `what`.
    """
    text = str(text)
    if text.endswith(".json"):
        try:
            with open(text, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"`{arg_name}` {text!r} cannot be read as a JSON file of "
                             f"{what}: {e}") from None
        return record.get(file_key, record) if isinstance(record, dict) else record
    try:
        return {name.strip(): convert(value) for name, value in (
            item.split("=") for item in text.split(",") if item.strip())}
    except ValueError:
        return None
