# Two entry points for a fresh machine: `make demo` and `make test`.
# torch is installed *before* everything else so pip takes the local CPU wheel
# instead of resolving a multi-GB CUDA build for stable-baselines3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Third-party Binance clients the simulator is tested against (binance-futures-connector,
# ccxt), pinned in tests/clients/requirements.txt. A venv of their own: the connector
# installs a top-level `binance` package that would replace python-binance in .venv.
CLIENTS       := .venv-clients
CLIENTS_STAMP := $(CLIENTS)/.installed
# Ray Tune for `sactui sweep`: an optional extra of the package, installed into .venv for the tests
# (they run a real local Ray); `make demo` does not need it.
SWEEP_STAMP   := $(VENV)/.sweep-installed

.PHONY: demo test install clients sweep bench demo-run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(CLIENTS_STAMP): tests/clients/requirements.txt
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/pip install --quiet --upgrade pip
	$(CLIENTS)/bin/pip install --quiet -r tests/clients/requirements.txt
	touch $(CLIENTS_STAMP)

clients: $(CLIENTS_STAMP)

$(SWEEP_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,sweep]'
	touch $(SWEEP_STAMP)

sweep: $(SWEEP_STAMP)

demo: $(STAMP)
	$(BIN)/sactui --train-id demo --sim --speed 7200

test: $(STAMP) $(CLIENTS_STAMP) $(SWEEP_STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/decision_latency.py

# 48 h of real 1m candles through a real session under seeded faults and kill -9 (docs/SOAK.md).
soak: $(STAMP)
	$(BIN)/sactui soak --profile full --seed 1 --out soak-out --fresh

# Re-creates entrenamientos/demo from the real 1h candles (see README, "The demo run").
demo-run: $(STAMP)
	$(BIN)/python -m trader_core.training.demo

clean:
	rm -rf $(VENV) $(CLIENTS) .pytest_cache
