"""Command-line helpers that need no broker: target import, pipeline building, replay headers."""

from __future__ import annotations

import datetime
import json

import pytest

from llm_kafka import KafkaSettings, Pipeline, PipelineSettings
from llm_kafka.cli.run import build_pipeline, import_target
from llm_kafka.config import LLMSettings, Settings
from llm_kafka.dead_letter_replay import HEADER_REPLAYED, ReplayFilter, replay_headers
from llm_kafka.errors import ConfigurationError
from llm_kafka.kafka import dead_letter as dlq
from tests.integration.cli_app import Upper, make_upper

NOW = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)


def settings() -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1", group_id="g"),
        pipeline=PipelineSettings(input_topics=["in"], output_topic="out", dead_letter_topic="dlq"),
    )


def test_import_target_reads_dotted_attribute() -> None:
    assert import_target("tests.integration.cli_app:Upper.name") == "upper"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon", "expected MODULE:OBJECT"),
        ("not_a_module_here:x", "module 'not_a_module_here' not found"),
        ("tests.integration.cli_app:Nope", "has no attribute 'Nope'"),
    ],
)
def test_import_target_errors_name_the_problem(reference: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        import_target(reference)


@pytest.mark.parametrize(
    "target", [Upper, Upper(), make_upper, {"default": Upper()}], ids=["class", "instance", "factory", "routes"]
)
def test_build_pipeline_wires_processor_from_settings(target: object) -> None:
    pipeline = build_pipeline(target, settings())

    assert isinstance(pipeline, Pipeline)
    assert pipeline.settings.output_topic == "out"
    assert pipeline.llm is None


def test_build_pipeline_returns_pipeline_as_is() -> None:
    existing = build_pipeline(Upper, settings())

    assert build_pipeline(existing, None) is existing
    assert build_pipeline(lambda: existing, None) is existing


def test_build_pipeline_builds_llm_client() -> None:
    configured = settings()
    configured.llm = LLMSettings(
        provider="openai",
        model="cli-helper-model",
        api_key="sk-unit-test",
        base_url="http://127.0.0.1:9/v1",
        max_attempts=2,
        requests_per_minute=30,
    )

    pipeline = build_pipeline(Upper, configured)

    assert pipeline.llm is not None
    assert pipeline.llm.model == "cli-helper-model"
    assert pipeline.llm.retry_policy.max_attempts == 2
    assert pipeline.llm.rate_limiter.limits.requests_per_minute == 30


def test_build_pipeline_without_settings_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="--config"):
        build_pipeline(Upper, None)


def test_build_pipeline_rejects_other_objects() -> None:
    with pytest.raises(ConfigurationError, match="cannot run a int"):
        build_pipeline(42, settings())


def test_replay_headers_drop_failure_headers_and_count() -> None:
    headers = [
        ("tenant", b"acme"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        (dlq.HEADER_SOURCE_TOPIC, b"orders"),
        (dlq.HEADER_ERROR_TYPE, b"ValueError"),
        (dlq.HEADER_ERROR_MESSAGE, b"boom"),
        (dlq.HEADER_ATTEMPTS, b"1"),
        ("llm_kafka.error.future_field", b"x"),
        (HEADER_REPLAYED, b'{"count": 2}'),
        ("llm_kafka.source", b"upstream/0/1"),
    ]

    result = replay_headers(headers, "orders.dlq/0/5", NOW)

    names = [name for name, _ in result]
    assert names == ["tenant", "traceparent", "llm_kafka.source", HEADER_REPLAYED]
    marker = json.loads(dict(result)[HEADER_REPLAYED] or b"{}")
    assert marker == {"count": 3, "replayed_at": "2026-05-01T12:00:00+00:00", "dead_letter": "orders.dlq/0/5"}


def test_replay_headers_start_count_at_one() -> None:
    marker = json.loads(dict(replay_headers([], "d/0/0", NOW))[HEADER_REPLAYED] or b"{}")

    assert marker["count"] == 1


def test_replay_filter_matches_type_and_window() -> None:
    record_filter = ReplayFilter(
        error_types=frozenset({"TimeoutError"}), since=NOW, until=NOW + datetime.timedelta(hours=1)
    )
    inside = int((NOW + datetime.timedelta(minutes=5)).timestamp() * 1000)
    before = int((NOW - datetime.timedelta(minutes=5)).timestamp() * 1000)
    at_until = int((NOW + datetime.timedelta(hours=1)).timestamp() * 1000)

    assert record_filter.matches("TimeoutError", inside)
    assert not record_filter.matches("ValueError", inside)
    assert not record_filter.matches("TimeoutError", before)
    assert not record_filter.matches("TimeoutError", at_until)
    assert not record_filter.matches("TimeoutError", None)
    assert ReplayFilter().matches(None, None)
