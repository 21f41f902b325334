# The two commands of the README: `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench schemas lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ffpipe validate pipelines/examples/*.yaml
	$(BIN)/ffpipe run pipelines/examples/*.yaml

test: $(STAMP) lint
	$(BIN)/python -m ffpipe schema --check
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ffpipe tests bench
	$(BIN)/ruff format --check ffpipe tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix ffpipe tests bench
	$(BIN)/ruff format ffpipe tests bench

schemas: $(STAMP)
	$(BIN)/python -m ffpipe schema --out schemas

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .ffpipe out
