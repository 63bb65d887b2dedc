"""The `tfcompress quantize` job: quantize (or cluster) a trained model and
export a TFLite file that LiteRT has run, with its accuracy, size and speed."""

import dataclasses
import os

from tfcompress import evaluate
from tfcompress import export
from tfcompress import prune
from tfcompress import quantize
from tfcompress import training
from tfcompress._checks import check_positive_int
from tfcompress.evaluate import ratios as ratio_words
from tfcompress.export import float_frontend
from tfcompress.jobs import artifacts
from tfcompress.jobs import logits
from tfcompress.jobs import loop
from tfcompress.jobs import options
from tfcompress.jobs import runner
from tfcompress.models import spectrogram

# Post-training modes (no training), then the modes that fine-tune:
# quantization-aware training (qat), sparsity-preserving QAT (pqat), weight
# clustering (cluster, a float file whose kernels share few values) and
# cluster-preserving QAT (cqat: cluster, then QAT keeping the clusters).
POST_TRAINING_MODES = ("int8", "dynamic", "float16", "int4")
FINE_TUNING_MODES = ("qat", "pqat", "cluster", "cqat")
MODES = POST_TRAINING_MODES + FINE_TUNING_MODES

# What each mode's TFLite file is converted with.
_EXPORT_QUANTIZATION = {"int8": "int8", "dynamic": "dynamic", "float16": "float16",
                        "int4": "int4",
                        "qat": "int8", "pqat": "int8", "cluster": "none", "cqat": "int8",
                        "cluster_int8": "int8"}
# The trainings of each mode, in order.
_PHASES = {"qat": ("qat",), "pqat": ("qat",), "cluster": ("cluster",),
           "cqat": ("cluster", "qat"), "cluster_int8": ("cluster",)}
_PRESERVE = {"qat": None, "pqat": "sparsity", "cqat": "clusters"}
# What runs instead of QAT for a model with a layer TFMOT has no QAT for
# (LSTM, GRU, Embedding): post-training int8, after clustering for cqat
# ("cluster_int8", a mode of its own only here). The int8 calibrator keeps a
# pruned model's zeros (zero stays zero).
_WITHOUT_QAT = {"qat": "int8", "pqat": "int8", "cqat": "cluster_int8"}

REFERENCE_FILE = "float_reference.tflite"


def _kernel_sparsity(model):
    return prune.sparsity_report(model)["total"]["sparsity"]


