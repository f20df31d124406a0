# vocalmine: `make demo` runs the whole pipeline on the generated demo corpus; `make test` runs the tests
# (`make test-fast`: all but the slow ones).
# Both bootstrap what they need on a fresh Debian machine (idempotently): system packages, a .venv, torch, the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo
# The demo's training recipe (docs/training.md, "The recipe"): both of the paper's models get the same.
DEMO_RECIPE := --max-steps 300 --valid-every 50 --valid-patches 256 --checkpoint-every 100 \
	--lr 3e-4 --lr-schedule cosine --warmup-steps 20 --remix-share 0.5 --gain-db=-12,0

.PHONY: setup sysdeps demo test test-fast bench clean-demo

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
	$(BIN)/build-shards $(DEMO)/pairs -o $(DEMO)/shards --patch-hop 32 --split-file $(DEMO)/corpus/truth/songs.csv
	$(BIN)/export-stems $(DEMO)/pairs -o $(DEMO)/stems --split-file $(DEMO)/corpus/truth/songs.csv
	for target in vocals instrumental; do \
		$(BIN)/train --target $$target --shards $(DEMO)/shards -o $(DEMO)/runs/$$target $(DEMO_RECIPE) \
			$$(test -f $(DEMO)/runs/$$target/checkpoint.pt && echo --resume) || exit $$?; \
	done
	$(BIN)/evaluate --model $(DEMO)/runs/vocals --instrumental-model $(DEMO)/runs/instrumental $(DEMO)/corpus \
		--subset test --write-audio $(DEMO)/separated

# `make test` runs every test; `make test-fast` leaves out the ones marked slow (whole pipelines, training runs,
# subprocess clusters: tests/conftest.py) for a quick check while working.
test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python benchmarks/bench_democorpus.py
	$(BIN)/python benchmarks/bench_miner.py
	$(BIN)/python benchmarks/bench_library.py
	$(BIN)/python benchmarks/bench_pairing.py
	$(BIN)/python benchmarks/bench_shards.py
	$(BIN)/python benchmarks/bench_stems.py
	$(BIN)/python benchmarks/bench_reader.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_separate.py

clean-demo:
	rm -rf $(DEMO)
