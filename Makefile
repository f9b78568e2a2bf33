# cnlbench: the two commands a user needs.
#   make demo   build the embedded default benchmark and run the quick sweep
#   make test   fresh virtual environment, full test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cnlbench-installed
OUT    ?= out

.PHONY: venv demo test bench clean

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

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/noise_generation.py

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
