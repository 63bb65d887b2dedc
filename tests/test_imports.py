"""Every module imports alone, and tfcompress's layers import only downward.

Two checks of "Layers import downward" in ../shared/STYLE.md (the style
guide beside the repo): a fresh interpreter imports each module with no
other tfcompress module loaded before it (an import cycle that works only in
one import order fails there), and the import statements in the source, read
with `ast`, form no cycle between subpackages and never reach a higher
layer.
"""

import ast
import json
import os
import pathlib
import signal
import subprocess
import sys
import unittest

import tensorflow as tf

_REPO = pathlib.Path(__file__).resolve().parents[1]
_PACKAGE = _REPO / "tfcompress"

# The layers, bottom first. A unit (a subpackage, or a module right under
# tfcompress/) imports units of its own layer or below, never above; imports
# within a layer must not form a cycle. "__init__" is tfcompress/__init__.py,
# the public API over everything: no module imports names from it.
_LAYERS = (
    ("_atomic", "_checks", "_keras", "_tfmot_wrappers", "_version", "quiet", "runtime"),
    ("data", "models", "graph", "keras3"),
    ("budget", "charts", "distill", "evaluate", "export", "prune", "quantize", "shrink",
     "training"),
    ("jobs", "pipeline"),
    ("cli",),
    ("__init__",),
)
_LAYER = {unit: i for i, units in enumerate(_LAYERS) for unit in units}

# The bottom layer is narrower: all that each of its units may import from
# tfcompress. runtime/ runs .tflite files and needs neither Keras nor TFMOT.
_BOTTOM_IMPORTS = {
    "_atomic": (),
    "_checks": (),
    "_keras": (),
    "_tfmot_wrappers": ("_keras",),
    "_version": (),
    "quiet": (),
    "runtime": ("_checks", "quiet"),
}

# Imported once in the child before it forks (see `_import_each_alone`).
_HEAVY = ("absl.app", "absl.flags", "absl.logging", "ai_edge_litert.interpreter",
          "tensorflow", "tensorflow_datasets", "tensorflow_model_optimization",
          "tf_keras")

# Runs in the child: argv[1] is a JSON list of the modules to import, argv[2]
# one of the packages to import first; prints {module: last line of its
# traceback} for the modules that failed, as JSON.
_CHILD = r"""
import importlib, json, os, sys, traceback, warnings

warnings.simplefilter("ignore")  # fork() in a threaded process warns
modules = json.loads(sys.argv[1])
for heavy in json.loads(sys.argv[2]):
    importlib.import_module(heavy)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tfcompress")
assert not loaded, f"tfcompress modules loaded before forking: {loaded}"
failures = {}
for module in modules:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 0
        try:
            importlib.import_module(module)
        except BaseException:
            status = 1
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(traceback.format_exc().strip().splitlines()[-1])
        os._exit(status)  # no atexit handlers, no flushing the parent's buffers
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code:
        failures[module] = message or (f"killed by signal {-code}" if code < 0
                                       else f"exit status {code}")
print(json.dumps(failures))
"""


