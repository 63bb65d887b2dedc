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

# The main job on MNIST: LeNet-300-100 trained alone (the baseline), a
# 1200-1200 teacher, LeNet-300-100 distilled from that teacher, then pruned to
# 90% while distilling again, then quantized to int8 by sparsity-preserving
# quantization-aware training, and the final .tflite file evaluated. Each
# stage prints its test accuracy (Keras and TFLite) and its export sizes.
demo: install
	$(BIN)/tfcompress train --model=lenet_300_100 --epochs=20 --seed=0 \
	    --output_dir=$(DEMO_DIR)/baseline --overwrite
	$(BIN)/tfcompress train --model=mlp:1200,1200,dropout=0.5 --epochs=15 --seed=0 \
	    --output_dir=$(DEMO_DIR)/teacher --overwrite
	$(BIN)/tfcompress distill --teacher=$(DEMO_DIR)/teacher --student=lenet_300_100 \
	    --temperature=4 --alpha=0.1 --epochs=20 --seed=0 \
	    --output_dir=$(DEMO_DIR)/distilled --overwrite
	$(BIN)/tfcompress prune --model=$(DEMO_DIR)/distilled --teacher=$(DEMO_DIR)/teacher \
	    --sparsity=0.9 --epochs=10 --seed=0 \
	    --output_dir=$(DEMO_DIR)/pruned --overwrite
	$(BIN)/tfcompress quantize --model=$(DEMO_DIR)/pruned --mode=pqat --epochs=2 --seed=0 \
	    --output_dir=$(DEMO_DIR)/quantized --overwrite
	$(BIN)/tfcompress evaluate --tflite=$(DEMO_DIR)/quantized/model.tflite

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR)
