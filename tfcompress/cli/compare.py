"""`tfcompress compare RUN_A RUN_B`: two pipeline or optimize runs side by side."""

import os

from absl import app

from tfcompress import pipeline


def main(argv):
    if len(argv) != 3:
        raise app.UsageError("Give two pipeline or optimize run folders: tfcompress compare RUN_A "
                             "RUN_B.")
    reports = []
    for run_dir in argv[1:]:
        if not os.path.isdir(run_dir):
            raise app.UsageError(f"{run_dir!r} is not a folder.")
        try:
            reports.append(pipeline.build_report(run_dir))
        except FileNotFoundError as e:
            raise app.UsageError(str(e)) from None
    names = [os.path.basename(os.path.normpath(d)) or d for d in argv[1:]]
    if names[0] == names[1]:
        names = list(argv[1:])
    print(pipeline.format_comparison(*reports, *names))
