# The two commands of the README: `make demo` (the main job) and `make test`.
# Both install tfcompress and its pinned dependencies into .venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Offline MNIST: use the prepared TFDS folder beside the repo unless the
# caller already points TFDS_DATA_DIR somewhere.
SHARED_TFDS := $(abspath ../shared/tensorflow_datasets)
ifeq ($(strip $(TFDS_DATA_DIR)),)
  ifneq ($(wildcard $(SHARED_TFDS)),)
    export TFDS_DATA_DIR := $(SHARED_TFDS)
  endif
endif

DEMO_DIR ?= saved_models/demo
# Test processes (pytest-xdist): most tests trace TF graphs on one core, so
# two processes on a 2-core machine halve the suite's time. Tests of one
# class share a process (their setUpClass runs once).
TEST_WORKERS ?= 2

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# The main job on MNIST, one pipeline (examples/mnist_pipeline.flags):
# LeNet-300-100 trained alone (the baseline), a 1200-1200 teacher,
# LeNet-300-100 distilled from it, shrunk to a quarter of its MACs while
# distilling again, pruned to 50%, quantized to int8 by sparsity-preserving
# QAT, exported and evaluated; the
# report (report.md, report.json, plots) lands in $(DEMO_DIR).
demo: install
	$(BIN)/tfcompress pipeline --flagfile=examples/mnist_pipeline.flags \
	    --output_dir=$(DEMO_DIR) --overwrite

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

clean:
	rm -rf $(VENV) $(DEMO_DIR)