def _module_name(path):
    parts = path.relative_to(_REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources():
    return sorted(_PACKAGE.rglob("*.py"))


def _unit(module):
    """The layer unit of a dotted name under tfcompress: "prune" for
    tfcompress.prune.magnitude, "__init__" for tfcompress itself and for
    names imported from it that are not submodules."""
    parts = module.split(".")
    if len(parts) > 1 and ((_PACKAGE / parts[1]).is_dir()
                           or (_PACKAGE / f"{parts[1]}.py").is_file()):
        return parts[1]
    return "__init__"


def _imports(path):
    """(line, statement, imported dotted name) for each tfcompress import in
    `path`, in functions too; for `from a import b` the name is a.b."""
    source = path.read_text()
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        statement = ast.get_source_segment(source, node).splitlines()[0]
        for name in names:
            if name.split(".")[0] == "tfcompress":
                yield node.lineno, statement, name


# Keras 3 (`import keras`) only in the bridge; tf_keras only through _keras.py.
_KERAS_IMPORTERS = {"keras": ("tfcompress/keras3/bridge.py",),
                    "tf_keras": ("tfcompress/_keras.py",)}


def _keras_imports():
    """["file:line: `statement`"] of imports of keras, tf_keras or tf.keras
    outside the one module each is allowed in."""
    found = []
    for path in _sources():
        where = str(path.relative_to(_REPO))
        source = path.read_text()
        for node in ast.walk(ast.parse(source, where)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute) and node.attr == "keras" and (
                    isinstance(node.value, ast.Name) and node.value.id == "tf"):
                names = ["tf.keras"]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if name.startswith("tf.keras") or where not in _KERAS_IMPORTERS.get(top, (where,)):
                    statement = ast.get_source_segment(source, node).splitlines()[0]
                    found.append(f"{where}:{node.lineno}: `{statement}`")
    return found


def _edges():
    """{(from unit, to unit): ["file:line: `statement`", ...]} between units."""
    edges = {}
    for path in _sources():
        source_unit = _unit(_module_name(path))
        for line, statement, name in _imports(path):
            target_unit = _unit(name)
            if target_unit != source_unit:
                where = f"{path.relative_to(_REPO)}:{line}: `{statement}`"
                edges.setdefault((source_unit, target_unit), []).append(where)
    return edges


def _layer_violations(edges):
    """One message per import of a higher layer, an unknown unit or (from the
    bottom layer) a unit outside `_BOTTOM_IMPORTS`."""
    problems = []
    for (source, target), places in sorted(edges.items()):
        for unit in (source, target):
            if unit not in _LAYER:
                problems.append(f"{places[0]}: `{unit}` is in no layer: add it to "
                                "_LAYERS in tests/test_imports.py.")
        if source not in _LAYER or target not in _LAYER:
            continue
        if _LAYER[target] > _LAYER[source]:
            reason = (f"{source} (layer {_LAYER[source]}) imports {target} (layer "
                      f"{_LAYER[target]}), a higher layer")
        elif source in _BOTTOM_IMPORTS and target not in _BOTTOM_IMPORTS[source]:
            allowed = ", ".join(_BOTTOM_IMPORTS[source]) or "nothing"
            reason = (f"{source} may import only {allowed} from tfcompress, not "
                      f"{target}")
        else:
            continue
        problems += [f"{place}: {reason}." for place in places]
    return problems


def _cycles(edges):
    """Each cycle in the unit graph once, as a message naming every import."""
    graph = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    found, problems = set(), []

    def visit(unit, path):
        for target in sorted(graph.get(unit, ())):
            if target in path:
                cycle = path[path.index(target):] + [target]
                if frozenset(cycle) not in found:
                    found.add(frozenset(cycle))
                    steps = [f"  {a} -> {b}: {edges[a, b][0]}"
                             for a, b in zip(cycle, cycle[1:])]
                    problems.append(" -> ".join(cycle) + ":\n" + "\n".join(steps))
            else:
                visit(target, path + [target])

    for unit in sorted(graph):
        visit(unit, [unit])
    return problems


def _import_each_alone(modules, timeout=300):
    """{module: last traceback line} for the modules that fail to import alone.

    Importing TensorFlow and its kin takes ~4 s per process, too long for a
    process per module. So one child imports those third-party packages once
    and forks a grandchild per module: each grandchild starts with them
    loaded but with no tfcompress module in sys.modules, imports its one
    module and exits with the status.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(modules), json.dumps(_HEAVY)],
        cwd=_REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the grandchild too
        child.communicate()
        raise AssertionError(f"Importing {len(modules)} modules took over {timeout} s.")
    if child.returncode:
        raise AssertionError(f"The import child failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


class ImportsTest(tf.test.TestCase):

    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    def test_every_module_imports_alone_in_a_fresh_interpreter(self):
        modules = [_module_name(path) for path in _sources()]
        failures = _import_each_alone(modules)
        if failures:
            self.fail("Modules that fail to import alone:\n" + "\n".join(
                f"  {module}: {line}" for module, line in sorted(failures.items())))

    def test_units_import_only_their_layer_or_below(self):
        problems = _layer_violations(_edges())
        if problems:
            self.fail("Imports against the layers:\n" + "\n".join(problems))

    def test_units_import_each_other_without_cycles(self):
        problems = _cycles(_edges())
        if problems:
            self.fail("Import cycles between units:\n" + "\n".join(problems))

    def test_keras_versions_are_imported_each_in_its_one_module(self):
        self.assertEqual(_keras_imports(), [])

    def test_layer_check_names_an_upward_import(self):
        edges = {("evaluate", "jobs"): ["tfcompress/evaluate/x.py:3: `import y`"],
                 ("runtime", "_keras"): ["tfcompress/runtime/x.py:4: `import z`"]}
        self.assertEqual(_layer_violations(edges), [
            "tfcompress/evaluate/x.py:3: `import y`: evaluate (layer 2) imports jobs "
            "(layer 3), a higher layer.",
            "tfcompress/runtime/x.py:4: `import z`: runtime may import only _checks, "
            "quiet from tfcompress, not _keras."])

    def test_cycle_check_names_every_import_of_the_cycle(self):
        edges = {("prune", "evaluate"): ["p.py:1: `a`"],
                 ("evaluate", "export"): ["e.py:2: `b`"],
                 ("export", "prune"): ["x.py:3: `c`"],
                 ("export", "quantize"): ["x.py:4: `d`"]}
        self.assertEqual(_cycles(edges), [
            "evaluate -> export -> prune -> evaluate:\n"
            "  evaluate -> export: e.py:2: `b`\n"
            "  export -> prune: x.py:3: `c`\n"
            "  prune -> evaluate: p.py:1: `a`"])


class PublicApiTest(tf.test.TestCase):

    def test_every_subpackage_is_an_attribute_of_tfcompress(self):
        import tfcompress  # pylint: disable=import-outside-toplevel
        subpackages = sorted(p.name for p in _PACKAGE.iterdir()
                             if (p / "__init__.py").is_file())
        self.assertEqual([name for name in subpackages if name not in tfcompress.__all__],
                         [])
        for name in tfcompress.__all__:
            self.assertIsNotNone(getattr(tfcompress, name), name)
        self.assertTrue(callable(tfcompress.shrink.shrink))
        self.assertTrue(callable(tfcompress.keras3.to_keras3))
        self.assertTrue(callable(tfcompress.pipeline.build_report))


if __name__ == "__main__":
    tf.test.main()
