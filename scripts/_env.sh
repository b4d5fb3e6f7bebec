# Shared set-up for scripts/test and scripts/demo: a virtual environment with llm-kafka
# installed in editable mode, plus Java 17 and Maven for the local Kafka broker.
# Sourced, not run; expects REPO_ROOT to be set.

set -euo pipefail

VENV="${LLM_KAFKA_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_java_and_maven() {
    if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
        return  # an external broker needs neither
    fi
    if command -v java >/dev/null && command -v mvn >/dev/null; then
        return
    fi
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
        echo "Installing Java 17 and Maven for the local Kafka broker..." >&2
        apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
    else
        echo "The local Kafka broker needs Java 17+ and Maven: install them, or set KAFKA_BOOTSTRAP_SERVERS." >&2
        exit 1
    fi
}

ensure_venv() {
    local extras="$1"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    local stamp="$VENV/.llm-kafka-installed-$extras"
    if [[ ! -f "$stamp" || "$REPO_ROOT/pyproject.toml" -nt "$stamp" ]]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$REPO_ROOT[$extras]"
        touch "$stamp"
    fi
}