@dataclasses.dataclass
class QuantizeJob(runner.Job):
    """Quantizes `model` in `mode` and writes a checked TFLite file.

    Post-training modes convert at once (int8 calibrates on `num_samples`
    training examples). The others fine-tune for the run's epochs first: qat
    and pqat (which keeps a pruned model's zeros) learn int8 ranges; cluster
    shares `clusters` values per kernel and exports float (the file then
    gzips small); cqat clusters, then runs QAT keeping the clusters (each
    phase the run's epochs long).

    Writes model.tflite (run in LiteRT and checked against the Keras model
    before it lands), float_reference.tflite (the input model as float
    TFLite, the baseline of every ratio), model.keras for cluster mode, and
    summary.json (accuracy, sizes, batch-1 latency with 2 threads, sparsity
    and shared values kept).
    """

    model: str = options.option(
        help="Trained model: a .keras file or a `tfcompress train`, `distill` or `prune` "
        "output folder.", record=artifacts.abspath_of_model)
    mode: str = options.option(
        "int8", "int8 (calibrated full-integer), dynamic (int8 weights), float16, int4 "
        "(int4 Dense weights, int8 others, by ai-edge-quantizer): post-training; qat, pqat (keeps a pruned model's zeros), cluster (shared weight "
        "values, float file), cqat (cluster, then QAT keeping clusters): fine-tune "
        "--epochs first.", choices=MODES)
    clusters: int = options.option(16, "Shared values per kernel (cluster, cqat).",
                                   lower_bound=2)
    num_samples: int = options.option(
        quantize.DEFAULT_SAMPLES, "Training examples int8 calibrates activation ranges "
        "on.", lower_bound=1)
    int8_io: bool = options.option(False, "int8 input and output tensors too.")
    sparse: bool = options.option(
        False, "TFLite sparse weight encoding (pruned models; XNNPACK cannot run it with "
        "int8 weights: add --noxnnpack).")
    xnnpack: bool = options.option(
        True, "Check and time the file with LiteRT's default XNNPACK delegate.")
    name = "quantize"

    def config(self):
        trains = self.mode in FINE_TUNING_MODES
        return {**super().config(),
                "clusters": self.clusters if self.mode in ("cluster", "cqat") else None,
                "num_samples": self.num_samples if self.mode == "int8" else None,
                # Post-training modes do not train: these do not apply.
                **({} if trains else {"epochs": None, "learning_rate": None})}

    _applied = None  # the mode that runs: `mode`, or its _WITHOUT_QAT stand-in
    _fallback = None  # why it differs

    def check(self, run):
        if self.mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {self.mode!r}.")
        self._applied, self._fallback = self.mode, None
        check_positive_int("num_samples", self.num_samples)
        if self.mode in ("cluster", "cqat"):
            check_positive_int("clusters", self.clusters)
            if self.clusters < 2:
                raise ValueError(f"`clusters` must be at least 2, got {self.clusters}.")
        if self.int8_io and _EXPORT_QUANTIZATION[self.mode] != "int8":
            raise ValueError(f"`int8_io` needs an int8 mode (int8, qat, pqat, cqat), got "
                             f"mode {self.mode!r}.")
        loaded = run.load_model(self.model)
        if self.int8_io and spectrogram.float_layers(loaded):
            raise ValueError(
                f"`int8_io`: `model` {self.model!r} computes audio features in float "
                f"({', '.join(spectrogram.float_layers(loaded))}), so its int8 file takes "
                "float samples: leave --int8_io off.")
        if self.mode in FINE_TUNING_MODES:
            logits.require_logits(loaded, self.model)
        if self.mode == "pqat" and _kernel_sparsity(loaded) < 0.01:
            raise ValueError(f"`mode` 'pqat' keeps a pruned model's zeros, but `model` "
                             f"{self.model!r} has almost none: prune it first "
                             "(`tfcompress prune`), or use mode 'qat'.")
        unsupported = quantize.layer_without_qat(loaded)
        if self.mode in _WITHOUT_QAT and unsupported is not None:
            self._applied = _WITHOUT_QAT[self.mode]
            self._fallback = (
                f"TFMOT has no quantization-aware training for layer "
                f"{unsupported.name!r} ({type(unsupported).__name__}): "
                f"{'clustering, then ' if self.mode == 'cqat' else ''}post-training "
                f"int8 instead of {self.mode}")
            run.log(f"{self._fallback}.")
        # Each phase on a copy, as it will run: TFMOT raises for what it cannot do.
        if self._applied in ("qat", "pqat"):
            quantize.quantize_aware(loaded, preserve=_PRESERVE[self.mode])
        if self._applied in ("cluster", "cqat", "cluster_int8"):
            clustered = quantize.cluster(loaded, self.clusters)
            if self._applied == "cqat":
                quantize.quantize_aware(quantize.strip_clusters(clustered),
                                        preserve="clusters")

    def phases(self):
        return _PHASES.get(self._applied, ())

    def build(self, run, phase):
        source = run.load_model(self.model)
        epochs = run.training.epochs
        if phase == "cluster":
            run.log(f"Clustering every Dense/Conv2D kernel to {self.clusters} values, "
                    f"fine-tuning {epochs} epochs.")
            self._clustered = quantize.cluster(source, self.clusters)
            trainee = self._clustered
        else:
            base = (quantize.strip_clusters(self._clustered) if self._applied == "cqat"
                    else source)
            preserve = _PRESERVE[self.mode]
            run.log(f"Quantization-aware training"
                    f"{f' preserving {preserve}' if preserve else ''}, {epochs} epochs.")
            self._aware = quantize.quantize_aware(base, preserve=preserve)
            trainee = self._aware
        training.compile_classifier(trainee, optimizer=run.training.optimizer,
                                    learning_rate=run.learning_rate())
        return loop.Trainee(trainee)

    def _final_model(self, run):
        if self._applied in ("cluster", "cluster_int8"):
            return quantize.strip_clusters(self._clustered)
        if self._applied in _PRESERVE:
            return self._aware
        return run.load_model(self.model)

    def _tflite_record(self, path, test, expected):
        metrics = artifacts.check_complete(
            evaluate.evaluate_tflite(path, test, xnnpack=self.xnnpack), expected, path)
        return {"test_accuracy": metrics["accuracy"], "test_examples": expected,
                **artifacts.binary_section(metrics), **evaluate.artifact_size(path)}

    @staticmethod
    def _keras_record(model, test, expected):
        metrics = artifacts.check_complete(evaluate.evaluate_classifier(model, test),
                                           expected, "The quantized Keras model")
        return {"test_accuracy": metrics["accuracy"], **artifacts.binary_section(metrics)}

    def finish(self, run):
        source, final = run.load_model(self.model), self._final_model(run)
        test, check_batch, count = run.test(), run.check_batch(), run.test_count
        run.log(f"Float reference: {source.name} as float TFLite.")
        reference_path = os.path.join(run.staging, REFERENCE_FILE)
        export.export_tflite(source, reference_path, check_inputs=check_batch)
        reference = self._tflite_record(reference_path, test, count)

        tflite_path = os.path.join(run.staging, artifacts.TFLITE_FILE)
        quantization = _EXPORT_QUANTIZATION[self._applied]
        calibrates = self._applied in ("int8", "cluster_int8")
        run.log(f"Converting ({quantization}{', sparse encoding' if self.sparse else ''}) "
                "and checking the file in LiteRT.")
        exported = export.export_tflite(
            final, tflite_path, quantization=quantization,
            representative_data=run.train_batches() if calibrates else None,
            num_samples=self.num_samples, int8_io=self.int8_io, sparse=self.sparse,
            xnnpack=self.xnnpack, check_inputs=check_batch)
        kept_float = self._kept_float(run, final, quantization, tflite_path)
        # The fine-tuned float weights, without fake-quantization wrappers: what
        # the parameters are counted on, and what a Keras 3 user gets back.
        float_model = (quantize.float_model(final, source, keep_zeros=self.mode == "pqat")
                       if self._applied in _PRESERVE else final)
        keras_file = None
        if self._applied == "cluster" or run.keras3_output:
            keras_file = artifacts.save_model(float_model, os.path.join(
                run.staging, artifacts.KERAS_FILE), as_keras3=run.keras3_output)
        result = self._tflite_record(tflite_path, test, count)
        latency = evaluate.compare_latency(
            {"float": reference_path, "quantized": tflite_path}, rounds=3, batch_size=1,
            num_threads=2, xnnpack=self.xnnpack)
        reference["latency_ms_batch1"] = latency["float"]["median_ms"]
        result["latency_ms_batch1"] = latency["quantized"]["median_ms"]
        weights = evaluate.weight_stats(tflite_path)
        return {
            "applied_mode": self._applied,
            **({"fallback": self._fallback} if self._fallback else {}),
            **({"frontend_kept_float": kept_float} if kept_float else {}),
            "source": {"keras_test_accuracy": artifacts.check_complete(
                           evaluate.evaluate_classifier(source, test), count,
                           "The input model")["accuracy"],
                       "kernel_sparsity": _kernel_sparsity(source)},
            "keras": self._keras_record(final, test, count),
            "params": evaluate.count_params(float_model),
            "macs": evaluate.count_macs(float_model)["total"],
            "float_reference": reference,
            **({"keras_file": keras_file} if keras_file else {}),
            "tflite": {**result, "quantization": quantization,
                       "top1_agreement_vs_keras": exported.top1_agreement,
                       "worst_class_agreement_vs_keras": exported.worst_class_agreement,
                       "max_abs_diff_vs_keras": exported.max_abs_diff,
                       **({"float_ops": kept_float["float_ops"]} if kept_float else {})},
            "ratios": {"bytes": reference["bytes"] / result["bytes"],
                       "gzip_bytes": reference["gzip_bytes"] / result["gzip_bytes"],
                       "latency": (reference["latency_ms_batch1"]
                                   / result["latency_ms_batch1"])},
            "tflite_weights": {
                "sparsity": (sum(w["zeros"] for w in weights.values())
                             / max(1, sum(w["size"] for w in weights.values()))),
                "max_distinct_values": max(
                    (w["distinct_values"] for w in weights.values()), default=0),
                "tensors": weights},
        }

    @staticmethod
    def _kept_float(run, model, quantization, tflite_path):
        """What of an audio frontend the int8 file computes in float; None without one."""
        layers = spectrogram.float_layers(model)
        if quantization != "int8" or not layers:
            return None
        ops = float_frontend.float_ops(tflite_path)
        run.log(f"Frontend kept in float (layers {', '.join(layers)}; float ops "
                f"{', '.join(ops)}): the file takes float samples and quantizes after "
                "the features.")
        return {"layers": layers, "float_ops": ops}

    def describe(self, summary, output_dir):
        return format_summary(summary, output_dir)


