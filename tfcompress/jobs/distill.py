"""The `tfcompress distill` job: distill a zoo student from a trained teacher."""

import dataclasses

from tfcompress import distill
from tfcompress import evaluate
from tfcompress._keras import keras
from tfcompress.distill import inherit
from tfcompress.jobs import artifacts
from tfcompress.jobs import loop
from tfcompress.jobs import runner
from tfcompress.jobs import train

STUDENT_INITS = ("random", "teacher")

# Training examples the teacher-initialized student's units are chosen and
# refit on: all of MNIST's train split, and a bound on memory for larger sets.
_INIT_EXAMPLES = 60_000


@dataclasses.dataclass
class DistillJob(runner.Job):
    """Distills the zoo student `student_spec` from `teacher`.

    Writes what the train job writes, for the student (on text, also
    vocabulary.txt); summary.json also records the teacher's accuracy.

    Attributes:
      teacher: a .keras file, or the output folder of a train job.
      student_spec: model spec of the student, e.g. "mlp:800,800"; on text
        (tsv:) a text model such as "text_cnn:4,4", built for the data's
        vocabulary size and sequence length as the train job builds its model.
      temperature, alpha: the Distiller's.
      teacher_cache: run the teacher once over the training split and reuse
        its outputs every epoch.
      student_init: "random", or "teacher": the student starts from the
        teacher's most useful units (`distill.init_from_teacher`): MLPs whose
        Dense layers pair one to one are refit on up to 60,000 training
        examples; other students of the teacher's architecture, narrower,
        start as the teacher shrunk to their widths.
    """

    teacher: str
    student_spec: str
    temperature: float = 4.0
    alpha: float = 0.1
    teacher_cache: bool = True
    student_init: str = "random"
    name = "distill"

    def config(self):
        return {"teacher": self._teacher_path, "student_spec": self.student_spec,
                "temperature": self.temperature, "alpha": self.alpha,
                "teacher_cache": self.teacher_cache, "student_init": self.student_init}

    @property
    def _teacher_path(self):
        return artifacts.abspath_of_model(self.teacher, "teacher")

    def _distiller(self, run):
        teacher = run.load_model(self.teacher, "teacher")
        student = train.build_for_data(self.student_spec, run)
        return distill.Distiller(student, teacher, temperature=self.temperature,
                                 alpha=self.alpha)

    def check(self, run):
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"`student_init` must be one of {STUDENT_INITS}, got "
                             f"{self.student_init!r}.")
        try:  # the spec's own errors first, named as this job's argument
            train.build_for_data(self.student_spec, run)
        except ValueError as e:
            raise ValueError(f"`student_spec`: {e}") from None
        distiller = self._distiller(run)
        if self.student_init == "teacher":
            inherit.check_pairing(distiller.student, distiller.teacher)

    def build(self, run, phase):
        distiller = self._distiller(run)
        if self.student_init == "teacher":
            run.log("Initializing the student from the teacher's most useful units.")
            distill.init_from_teacher(distiller.student, distiller.teacher,
                                      run.first_train_examples(_INIT_EXAMPLES))
        distiller.compile(run.optimizer(), metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        examples = None
        if self.teacher_cache:
            run.log("Running the teacher once over the training split (teacher cache).")
            examples = distill.teacher_output_examples(
                distiller, run.train_batches(), verbose=run.progress_verbose)
        run.log(f"Distilling {self.student_spec} ({distiller.student.count_params():,} "
                f"parameters) from {self._teacher_path} at T={self.temperature}, "
                f"alpha={self.alpha}, for {run.training.epochs} epochs.")
        self._distiller_trained = distiller
        return loop.Trainee(distiller, examples=examples)

    def finish(self, run):
        distiller = self._distiller_trained
        test = run.test()
        teacher = {"test_accuracy": evaluate.evaluate_classifier(
                       run.local(distiller.teacher), test)["accuracy"],
                   "params": distiller.teacher.count_params()}
        return {"teacher": teacher,
                **artifacts.export_and_evaluate(run.local(distiller.student),
                                                run.staging, test, run.check_batch(),
                                                run.test_count)}

    def describe(self, summary, output_dir):
        teacher = summary["teacher"]
        return (f"Teacher test accuracy {teacher['test_accuracy']:.2%} "
                f"({teacher['params']:,} parameters).\n"
                + artifacts.format_summary(summary, output_dir))
