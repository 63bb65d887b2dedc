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

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

demo: install
	$(BIN)/tfcompress train --model=lenet_300_100 --dataset=mnist --epochs=20 \
	    --seed=0 --output_dir=$(DEMO_DIR) --overwrite

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_DIR).partial
