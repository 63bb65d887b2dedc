"""What a run's numbers depend on besides its models, for report.md and compare.

Dataset and splits, how inputs were normalized and training images
augmented, quantization mode, LiteRT threads and the tfcompress version: two
runs' accuracies or timings compare only when these match.
"""

_SPLITS = ("train_split", "val_split", "test_split")


def read(pipeline, config, quantize_summary, latency):
    """The settings of a run folder's files.

    Args:
      pipeline: pipeline.json's record ({} for a folder without one).
      config: a stage's recorded config; its splits are those the jobs used,
        where pipeline.json keeps None for a dataset's default split.
      quantize_summary: the quantize stage's summary.json, or None.
      latency: the evaluate stage's {stage: timing}, {} without that stage.

    Returns:
      {"dataset", "train_split", "val_split", "test_split", "normalize",
      "augment" ("none" for runs from before augmentation), "quantization"
      ({"mode", "applied_mode", "file"} or None), "latency_threads" (None when
      nothing was timed), "tfcompress_version" (None when not recorded)}.
    """
    options = pipeline.get("options") or {}
    quantization = None
    if quantize_summary:
        mode = quantize_summary["config"]["mode"]
        quantization = {"mode": mode,
                        "applied_mode": quantize_summary.get("applied_mode", mode),
                        "file": quantize_summary["tflite"].get("quantization")}
    # The evaluate stage times every file with the same thread count.
    timing = next(iter(latency.values()), {})
    return {"dataset": config.get("dataset", options.get("dataset")),
            **{split: config.get(split, options.get(split)) for split in _SPLITS},
            "normalize": config.get("normalize", options.get("normalize")),
            "augment": config.get("augment", options.get("augment")) or "none",
            "quantization": quantization,
            "latency_threads": timing.get("num_threads"),
            "tfcompress_version": pipeline.get("tfcompress_version")}


def _quantization_text(quantization):
    if not quantization:
        return "none (no quantize stage: float TFLite files)"
    mode, applied = quantization["mode"], quantization["applied_mode"]
    text = applied if applied == mode else f"{applied} in place of {mode}"
    return text + (f" ({quantization['file']} TFLite file)" if quantization["file"]
                   else "")


def _code(value):
    return f"`{value}`" if value else "-"


def rows(settings):
    """(name, text) of each setting, in the order report.md and compare show them."""
    threads = settings["latency_threads"]
    return [
        ("dataset", _code(settings["dataset"])),
        ("splits (train / validation / test)",
         " / ".join(_code(settings[split]) for split in _SPLITS)),
        ("input normalization", _code(settings.get("normalize"))),
        ("training augmentation", _code(settings.get("augment", "none"))),
        ("quantization", _quantization_text(settings["quantization"])),
        ("LiteRT threads (batch-1 latency)",
         str(threads) if threads else "- (no evaluate stage: nothing timed)"),
        ("tfcompress version", settings["tfcompress_version"] or "not recorded"),
    ]
