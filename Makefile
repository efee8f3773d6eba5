# normlab — the two commands a new machine needs are `make test` and `make demo`.
# Everything else here is a step those two call, or an instructor's convenience.

SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FW_STAMP := $(VENV)/.frameworks-stamp
# The Keras backend of the framework tests: torch, which the PyTorch tests install anyway.
KERAS_BACKEND ?= torch
export KERAS_BACKEND
# The browser tests (tests/conftest.py) drive Debian's Chromium through Playwright.
NORMLAB_CHROMIUM ?= /usr/bin/chromium
export NORMLAB_CHROMIUM

.PHONY: setup browser frameworks test lint stubs synthetic-data instructor notebooks clean help

help:
	@echo "make test            set up .venv (if missing), lint, run the whole test suite"
	@echo "                     (FRAMEWORKS=0: without installing PyTorch and Keras)"
	@echo "make frameworks      install the optional PyTorch and Keras (requirements-frameworks.txt)"
	@echo "make stubs           regenerate assignment/ (student stubs) from solutions/"
	@echo "make synthetic-data  write the small synthetic CIFAR-10 to datasets/"
	@echo "make instructor      build an instructor copy (solutions in place) in build/instructor"
	@echo "make notebooks       rebuild the committed notebooks from their sources (notebooks/src/)"
	@echo "make clean           remove .venv and caches"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "normlab needs Python 3.10 or newer; set PYTHON=python3.x")'
	@echo "Setting up $(VENV) (once; about 1-2 minutes on a new machine, a line per package):"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -r requirements-dev.txt \
		| grep --line-buffered -E '^(Collecting|Successfully installed)' | cut -c1-100; \
		test "$${PIPESTATUS[0]}" -eq 0
	touch $(STAMP)

setup: $(STAMP) browser

# Chromium for the browser tests: installed from Debian when missing and make runs as root
# (Playwright's own browser download is not used); otherwise say how to get it.
browser:
	@if [ -x "$(NORMLAB_CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "$(NORMLAB_CHROMIUM) is missing: installing Debian's chromium for the browser tests"; \
		apt-get update && apt-get install -y chromium; \
	else \
		echo "NOTE: $(NORMLAB_CHROMIUM) is missing and this is not root with apt-get, so it cannot be"; \
		echo "      installed here. The browser tests (tests/autograder/recording/test_feedback_browser.py) will fail"; \
		echo "      until it is: sudo apt-get update && sudo apt-get install -y chromium"; \
		echo "      (or set NORMLAB_CHROMIUM to a Chromium binary)."; \
	fi

# The optional frameworks (CPU PyTorch, Keras 3), so that the tests and notebook cells comparing
# with them run instead of being skipped. Students do not need them; the tests also run the
# notebooks as if they were missing (NORMLAB_NO_TORCH=1, NORMLAB_NO_KERAS=1).
$(FW_STAMP): requirements-frameworks.txt $(STAMP)
	@echo "Installing PyTorch (CPU) and Keras for the framework tests (once; about 1 GB):"
	$(BIN)/python -m pip install --progress-bar off -r requirements-frameworks.txt \
		| grep --line-buffered -E '^(Collecting|Successfully installed)' | cut -c1-100; \
		test "$${PIPESTATUS[0]}" -eq 0
	touch $(FW_STAMP)

frameworks: $(FW_STAMP)

lint: setup
	$(BIN)/ruff check .

test: setup $(if $(filter 0,$(FRAMEWORKS)),,frameworks) lint
	$(BIN)/python -m pytest

stubs: setup
	$(BIN)/python -m autograder.authoring.stubgen

synthetic-data: setup
	$(BIN)/python -m solutions.synthetic_cifar datasets/synthetic-cifar-10-batches-py

instructor: setup
	$(BIN)/python -m autograder.authoring.instructor --out build/instructor
	@echo "Open the notebooks in build/instructor/notebooks/: every cell runs (NORMLAB_FAST=1 for a quick pass)."

notebooks: setup
	$(BIN)/python notebooks/build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# ---- instructor: the student release and the grading demo (python -m autograder ...) ----
.PHONY: release demo

release: setup
	$(BIN)/python -m autograder release --out build/release

demo: setup
	$(BIN)/python -m autograder.demo --dir build/demo
