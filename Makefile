# make demo: set up .venv, pretrain the default recipe on built-in `shapes`, probe it, draw reconstructions.
# make test: set up .venv and run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= runs/demo

.PHONY: demo test setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,points,tiff,png16,audio,text,serve,serve-test,stream,volumes]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	time $(BIN)/anymae pretrain --out $(RUN) --overwrite
	$(BIN)/anymae probe $(RUN)
	$(BIN)/anymae reconstruct $(RUN)

test: setup
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) runs .pytest_cache
