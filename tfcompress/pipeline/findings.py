"""What a pipeline report warns about, beside its headline.

The headline compares the first and the last stage, so a stage that made
things worse in between (an int8 file slower than the float file before it)
or a teacher worse than the model it teaches would go unseen there. Each
check takes the report's stage records and returns warnings: dicts with the
figures and a `message` for the log and report.md.
"""

from tfcompress.evaluate import ratios

# Timings of microsecond models wander by several percent between rounds even
# when interleaved; a smaller slowdown is not reported.
SLOWDOWN_MARGIN = 1.1


def _slower_in_every_round(before, after):
    """Whether `after` lost every interleaved round (each round times every
    file back to back, so a machine's drift hits both alike)."""
    pairs = zip(before.get("rounds_ms") or [], after.get("rounds_ms") or [])
    return all(b < a for b, a in pairs)


def slower_stages(records, latency):
    """Each stage whose file is slower than the previous stage's.

    Args:
      records: the report's stage records, in run order; the teacher is not
        on the path the model takes and is skipped.
      latency: the evaluate stage's {stage: compare_latency record}.

    Returns:
      One warning per stage slower by at least `SLOWDOWN_MARGIN` in median
      and in every interleaved round.
    """
    path = [r["stage"] for r in records
            if r["stage"] != "teacher" and r["stage"] in latency]
    found = []
    for before, after in zip(path, path[1:]):
        before_ms, after_ms = latency[before]["median_ms"], latency[after]["median_ms"]
        if (after_ms < before_ms * SLOWDOWN_MARGIN
                or not _slower_in_every_round(latency[before], latency[after])):
            continue
        threads = latency[after].get("num_threads")
        timing = "batch 1" + (f", {threads} LiteRT threads" if threads else "")
        found.append({
            "stage": after, "compared_with": before, "before_ms": before_ms,
            "after_ms": after_ms,
            "message": (f"The {after} stage made the model slower: its file is "
                        f"{ratios.faster_or_slower(before_ms / after_ms)} than the "
                        f"{before} stage's before it ({before_ms:.4f} -> {after_ms:.4f} "
                        f"ms, {timing}). Where speed matters more than size, time both "
                        "files on the device you deploy to.")})
    return found


def weak_teacher(records):
    """A warning when the teacher is less accurate than the baseline, else None.

    Args:
      records: the report's stage records; without both a baseline and a
        teacher stage among them there is nothing to compare.
    """
    by_stage = {r["stage"]: r for r in records}
    if "teacher" not in by_stage or "baseline" not in by_stage:
        return None
    teacher = by_stage["teacher"]["keras_accuracy"]
    baseline = by_stage["baseline"]["keras_accuracy"]
    if teacher >= baseline:
        return None
    return {"stage": "teacher", "compared_with": "baseline",
            "teacher_accuracy": teacher, "baseline_accuracy": baseline,
            "message": (f"The teacher is less accurate than the baseline ({teacher:.2%} "
                        f"against {baseline:.2%} test accuracy): distilling from it can "
                        "teach the student its mistakes. Train it longer "
                        "(--teacher_epochs), use a bigger --teacher_model, or give a "
                        "better trained one with --teacher=PATH.")}


def warnings_of(records, latency):
    """Every warning of a report, the teacher's first."""
    teacher = weak_teacher(records)
    return ([teacher] if teacher else []) + slower_stages(records, latency)
