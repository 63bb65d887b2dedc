"""Each job option is declared once: its CLI flag, the pipeline's flag and the
run's config all come from the job's dataclass field (`jobs/options.py`)."""

import dataclasses
import importlib
import re

import helpers
from absl import flags
from absl.testing import absltest
from absl.testing import flagsaver

from tfcompress import pipeline
from tfcompress.cli import common
from tfcompress.cli import option_flags
from tfcompress.jobs import distill
from tfcompress.jobs import evaluate_tflite
from tfcompress.jobs import options
from tfcompress.jobs import prune
from tfcompress.jobs import quantize
from tfcompress.jobs import settings
from tfcompress.jobs import shrink
from tfcompress.jobs import train
from tfcompress.pipeline import stages

# The module, not `pipeline.run` the function.
pipeline_run = importlib.import_module("tfcompress.pipeline.run")

_HELP = "Throwaway: widen every group by this (--epochs decide nothing)."


@dataclasses.dataclass
class _WideningShrinkJob(shrink.ShrinkJob):
    widen: int = options.option(3, _HELP, lower_bound=1)


def _flags(job_class, argv=(), **define_args):
    flag_values = flags.FlagValues()
    common.define_job_flags(job_class, flag_values=flag_values, **define_args)
    flag_values(["prog", *argv])
    return flag_values


class OneDeclarationTest(absltest.TestCase):

    def test_a_new_option_reaches_the_cli_the_pipeline_and_the_config(self):
        # The command line: one flag, with the field's help, default and bound.
        cli = _flags(_WideningShrinkJob, [f"--model={__file__}"])
        self.assertEqual(cli["widen"].help, _HELP)
        self.assertEqual(cli["widen"].default, 3)
        with self.assertRaisesRegex(flags.IllegalFlagValueError, "widen"):
            cli(["prog", "--widen=0"])
        cli(["prog", "--widen=5"])
        job = common.job_from_flags(_WideningShrinkJob, cli)
        self.assertEqual(job.widen, 5)
        # The run's config records it.
        self.assertEqual(job.config()["widen"], 5)
        # The pipeline: a stage exposing it gets a flag and an option of its own.
        row = dataclasses.replace(stages.STAGES["shrink"], job=_WideningShrinkJob,
                                  options={**stages.STAGES["shrink"].options,
                                           "shrink_widen": "widen"})
        options_class = stages.options_class({**stages.STAGES, "shrink": row})
        piped = _flags(options_class, ["--shrink_widen=7"], epochs=None)
        self.assertEqual(piped["shrink_widen"].help,
                         _HELP.replace("--epochs", "--shrink_epochs"))
        self.assertEqual(options_class(training=None).shrink_widen, 3)
        self.assertEqual(common.job_from_flags(options_class, piped,
                                               training=None).shrink_widen, 7)

    def test_flags_left_alone_give_the_dataclass_defaults(self):
        required = {"model": "m.keras", "teacher": "t.keras"}
        for job_class in (train.TrainJob, distill.DistillJob, prune.PruneJob,
                          shrink.ShrinkJob, quantize.QuantizeJob):
            with self.subTest(job_class.__name__):
                given = {f.name: required[f.name]
                         for f, _ in options.declared(job_class)
                         if f.default is dataclasses.MISSING}
                parsed = _flags(job_class, [f"--{k}={v}" for k, v in given.items()])
                self.assertEqual(common.job_from_flags(job_class, parsed),
                                 job_class(**given))
        parsed = _flags(pipeline.Options, epochs=None)
        self.assertEqual(common.job_from_flags(pipeline.Options, parsed, training=None),
                         pipeline.Options(training=None))

    def test_an_option_without_a_default_is_a_required_flag(self):
        with self.assertRaisesRegex(flags.IllegalFlagValueError, "--teacher"):
            _flags(distill.DistillJob)

    def test_an_option_annotated_as_a_string_takes_its_type(self):
        # As under `from __future__ import annotations`.
        job_class = dataclasses.make_dataclass("StringTyped", [
            ("width", "int", options.option(4, "Width.", lower_bound=1)),
            ("names", "tuple", options.option((), "Names."))])
        parsed = _flags(job_class, ["--width=6", "--names=a,b"], epochs=None,
                        loads_models=False)
        self.assertEqual(common.job_from_flags(job_class, parsed), job_class(6, ("a", "b")))
        with self.assertRaisesRegex(TypeError, "Option `size` is of type 'list'"):
            _flags(dataclasses.make_dataclass("Listed", [
                ("size", "list", options.option(None, "Sizes."))]))

    def test_flag_names_and_config_keys(self):
        cli = _flags(train.TrainJob, ["--model=mlp:8"], loads_models=False)
        self.assertEqual(train.TrainJob("mlp:8").config(), {"model_spec": "mlp:8"})
        self.assertEqual(common.job_from_flags(train.TrainJob, cli).model_spec, "mlp:8")
        self.assertNotIn("unsafe_load", cli)
        job = quantize.QuantizeJob(model=__file__, mode="dynamic")
        config = job.config()
        self.assertEqual(config["model"], __file__)
        self.assertIsNone(config["clusters"])  # applies to cluster and cqat only
        self.assertIsNone(config["epochs"])  # post-training: no training
        self.assertEqual(shrink.ShrinkJob(model=__file__, pinned=("a",)).config()["pinned"],
                         ["a"])