def format_summary(summary, output_dir):
    """Human-readable lines: accuracy, size and speed against the float file."""
    ref, out, ratios = summary["float_reference"], summary["tflite"], summary["ratios"]
    fallback, kept_float = summary.get("fallback"), summary.get("frontend_kept_float")
    return "\n".join([
        *([f"Mode: {fallback}."] if fallback else []),
        *([f"Frontend kept in float ({', '.join(kept_float['layers'])}): "
           f"{', '.join(kept_float['float_ops'])}."] if kept_float else []),
        f"Test accuracy: float TFLite {ref['test_accuracy']:.2%} -> "
        f"{summary['config']['mode']} TFLite {out['test_accuracy']:.2%}",
        f"Size: {ref['bytes'] / 1024:.1f} -> {out['bytes'] / 1024:.1f} KiB "
        f"({ratio_words.smaller_or_larger(ratios['bytes'])}); gzipped "
        f"{ref['gzip_bytes'] / 1024:.1f} -> {out['gzip_bytes'] / 1024:.1f} KiB "
        f"({ratio_words.smaller_or_larger(ratios['gzip_bytes'])})",
        f"Weights in the file: {summary['tflite_weights']['sparsity']:.1%} zeros, at "
        f"most {summary['tflite_weights']['max_distinct_values']} distinct values per "
        "tensor",
        f"Latency, batch 1, 2 threads: {ref['latency_ms_batch1']:.4f} -> "
        f"{out['latency_ms_batch1']:.4f} ms "
        f"({ratio_words.faster_or_slower(ratios['latency'], digits=2)})",
        f"Written to {output_dir}",
    ])
