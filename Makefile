# cnlbench: the two commands a user needs.
#   make demo   build the embedded default benchmark and run the quick sweep
#   make test   fresh virtual environment, full test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cnlbench-installed
OUT    ?= out

.PHONY: venv demo test bench leaderboard clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch 2.13.0 first, through the constraints file (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,ray,bench]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cnlbench demo --out $(OUT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

# Every benchmark script, figures printed (see BENCHMARKS.md for the recorded ones).
bench: $(STAMP)
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(BIN)/python benchmarks/noise_generation.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/harness_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/multirun_throughput.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/export_rate.py

# The committed reference leaderboard: every method on the digits default, symmetric and web
# noise at all ten levels, 3 seeds (methods that need the true T only where one exists).
LB_METHODS_ALL := $(shell printf '%s' 'backward-that bootstrap-hard bootstrap-soft ce ce-dropout ce-wd confidence-penalty coteaching dac dac-protocol derivative-manipulation forward-that gce gce-truncated label-smoothing mae mentormix mentornet mixup proselflc s-model savage sce sigmoid unhinged' | tr ' ' ',')
leaderboard: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/cnlbench eval manifests/digits --methods $(LB_METHODS_ALL) --configs 'sym-*,web-*' \
		--seeds 3 --jobs 2 --device cpu --out $(OUT)/leaderboard-runs --no-progress > /dev/null || true
	HF_HUB_OFFLINE=1 $(BIN)/cnlbench eval manifests/digits --methods forward,backward --configs 'sym-*' \
		--seeds 3 --jobs 2 --device cpu --out $(OUT)/leaderboard-runs --no-progress > /dev/null || true
	$(BIN)/python -c "import pyarrow.parquet as pq; from cnlbench.harness.store import read_results; \
		pq.write_table(read_results('$(OUT)/leaderboard-runs'), 'leaderboard/results/digits.parquet', compression='zstd')"
	$(BIN)/cnlbench leaderboard --results leaderboard/results/digits.parquet --out leaderboard

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