class SharedTrainingOptionsTest(absltest.TestCase):
    """The training commands' shared flags are `settings.Training`'s options."""

    def test_each_training_option_is_a_shared_flag(self):
        shared = [(f, o) for f, o in options.declared(settings.Training)
                  if f.name not in ("epochs", "unsafe_load")]  # common.define_*'s
        for field, option in shared:
            with self.subTest(field.name):
                # An enum's help starts with its values: <unit|standard|none>.
                self.assertEndsWith(flags.FLAGS[field.name].help, option.help)
        # Left alone, they read as the defaults (--verbose an int, not "2").
        self.assertEqual(
            option_flags.option_values(settings.Training, names=[f.name for f, _ in shared]),
            {f.name: None if f.name == "output_dir" else f.default for f, _ in shared})
        self.assertNotIn("log_dir", [f.name for f, _ in shared])  # absl's own flag

    def test_training_reads_the_shared_flags(self):
        with flagsaver.flagsaver(dataset="fashion_mnist", verbose="1", val_split="",
                                 strategy="mirrored", log_dir="/tmp/logs",
                                 checkpoint_every=5):
            training = common.training("saved_models/x", epochs=3)
            self.assertEqual(common.training("saved_models/x", output_dir="o").output_dir,
                             "o")
        self.assertEqual(training, settings.Training(
            "saved_models/x", dataset="fashion_mnist", verbose=1, val_split="",
            strategy="mirrored", log_dir="/tmp/logs", checkpoint_every=5, epochs=3))
        with flagsaver.flagsaver(output_dir="mine", log_dir=""):
            training = common.training("saved_models/x")
        self.assertEqual((training.output_dir, training.log_dir), ("mine", None))

    def test_define_epochs_and_loading_flags_use_the_training_options(self):
        flag_values = flags.FlagValues()
        epochs = common.define_epochs(default=4, flag_values=flag_values)
        unsafe_load, _ = common.define_loading_flags(flag_values)
        flag_values(["prog"])
        declared = {f.name: o for f, o in options.declared(settings.Training)}
        self.assertEqual((epochs.value, unsafe_load.value), (4, False))
        self.assertEqual(flag_values["epochs"].help, declared["epochs"].help)
        self.assertEqual(flag_values["unsafe_load"].help, declared["unsafe_load"].help)
        with self.assertRaisesRegex(flags.IllegalFlagValueError, "epochs"):
            flag_values(["prog", "--epochs=0"])


class EvaluateOptionsTest(absltest.TestCase):

    def test_evaluate_takes_its_job_options_and_six_training_ones(self):
        result = helpers.run_cli_in_process("evaluate", "--help")
        taken = set(re.findall(r"^  --(?:\[no\])?(\w+):", result.stdout, re.MULTILINE))
        self.assertEqual(taken, {f.name for f, _ in options.declared(
            evaluate_tflite.EvaluateJob)} | {"dataset", "data_dir", "normalize",
                                             "train_split", "audio_length", "hold_out"})
        self.assertIn("--num_threads: LiteRT threads.\n    (default: '2')\n"
                      "    (a positive integer)", result.stdout)

    def test_evaluate_flags_left_alone_give_the_job_defaults(self):
        flag_values = flags.FlagValues()
        option_flags.define_option_flags(evaluate_tflite.EvaluateJob, flag_values)
        flag_values(["prog", "--tflite=m.tflite"])
        self.assertEqual(option_flags.option_values(evaluate_tflite.EvaluateJob,
                                                    flag_values),
                         {f.name: "m.tflite" if f.name == "tflite" else f.default
                          for f, _ in options.declared(evaluate_tflite.EvaluateJob)})


class StagesTableTest(absltest.TestCase):

    def test_each_stage_job_gets_its_options(self):
        options = pipeline.Options(
            training=settings.Training(output_dir="/tmp/run", learning_rate=0.01),
            shrink_crop_inputs=0.01, shrink_target="params:0.5", temperature=2.0,
            quantization="int8", clusters=8, model="mlp:8")
        job, training = pipeline_run._job(options, "shrink",
                                          {"model": "m.keras", "teacher": None})
        self.assertEqual(job, shrink.ShrinkJob(model="m.keras", target_params=0.5,
                                               crop_inputs=0.01, temperature=2.0))
        self.assertEqual(training.epochs, options.shrink_epochs)
        job, _ = pipeline_run._job(options, "distill", {"teacher": "t.keras"})
        self.assertEqual(job, distill.DistillJob(teacher="t.keras", student_spec="mlp:8",
                                                 temperature=2.0))
        job, training = pipeline_run._job(options, "quantize", {"model": "m.keras"})
        self.assertEqual(job, quantize.QuantizeJob(model="m.keras", mode="int8",
                                                   clusters=8))
        self.assertEqual((training.learning_rate, training.lr_schedule, training.epochs),
                         (0.001, "constant", 2))
        self.assertEqual(pipeline.Options(training=None).quantization, "pqat")


if __name__ == "__main__":
    absltest.main()
