"""`tfcompress report RUN_DIR`: rebuild a pipeline or optimize run's report from its files."""

import os

from absl import app

from tfcompress import pipeline


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("Give one pipeline or optimize run folder: tfcompress report RUN_DIR.")
    run_dir = argv[1]
    if not os.path.isdir(run_dir):
        raise app.UsageError(f"RUN_DIR {run_dir!r} is not a folder.")
    try:
        report = pipeline.write_report(run_dir)
    except FileNotFoundError as e:
        raise app.UsageError(str(e)) from None
    print(pipeline.report.format_table(report))
    print(report["summary_line"])
    if report["warnings"]:
        print(pipeline.report.format_warnings(report))
    print(f"Report: {os.path.join(run_dir, pipeline.report.REPORT_MD)}")
