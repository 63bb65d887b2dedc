"""The `tfcompress` command: `tfcompress COMMAND --flags`.

absl has no subcommands, so this picks the command's module from argv[1] and
imports only that one: each command defines its own flags, and commands may
reuse flag names (--output_dir) without clashing.
"""

import importlib
import sys

from tfcompress import quiet

COMMANDS = {
    "train": ("tfcompress.cli.train", "Train, evaluate and export a model."),
    "distill": ("tfcompress.cli.distill",
                "Distill a student from a trained teacher, then export it."),
    "prune": ("tfcompress.cli.prune",
              "Prune a trained model while fine-tuning it, then export it."),
    "shrink": ("tfcompress.cli.shrink",
               "Remove whole units, filters and channels, recover, then export."),
    "quantize": ("tfcompress.cli.quantize",
                 "Quantize (or cluster) a trained model into a checked TFLite file."),
    "evaluate": ("tfcompress.cli.evaluate",
                 "Accuracy, size and latency of a .tflite file."),
    "optimize": ("tfcompress.cli.optimize",
                 "Give a budget (latency, size, accuracy), get the best model meeting it."),
    "pipeline": ("tfcompress.cli.pipeline",
                 "Teacher, distill, prune, quantize, export, evaluate, and a report."),
    "report": ("tfcompress.cli.report",
               "Rebuild a pipeline or optimize run's report: report RUN_DIR."),
    "compare": ("tfcompress.cli.compare",
                "Two pipeline or optimize runs side by side: compare RUN_A RUN_B."),
}


def usage():
    lines = ["Usage: tfcompress COMMAND [--flags]   (tfcompress COMMAND --help)",
             "", "Commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def run(argv=None):
    """Console-script entry point."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"tfcompress: unknown command {command!r}.\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    # Before the command's module imports TensorFlow, whose C++ prints its
    # start-up lines while loading: hidden unless --verbosity asks for them.
    quiet.start(argv[2:])
    from absl import app  # pylint: disable=g-import-not-at-top
    from absl import flags  # pylint: disable=g-import-not-at-top

    module = importlib.import_module(COMMANDS[command][0])

    def main(args):
        try:
            return module.main(args)
        except app.UsageError as e:
            # absl would print every flag's help above the one line that matters.
            print(f"tfcompress {command}: {e}\nRun `tfcompress {command} --help` for "
                  "its flags.", file=sys.stderr)
            sys.exit(1)

    sys.argv = [f"tfcompress {command}", *argv[2:]]  # absl's usage line
    # --help lists the flags of the main module, named by argv[0]: make the
    # command's own flags (and the shared ones it uses) that module's.
    for name in (module.__name__, "tfcompress.cli.common"):
        for flag in flags.FLAGS.get_key_flags_for_module(name):
            flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main, argv=sys.argv)


if __name__ == "__main__":
    run()
