"""Whole jobs behind the CLI commands, all run by one runner.

`settings.Training` holds what every job shares; `train.TrainJob`,
`distill.DistillJob`, `prune.PruneJob` and `quantize.QuantizeJob` say only
what is their own; `runner.run(job, training)` does the rest (checks,
strategy, resumable training in `loop`, checkpoints, atomic outputs).
"""
