"""Settings loading: a TOML or YAML file, environment variables and overrides, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_kafka.errors import ConfigurationError
from llm_kafka.settings_file import load_settings

TOML = """
[kafka]
bootstrap_servers = "127.0.0.1:9092"
group_id = "summaries"
sasl_password = "file-secret"
security_protocol = "SASL_SSL"
sasl_username = "svc"

[kafka.consumer]
"max.poll.interval.ms" = 600000

[pipeline]
input_topics = ["docs"]
output_topic = "summaries"
dead_letter_topic = "summaries.dlq"
max_in_flight = 8

[llm]
provider = "anthropic"
model = "claude-test"
api_key = "sk-ant-file-key"

[telemetry]
log_format = "json"
health_port = 8081
"""

YAML = """
kafka:
  bootstrap_servers: 127.0.0.1:9092
  group_id: summaries
pipeline:
  input_topics: [docs]
  output_topic: summaries
  dead_letter_topic: summaries.dlq
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LLM_KAFKA_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_fills_every_group(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "app.toml", TOML))

    assert settings.kafka.group_id == "summaries"
    assert settings.kafka.consumer_config()["max.poll.interval.ms"] == 600000
    assert settings.pipeline.max_in_flight == 8
    assert settings.llm is not None
    assert settings.llm.client_options()["api_key"] == "sk-ant-file-key"
    assert settings.telemetry.log_format == "json"
    assert settings.telemetry.health_port == 8081


def test_yaml_file_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "app.yaml", YAML))

    assert settings.pipeline.input_topics == ["docs"]
    assert settings.llm is None


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_KAFKA_PIPELINE__MAX_IN_FLIGHT", "32")
    monkeypatch.setenv("LLM_KAFKA_KAFKA__PRODUCER", '{"linger.ms": 20}')

    settings = load_settings(write(tmp_path, "app.toml", TOML))

    assert settings.pipeline.max_in_flight == 32
    assert settings.pipeline.output_topic == "summaries"
    assert settings.kafka.producer_config()["linger.ms"] == 20


def test_overrides_win_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_KAFKA_PIPELINE__MAX_IN_FLIGHT", "32")

    settings = load_settings(write(tmp_path, "app.toml", TOML), pipeline={"max_in_flight": 2})

    assert settings.pipeline.max_in_flight == 2
    assert settings.pipeline.input_topics == ["docs"]


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LLM_KAFKA_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "LLM_KAFKA_KAFKA__GROUP_ID": "g",
        "LLM_KAFKA_PIPELINE__INPUT_TOPICS": '["in"]',
        "LLM_KAFKA_PIPELINE__OUTPUT_TOPIC": "out",
        "LLM_KAFKA_PIPELINE__DEAD_LETTER_TOPIC": "dlq",
        "LLM_KAFKA_LLM__API_KEY": "sk-env-key",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.pipeline.input_topics == ["in"]
    assert settings.llm is not None
    assert settings.llm.provider == "openai"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_KAFKA_CONFIG", str(write(tmp_path, "app.toml", TOML)))

    assert load_settings().kafka.group_id == "summaries"


def test_missing_field_names_file_and_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path, "app.toml", "[kafka]\nbootstrap_servers = 'x:1'\ngroup_id = 'g'\n[pipeline]\ninput_topics = ['a']\n"
    )

    with pytest.raises(ConfigurationError) as raised:
        load_settings(path)

    assert "pipeline.output_topic: Field required" in str(raised.value)
    assert "LLM_KAFKA_PIPELINE__OUTPUT_TOPIC" in str(raised.value)
    assert str(path) in str(raised.value)


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "app.toml", TOML + "\n[extra]\nx = 1\n")

    with pytest.raises(ConfigurationError, match="extra"):
        load_settings(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("app.toml", "[kafka\n", "not valid TOML"),
        ("app.yaml", "kafka: [unclosed\n", "not valid YAML"),
        ("app.yaml", "- a list\n", "contains a list"),
        ("app.ini", "[kafka]\n", "unknown type"),
    ],
)
def test_bad_file_is_rejected(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(write(tmp_path, name, text))


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read settings file"):
        load_settings(tmp_path / "absent.toml")


def test_repr_hides_file_secrets(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "app.toml", TOML))

    assert "file-secret" not in repr(settings)
    assert "sk-ant-file-key" not in repr(settings)
    assert set(settings.secret_values()) == {"file-secret", "sk-ant-file-key"}


def test_unsafe_kafka_setting_in_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "app.toml", TOML.replace('"max.poll.interval.ms" = 600000', '"enable.auto.commit" = true'))

    with pytest.raises(ConfigurationError, match=r"enable.auto.commit.*Remove"):
        load_settings(path).kafka.consumer_config()


def test_environment_fills_group_missing_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_KAFKA_TELEMETRY__LOG_FORMAT", "json")
    monkeypatch.setenv("LLM_KAFKA_LLM__MODEL", "env-model")

    settings = load_settings(write(tmp_path, "app.yaml", YAML))

    assert settings.telemetry.log_format == "json"
    assert settings.telemetry.health_host == "127.0.0.1"
    assert settings.llm is not None
    assert settings.llm.model == "env-model"


def test_yaml_without_pyyaml_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> object:
        if name == "yaml":
            raise ImportError("No module named 'yaml'", name="yaml")
        return real_import(name, package)

    monkeypatch.setattr("llm_kafka.settings_file.importlib.import_module", import_module)

    with pytest.raises(ConfigurationError, match=r"pip install 'llm-kafka\[yaml\]'"):
        load_settings(write(tmp_path, "app.yaml", YAML))


def test_misspelled_field_suggests_the_right_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(
        '[kafka]\nbootstrap_servers = "127.0.0.1:9"\ngroup_id = "g"\n'
        '[pipeline]\ninput_topics = ["a"]\noutput_topic = "b"\ndead_letter_topic = "c"\nmax_inflight = 8\n'
    )

    expected = r"pipeline\.max_inflight: unknown setting; did you mean max_in_flight"
    with pytest.raises(ConfigurationError, match=expected):
        load_settings(path)


def test_missing_section_names_the_config_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_KAFKA_CONFIG", raising=False)

    with pytest.raises(ConfigurationError, match=r"kafka: missing\. Add a \[kafka\] section"):
        load_settings()
