# convlens: two commands, `make demo` and `make test`. Both set everything up first and are
# idempotent: a second run skips what is done.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test check docs bench bench-peers data system serve lab clean help

help:
	@echo "make demo   set up .venv and run the main job"
	@echo "make test   set up .venv, run ruff, mypy, import-linter and the whole test suite"

# The virtual environment, with pinned dependencies; rebuilt when the pins change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Fashion-MNIST from Debian when missing and we are root; otherwise say how to get it.
data:
	@if [ ! -d $(FASHION_DIR) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian package dataset-fashion-mnist"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	      || echo "warning: could not install dataset-fashion-mnist; convlens will try torchvision's download"; \
	  else \
	    echo "note: $(FASHION_DIR) missing; run 'sudo apt-get install dataset-fashion-mnist' or pass --data-dir"; \
	  fi; \
	fi

# Debian packages the tests use: Fashion-MNIST and Chromium (report and browser tests), installed
# in one apt call when missing and we are root; tests that need a missing one are skipped.
system:
	@missing=""; [ -d $(FASHION_DIR) ] || missing="$$missing dataset-fashion-mnist"; \
	 command -v chromium >/dev/null || missing="$$missing chromium"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "installing Debian packages:$$missing"; \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	       || echo "warning: could not install$$missing"; \
	   else echo "note: missing Debian packages:$$missing (sudo apt-get install$$missing)"; fi; \
	 fi

CL := $(VENV)/bin/convlens
DEMO_RUN := runs/demo

# The main job: the convolution lesson on a real photo, then the default recipe on
# Fashion-MNIST for a fixed time (DEMO_BUDGET: the first batches are timed and the steps that
# fit are trained, so the job takes as long on any machine; it prints the accuracy reached; a
# finished run is kept, an interrupted one resumes with its saved steps), its evaluation and
# predictions on test images, and the run report.
DEMO_BUDGET := 2m
demo: $(STAMP) data
	$(CL) kernels --out out/kernels.png
	@if [ -f $(DEMO_RUN)/run.json ]; then $(CL) train --resume $(DEMO_RUN); \
	 else $(CL) train --budget $(DEMO_BUDGET) --out $(DEMO_RUN); fi
	$(CL) eval $(DEMO_RUN)
	$(CL) predict $(DEMO_RUN) --index 0 1 2 3 4 5 --show out/predictions.png
	$(CL) report $(DEMO_RUN)
	@echo "run folder: $(DEMO_RUN); open $(DEMO_RUN)/report.html in a browser"

# The explorer with an offline digit model (trained once, about 20 s): draw digits at
# http://127.0.0.1:8000/
DIGITS_RUN := runs/digits
serve: $(STAMP)
	@if [ -f $(DIGITS_RUN)/run.json ]; then $(CL) train --resume $(DIGITS_RUN) --no-progress; \
	 else $(CL) train --data digits --augment crop --epochs 15 --out $(DIGITS_RUN) --no-progress; fi
	$(CL) serve $(DIGITS_RUN)

# JupyterLab for the lessons (not needed by anything else, so installed on first use).
lab: $(STAMP)
	@test -x $(VENV)/bin/jupyter-lab || $(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter-lab lessons/

# The whole check: lint and format (ruff; the lesson notebooks are linted too), types (mypy),
# layer contracts (import-linter), then the test suite.
test: $(STAMP) system check
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench lessons docs
	$(VENV)/bin/ruff format --check src tests bench lessons/build.py lessons/checks.py docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory docs

# The API reference from the docstrings (pdoc), into site/ (not committed); any warning fails.
# `convlens` brings convlens.models along (a front-door name in its __all__: cl.models()).
DOC_MODULES := convlens convlens.api convlens.primer convlens.data convlens.engine \
	convlens.look convlens.io convlens.config convlens.errors
docs: $(STAMP)
	@rm -rf site
	$(PY) -W error -m pdoc --docformat google -o site $(DOC_MODULES)
	@echo "API reference: site/index.html"

bench: $(STAMP) data
	$(PY) bench/convmath.py
	$(PY) bench/time_to_accuracy.py --seeds 1
	$(PY) bench/explorer.py

# convlens beside Keras 3 (TensorFlow CPU), Lightning and fastai on the notebooks' network; the
# peers live in their own venv (pinned in bench/peers-requirements.txt), never in .venv.
PEERS_VENV := bench/.peers-venv
$(PEERS_VENV)/.installed-stamp: bench/peers-requirements.txt
	@test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/peers-requirements.txt
	@touch $@

bench-peers: $(STAMP) data $(PEERS_VENV)/.installed-stamp
	$(PY) bench/peers.py --peers-python $(PEERS_VENV)/bin/python

clean:
	rm -rf $(VENV) out site .pytest_cache
