"""The configuration tables in docs/operations.md match the settings models they describe."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from llm_kafka.config import KafkaSettings, LLMSettings, PipelineSettings, TelemetrySettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def table_rows(section: str) -> dict[str, str]:
    """Return field name -> meaning from the table under the heading for ``section``."""
    text = PAGE.read_text(encoding="utf-8")
    body = text.split(f"### `[{section}]`", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[-1]
    return rows


@pytest.mark.parametrize(
    ("section", "model"),
    [("kafka", KafkaSettings), ("pipeline", PipelineSettings), ("llm", LLMSettings), ("telemetry", TelemetrySettings)],
)
def test_settings_table_matches_field_descriptions(section: str, model: type[BaseModel]) -> None:
    rows = table_rows(section)

    for name, field in model.model_fields.items():
        assert name in rows, f"docs/operations.md has no row for {section}.{name}"
        assert rows[name] == field.description, f"{section}.{name} is described differently in docs/operations.md"
