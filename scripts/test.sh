#!/usr/bin/env bash
# Runs the whole test suite the way CI does: lint, start a real Kafka broker (jars from Maven Central,
# cached in .cache/kafka), run pytest against it, stop the broker. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

"$VENV/bin/ruff" check streamsim tests bench

export KAFKA_PORT="${KAFKA_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
export KAFKA_RUN="${KAFKA_RUN:-$(mktemp -d "${TMPDIR:-/tmp}/streamsim-kafka.XXXXXX")}"
trap 'bash scripts/kafka-local.sh stop' EXIT
bash scripts/kafka-local.sh start
export KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
set +e
"$PY" -m pytest -ra "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
