"""``load_settings``: read ``Settings`` from a TOML or YAML file, environment variables and code.

TOML uses the standard library (``tomllib``, Python 3.11+, or the ``tomli`` backport).
YAML needs PyYAML, installed by the ``yaml`` extra. The file's top-level tables are the
groups of ``Settings``: ``kafka``, ``pipeline``, ``llm`` and ``telemetry``. Example::

    [kafka]
    bootstrap_servers = "127.0.0.1:9092"
    group_id = "summaries"

    [kafka.consumer]
    "max.poll.interval.ms" = 600000

    [pipeline]
    input_topics = ["docs"]
    output_topic = "summaries"
    dead_letter_topic = "summaries.dlq"
"""

from __future__ import annotations

import contextvars
import difflib
import importlib
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from llm_kafka.config import Settings
from llm_kafka.errors import ConfigurationError

CONFIG_PATH_ENV = "LLM_KAFKA_CONFIG"
"""Environment variable naming the settings file when ``load_settings`` gets no path."""

_FILE_VALUES: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "llm_kafka_file_values", default=None
)


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Return the contents of a ``.toml``, ``.yaml`` or ``.yml`` file as a dict.

    Raises ``ConfigurationError`` when the file is missing, unreadable, of another type,
    or not a mapping at the top level.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".toml", ".yaml", ".yml"}:
        raise ConfigurationError(f"settings file {path} has an unknown type: use a .toml, .yaml or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read settings file {path}: {error.strerror or error}") from error

    values = _parse_toml(text, path) if suffix == ".toml" else _parse_yaml(text, path)
    if not isinstance(values, dict):
        raise ConfigurationError(
            f"settings file {path} contains a {type(values).__name__}; expected tables such as [kafka] and [pipeline]"
        )
    return values


def _parse_toml(text: str, path: Path) -> Any:
    # tomllib is in the standard library from Python 3.11; tomli is its backport for 3.10.
    try:
        tomllib: Any = importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - exercised on Python 3.10 only
        try:
            tomllib = importlib.import_module("tomli")
        except ImportError as error:
            raise ConfigurationError("reading TOML on Python 3.10 needs tomli: pip install tomli") from error
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"settings file {path} is not valid TOML: {error}") from error


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints
    except ImportError as error:
        raise ConfigurationError(
            f"reading {path} needs PyYAML: pip install 'llm-kafka[yaml]', or use a TOML file"
        ) from error
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigurationError(f"settings file {path} is not valid YAML: {error}") from error


class _FileSource(PydanticBaseSettingsSource):
    """The values of the file being loaded, with lower priority than the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_VALUES.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get() or {})


class _FileSettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Return ``Settings`` from ``overrides``, then ``LLM_KAFKA_...`` variables, then the file.

    ``path`` defaults to the file named by ``LLM_KAFKA_CONFIG``; with neither, only the
    environment and ``overrides`` count. Raises ``ConfigurationError`` naming every
    invalid or missing field and where to set it.
    """
    if path is None and os.environ.get(CONFIG_PATH_ENV):
        path = os.environ[CONFIG_PATH_ENV]
    values = read_settings_file(path) if path is not None else {}

    token = _FILE_VALUES.set(values)
    try:
        loaded = _FileSettings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(_describe(error, path)) from error
    finally:
        _FILE_VALUES.reset(token)
    return Settings.model_construct(**{name: getattr(loaded, name) for name in Settings.model_fields})


def _describe(error: ValidationError, path: str | Path | None) -> str:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        location = ".".join(loc)
        variable = "LLM_KAFKA_" + "__".join(loc).upper()
        if item["type"] == "missing" and len(loc) == 1:
            problems.append(
                f"{location}: missing. Add a [{location}] section to a settings file (pass it with --config "
                f"or {CONFIG_PATH_ENV}), or set {variable}__<FIELD> variables"
            )
        elif item["type"] == "extra_forbidden":
            known = _field_names(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known settings: {', '.join(known)}"
            problems.append(f"{location}: unknown setting{hint}")
        else:
            problems.append(f"{location}: {item['msg']} (set it in the file or as {variable})")
    source = f"settings from {path} and LLM_KAFKA_ variables" if path is not None else "settings"
    return f"invalid {source}:\n  " + "\n  ".join(problems)


def _field_names(loc: list[str]) -> list[str]:
    """Return the field names of the settings model at ``loc`` (empty when it is not a model)."""
    model: Any = Settings
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))
