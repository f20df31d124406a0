# vocalmine: `make demo` runs the whole pipeline on the generated demo corpus; `make test` runs the tests.
# Both bootstrap what they need on a fresh Debian machine (idempotently): system packages, a .venv, torch, the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo

.PHONY: setup sysdeps demo test bench clean-demo

setup: sysdeps $(STAMP)

sysdeps:
	@bash scripts/install-system-deps.sh

# torch==2.13.0 first: its CPU wheel lies on this machine's disk; a bare `torch` requirement would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: setup
	$(BIN)/make-demo-corpus $(DEMO)/corpus --songs 40 --seconds 30 --seed 0
	$(BIN)/mine-pairs $(DEMO)/corpus/catalog.csv -o $(DEMO)/pairs
	$(BIN)/build-shards $(DEMO)/pairs -o $(DEMO)/shards --patch-hop 32 --ratios 0.6,0.1,0.3
	$(BIN)/train --target vocals --shards $(DEMO)/shards -o $(DEMO)/runs/vocals --max-steps 400 \
		--valid-every 100 --checkpoint-every 100 $$(test -f $(DEMO)/runs/vocals/checkpoint.pt && echo --resume)
	$(BIN)/evaluate --model $(DEMO)/runs/vocals $(DEMO)/shards --write-audio $(DEMO)/separated

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_democorpus.py
	$(BIN)/python benchmarks/bench_miner.py
	$(BIN)/python benchmarks/bench_pairing.py
	$(BIN)/python benchmarks/bench_shards.py
	$(BIN)/python benchmarks/bench_reader.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_separate.py

clean-demo:
	rm -rf $(DEMO)
