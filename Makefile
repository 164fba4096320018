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

# the tests include smoke runs of `sim profile`, so they need the CPU torch build
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,profile]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/sim run scenarios/multi_device.yaml

# one pytest worker per core (pytest-xdist); TEST_WORKERS=0 runs them in one process
TEST_WORKERS ?= auto
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

clean:
	rm -rf $(VENV) results/*/

.PHONY: traces
# regenerate the shipped traces (single-threaded; several minutes on 2 cores)
traces: $(VENV)/.installed-test
	$(BIN)/sim profile timings --out traces/timings_cpu.json
	$(BIN)/sim profile timings --models meanet_mnist,meanet_cifar_resnet32 --out traces/timings_meanet_cpu.json
	$(BIN)/sim profile timings --models meanet_mnist,meanet_cifar_resnet32 --precisions fp32,int8 --out traces/timings_meanet_int8_cpu.json
	$(BIN)/sim profile exits --precisions int8,int4,binary --save-network results/meanet_mnist_net.pt --out traces/exits_mnist.parquet
	$(BIN)/sim profile exits --test-samples 1000 --adapt-samples 32,128,512 --load-network results/meanet_mnist_net.pt --out traces/exits_mnist_adapted.parquet
	$(BIN)/sim profile adaptation --out traces/adaptation_mnist.json
	$(BIN)/sim profile payloads --out traces/payloads.json

# the study sweeps at a size that finishes in a few minutes, with their reports
STUDIES := $(wildcard scenarios/sweeps/*.yaml)
.PHONY: studies
studies: $(VENV)/.installed-test
	@for f in $(STUDIES); do \
	  name=$$(basename $$f .yaml); \
	  $(BIN)/sim sweep $$f --workers 2 --out results/studies && \
	  $(BIN)/sim report results/studies/$$name || exit 1; \
	done

# the slow validation (a simulated week of every shipped scenario in both modes, ...)
# ... and the ns-3 cross-check of the network model (tests/validation/test_ns3.py): the validate extra
# builds ns-3's Python bindings on its first install (about 3 minutes)
$(VENV)/.installed-validate: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,profile,validate]'
	touch $@

.PHONY: validate
validate: $(VENV)/.installed-validate
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m validate

.PHONY: bench
bench: $(VENV)/.installed-run
	$(BIN)/python benchmarks/run_all.py
