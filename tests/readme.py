"""The README's code, as tests run it: a snippet is found by its marker.

A block marked `<!-- snippet: NAME -->` on the line before its ```python
fence is the user's code, run as written except for the constants a test
points at its own files.
"""

import os
import re

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def snippet(name):
    """The code of the README block marked `<!-- snippet: name -->`."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\n```python\n(.*?)\n```\n",
                      text, re.DOTALL)
    if match is None:
        raise LookupError(f"README.md has no snippet {name!r}.")
    return match.group(1)


def run_snippet(name, **constants):
    """Runs snippet `name` with `constants` (module-level NAME = value lines)
    replaced; returns its namespace."""
    code = snippet(name)
    for key, value in constants.items():
        code, count = re.subn(rf"^{key} = .*$", f"{key} = {value!r}", code,
                              flags=re.MULTILINE)
        if count != 1:
            raise LookupError(f"Snippet {name!r} sets {key} {count} times, not once.")
    namespace = {"__name__": f"readme_{name}"}
    exec(compile(code, f"README.md:{name}", "exec"), namespace)  # pylint: disable=exec-used
    return namespace
