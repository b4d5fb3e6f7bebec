"""The llm-kafka command on the real broker: run, dlq replay end to end, and the service forwards."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llm_kafka import KafkaSettings, Pipeline, PipelineSettings
from llm_kafka.cli import main
from llm_kafka.dead_letter_replay import HEADER_REPLAYED
from llm_kafka.kafka import dead_letter as dlq

from .cli_app import FixableProcessor
from .kafka_io import produce, read_all, run_until_settled, wait_until

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, bootstrap: str, group: str, topics: dict[str, str], telemetry: str = "") -> Path:
    path.write_text(
        f"""
[kafka]
bootstrap_servers = "{bootstrap}"
group_id = "{group}"

[pipeline]
input_topics = ["{topics["in"]}"]
output_topic = "{topics["out"]}"
dead_letter_topic = "{topics["dlq"]}"
commit_interval_s = 0.5

[telemetry]
log_level = "INFO"
{telemetry}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """Undo configure_logging, which the commands call on the root logger pytest also uses."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def topics(new_topic: Callable[..., str]) -> dict[str, str]:
    return {"in": new_topic("cli-in"), "out": new_topic("cli-out"), "dlq": new_topic("cli-dlq")}


@pytest.fixture
def fixable() -> Iterator[type[FixableProcessor]]:
    FixableProcessor.fixed = False
    yield FixableProcessor
    FixableProcessor.fixed = False


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def test_run_processes_records_and_stops_on_sigint(
    bootstrap_servers: str, topics: dict[str, str], tmp_path: Path
) -> None:
    health_port, metrics_port = free_port(), free_port()
    config = write_config(
        tmp_path / "app.toml",
        bootstrap_servers,
        f"cli-{topics['in']}",
        topics,
        f'log_format = "json"\nhealth_port = {health_port}\nprometheus_port = {metrics_port}',
    )
    produce(
        bootstrap_servers,
        topics["in"],
        [(f"k{i}".encode(), json.dumps({"id": f"m{i}", "content": f"v{i}"}).encode()) for i in range(3)],
    )
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LLM_KAFKA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "llm_kafka.cli", "run", "tests.integration.cli_app:Upper", "--config", str(config)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        outputs = read_all(bootstrap_servers, topics["out"], expected=3, timeout_s=90)
        assert wait_until(
            lambda: "messages_processed_total" in http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1], 15
        )
        metrics_text = http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
        livez = http_get(f"http://127.0.0.1:{health_port}/livez")
        readyz = http_get(f"http://127.0.0.1:{health_port}/readyz")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()

    assert process.returncode == 0, stderr[-3000:]
    assert sorted(json.loads(r.value or b"{}")["result"]["upper"] for r in outputs) == ["V0", "V1", "V2"]
    assert f'llm_kafka_messages_processed_total{{processor="upper",topic="{topics["in"]}"}} 3.0' in metrics_text
    assert livez[0] == 200
    assert json.loads(livez[1])["beats"] > 0
    assert readyz[0] == 200, readyz
    assert json.loads(readyz[1])["assigned_partitions"] == 1
    first_log = json.loads(stderr.splitlines()[0])
    assert first_log["level"] in {"INFO", "WARNING"}


def test_run_rejects_unknown_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "app.toml", "127.0.0.1:1", "g", {"in": "a", "out": "b", "dlq": "c"})

    status = main(["run", "tests.integration.cli_app:Missing", "--config", str(config)])

    assert status == 1
    assert "has no attribute 'Missing'" in capsys.readouterr().err


def make_pipeline(bootstrap: str, group: str, topics: dict[str, str]) -> Pipeline:
    return Pipeline(
        FixableProcessor(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=group),
        settings=PipelineSettings(
            input_topics=[topics["in"]], output_topic=topics["out"], dead_letter_topic=topics["dlq"]
        ),
    )


def test_dlq_replay_reprocesses_fixed_failure(
    bootstrap_servers: str,
    topics: dict[str, str],
    tmp_path: Path,
    fixable: type[FixableProcessor],
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = f"replay-{topics['in']}"
    config = write_config(tmp_path / "app.toml", bootstrap_servers, group, topics)
    produce(
        bootstrap_servers,
        topics["in"],
        [
            (b"k-ok", b'{"id": "ok", "content": "fine"}', [("tenant", b"acme")]),
            (b"k-bug", b'{"id": "bug", "content": "needs-fix"}', [("tenant", b"acme")]),
        ],
    )
    run_until_settled(make_pipeline(bootstrap_servers, group, topics), expected=2)
    assert [r.key for r in read_all(bootstrap_servers, topics["dlq"], expected=1)] == [b"k-bug"]

    fixable.fixed = True
    assert main(["dlq", "replay", "--config", str(config)]) == 0
    assert "replayed 1 of 1 examined records (1 to " in capsys.readouterr().out

    inputs = read_all(bootstrap_servers, topics["in"], expected=3)
    replayed = inputs[-1]
    assert replayed.key == b"k-bug"
    assert replayed.value == b'{"id": "bug", "content": "needs-fix"}'
    assert replayed.headers["tenant"] == b"acme"
    assert not [name for name in replayed.headers if name.startswith(("llm_kafka.error", "llm_kafka.source."))]
    marker = json.loads(replayed.headers[HEADER_REPLAYED] or b"{}")
    assert marker["count"] == 1
    assert marker["dead_letter"] == f"{topics['dlq']}/0/0"

    run_until_settled(make_pipeline(bootstrap_servers, group, topics), expected=1)
    outputs = read_all(bootstrap_servers, topics["out"], expected=2)
    assert sorted(json.loads(r.value or b"{}")["id"] for r in outputs) == ["bug", "ok"]

    assert main(["dlq", "replay", "--config", str(config)]) == 0
    assert "replayed 0 of 0 examined records" in capsys.readouterr().out
    assert len(read_all(bootstrap_servers, topics["in"], expected=3, quiet_s=1)) == 3


def dead_letter_record(source: str, error_type: str, message_id: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    headers = [
        ("trace-me", b"yes"),
        (dlq.HEADER_SOURCE_TOPIC, source.encode()),
        (dlq.HEADER_SOURCE_PARTITION, b"0"),
        (dlq.HEADER_SOURCE_OFFSET, b"7"),
        (dlq.HEADER_ERROR_TYPE, error_type.encode()),
        (dlq.HEADER_ERROR_MESSAGE, b"boom"),
        (dlq.HEADER_MESSAGE_ID, message_id.encode()),
    ]
    return message_id.encode(), json.dumps({"id": message_id, "content": "x"}).encode(), headers


def test_dlq_replay_filters_and_dry_run(
    bootstrap_servers: str, topics: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "app.toml", bootstrap_servers, f"filter-{topics['in']}", topics)
    produce(
        bootstrap_servers,
        topics["dlq"],
        [
            dead_letter_record(topics["in"], "TimeoutError", "a"),
            dead_letter_record(topics["in"], "ValueError", "b"),
            dead_letter_record(topics["in"], "TimeoutError", "c"),
            (b"stray", b"{}", [("other", b"header")]),
        ],
    )
    arguments = ["dlq", "replay", "--config", str(config)]

    assert main([*arguments, "--error-type", "TimeoutError", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert dry.count("would replay partition=0") == 2
    assert "id=a" in dry
    assert "id=c" in dry
    assert "would replay 2 of 4 examined records" in dry

    assert main([*arguments, "--error-type", "TimeoutError", "--limit", "1"]) == 0
    assert "replayed 1 of 1 examined records" in capsys.readouterr().out
    assert main([*arguments, "--error-type", "TimeoutError", "--group", "second-pass"]) == 0
    assert "replayed 2 of 4 examined records" in capsys.readouterr().out

    replayed = read_all(bootstrap_servers, topics["in"], expected=3)
    assert [r.key for r in replayed] == [b"a", b"a", b"c"]
    assert all(r.headers["trace-me"] == b"yes" for r in replayed)


def test_dlq_replay_time_window(
    bootstrap_servers: str, topics: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "app.toml", bootstrap_servers, f"window-{topics['in']}", topics)
    produce(bootstrap_servers, topics["dlq"], [dead_letter_record(topics["in"], "ValueError", "old")])
    time.sleep(1.5)
    middle = time.time()
    time.sleep(1.5)
    produce(bootstrap_servers, topics["dlq"], [dead_letter_record(topics["in"], "ValueError", "new")])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(middle))

    assert main(["dlq", "replay", "--config", str(config), "--since", since, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "id=new" in out
    assert "id=old" not in out


def test_dlq_replay_rejects_invalid_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dlq", "replay", "--since", "yesterday"])

    assert "invalid time 'yesterday'" in capsys.readouterr().err


def test_dlq_replay_missing_topic_is_reported(
    bootstrap_servers: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "app.toml", bootstrap_servers, "g-missing", {"in": "a", "out": "b", "dlq": "no-such-dlq-topic"}
    )

    assert main(["dlq", "replay", "--config", str(config)]) == 1
    assert "dead-letter topic 'no-such-dlq-topic' not found" in capsys.readouterr().err


def test_broker_command_forwards_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["broker", "--help"]) == 0
    assert "--run-seconds" in capsys.readouterr().out


def test_llm_server_command_forwards_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm-server", "--help"]) == 0
    assert "--fail-marker" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("llm-kafka")

    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0
    assert "dlq" in result.stdout
