"""The `tfcompress distill` job: distill a zoo student from a trained teacher."""

import dataclasses

from tfcompress import distill
from tfcompress import evaluate
from tfcompress.distill import inherit
from tfcompress.jobs import artifacts
from tfcompress.jobs import distilling
from tfcompress.jobs import options
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

    Each option's help says what it does. On text (tsv:) the student is a
    text model such as "text_cnn:4,4", built for the data's vocabulary size
    and sequence length as the train job builds its model. A student
    initialized from the teacher (`distill.init_from_teacher`) is refit on up
    to 60,000 training examples.
    """

    teacher: str = options.option(
        help="Trained teacher: a .keras file or a `tfcompress train` output folder.",
        record=lambda path: artifacts.abspath_of_model(path, "teacher"))
    student_spec: str = options.option(
        "mlp:800,800", "Student model spec, e.g. mlp:800,800, lenet_300_100.",
        flag="student")
    temperature: float = distilling.temperature()
    alpha: float = distilling.alpha()
    teacher_cache: bool = options.option(
        True, "Run the teacher once and reuse its logits every epoch.")
    student_init: str = options.option(
        "random", "How the student starts: random weights, or `teacher`: the teacher's "
        "most useful units, refit to the teacher's outputs (an MLP student as deep as an "
        "MLP teacher, no wider), or the teacher shrunk to the student's widths (the "
        "teacher's zoo model with fewer filters).", choices=STUDENT_INITS)
    name = "distill"

    def check(self, run):
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"`student_init` must be one of {STUDENT_INITS}, got "
                             f"{self.student_init!r}.")
        try:  # the spec's own errors first, named as this job's argument
            student = train.build_for_data(self.student_spec, run)
        except ValueError as e:
            raise ValueError(f"`student_spec`: {e}") from None
        distiller = distilling.distiller(run, student, self.teacher, self)
        if self.student_init == "teacher":
            inherit.check_pairing(distiller.student, distiller.teacher)

    def build(self, run, phase):
        student = train.build_for_data(self.student_spec, run)
        if self.student_init == "teacher":
            run.log("Initializing the student from the teacher's most useful units.")
            distill.init_from_teacher(student, run.load_model(self.teacher, "teacher"),
                                      run.first_train_examples(_INIT_EXAMPLES))
        if distilling.uses_teacher_cache(run, self.teacher_cache):
            run.log("Running the teacher once over the training split (teacher cache).")
        trainee = distilling.trainee(run, student, self.teacher, self,
                                     cache=self.teacher_cache)
        self._distiller_trained = trainee.model
        run.log(f"Distilling {self.student_spec} ({student.count_params():,} "
                f"parameters) from {self.config()['teacher']} at T={self.temperature}, "
                f"alpha={self.alpha}, for {run.training.epochs} epochs.")
        return trainee

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
