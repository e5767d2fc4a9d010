# sciarch -- the two set-up commands for a fresh machine are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: venv demo test test-all bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	touch $(STAMP)

## Run every registered pipeline's quick config end to end on the embedded data; prints the report paths.
## Then screen the embedded ZINC library against ABL1 with the shipped Davis model and print the top hits.
demo: venv
	$(VENV)/bin/sciarch demo --out runs/demo
	$(VENV)/bin/sciarch screen --model models/davis-gin-v2 --library data/drugscreen/zinc250k_jtvae_valid.smi.gz \
		--target models/davis-gin-v2/ABL1.fasta --top 10 --out runs/demo/screen_abl1 --overwrite --no-progress
	@echo "top 10 of the ZINC library against ABL1 (models/davis-gin-v2, predicted pKd):"
	@cat runs/demo/screen_abl1/hits.csv

## The default test run (slow-marked tests excluded).
test: venv
	$(VENV)/bin/pytest -q -m "not slow" --durations=15 $(PYTEST_ARGS)

test-all: venv
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

## Benchmarks write JSON into benchmarks/results/.
bench: venv
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache
