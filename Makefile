# Two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export OMP_NUM_THREADS ?= 1

.PHONY: run test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/sim run scenarios/multi_device.yaml

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results/*/

.PHONY: traces
$(VENV)/.installed-profile: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,profile]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-run

traces: $(VENV)/.installed-profile
	$(BIN)/sim profile timings --out traces/timings_cpu.json
