# The two commands of the README: `make demo` (the main job) and `make test` (everything CI runs).
# Both set up the virtualenv on first use; Python >= 3.11, Java 17 and Maven are the prerequisites.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/streamsim demo

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check streamsim tests bench

bench: $(STAMP)
	$(VENV)/bin/streamsim bench --data out/demo/ml-latest-small

clean:
	rm -rf out .pytest_cache
