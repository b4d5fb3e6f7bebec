"""Deterministic JSON values that conform to a JSON schema.

`generate_from_schema` covers the schema subset that pydantic's `model_json_schema()` and the
OpenAI strict-schema helper emit. That is objects, strings with common formats and length
limits, enums, consts, bounded integers and numbers, booleans and arrays. It also resolves
`$defs`/`$ref` and `allOf`, and `anyOf`/`oneOf` such as optional fields (`anyOf` with null).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_ARRAY_ITEMS = 3
PREFERRED_DEPTH = 6
"""Below this depth optional values (nullable unions, arrays) are kept as small as possible,
so recursive models such as a tree of nodes end."""
MAX_DEPTH = 32
"""Depth at which generation gives up, for schemas that require infinite nesting."""

_STRING_FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "url": "https://example.com/item",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "localhost",
    "duration": "PT1S",
}


class SchemaError(ValueError):
    """Raised when a schema cannot be resolved or needs values nested without end."""


def generate_from_schema(schema: dict[str, Any], seed_text: str) -> Any:
    """Return a value that conforms to `schema`, chosen by a stable hash of `seed_text`.

    Every choice (enum member, number, boolean, array length) hashes `seed_text` with the JSON
    path of the value, so the same schema and seed text always give the same value. All object
    properties are filled, optional ones included. `pattern`, `multipleOf` on numbers, and
    `minProperties` are not honoured.
    """
    generator = _Generator(schema, seed_text)
    return generator.value(schema, "$", 0)


class _Generator:
    def __init__(self, root: dict[str, Any], seed_text: str) -> None:
        self._root = root
        self._seed_text = seed_text

    def pick(self, path: str, count: int) -> int:
        """Return a stable index in [0, count) for the value at `path`."""
        digest = hashlib.sha256(f"{self._seed_text}\x00{path}".encode()).hexdigest()
        return int(digest[:12], 16) % count

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema:
            reference = schema["$ref"]
            if not isinstance(reference, str) or not reference.startswith("#"):
                raise SchemaError(
                    f"unsupported $ref {reference!r}: only local '#/...' references work"
                )
            if reference in seen:
                raise SchemaError(f"$ref cycle at {reference!r}")
            seen.add(reference)
            target: Any = self._root
            for part in reference[1:].split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise SchemaError(f"$ref {reference!r} not found in the schema")
                target = target[part]
            if not isinstance(target, dict):
                raise SchemaError(
                    f"$ref {reference!r} does not point to a schema object"
                )
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**target, **siblings}
        return schema

    def value(self, schema: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SchemaError(f"schema nests deeper than {MAX_DEPTH} levels at {path}")
        if schema is True or not isinstance(schema, dict):
            return f"value-{self.pick(path, 10_000)}"
        schema = self.resolve(schema)

        if "allOf" in schema:
            return self.value(self.merge_all_of(schema), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            members = schema["enum"]
            return members[self.pick(path, len(members))]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return self.value(self.choose_option(options, depth), path, depth + 1)

        schema_type = self.schema_type(schema, depth)
        if schema_type == "null":
            return None
        if schema_type == "object":
            return self.object_value(schema, path, depth)
        if schema_type == "array":
            return self.array_value(schema, path, depth)
        if schema_type == "boolean":
            return self.pick(path, 2) == 1
        if schema_type == "integer":
            return self.integer_value(schema, path)
        if schema_type == "number":
            return self.number_value(schema, path)
        return self.string_value(schema, path)

    def merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {
            key: value for key, value in schema.items() if key != "allOf"
        }
        properties: dict[str, Any] = dict(merged.get("properties", {}))
        required: list[str] = list(merged.get("required", []))
        for part in schema["allOf"]:
            resolved = self.resolve(part) if isinstance(part, dict) else {}
            properties.update(resolved.get("properties", {}))
            required += [
                name for name in resolved.get("required", []) if name not in required
            ]
            merged.update(
                {
                    k: v
                    for k, v in resolved.items()
                    if k not in ("properties", "required")
                }
            )
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def choose_option(self, options: list[Any], depth: int) -> Any:
        """Pick the first non-null option, or the null option once past PREFERRED_DEPTH."""
        non_null = [option for option in options if not _is_null_schema(option)]
        if depth >= PREFERRED_DEPTH and len(non_null) < len(options):
            return {"type": "null"}
        return non_null[0] if non_null else options[0]

    def schema_type(self, schema: dict[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            non_null = [name for name in declared if name != "null"]
            if not non_null or (depth >= PREFERRED_DEPTH and "null" in declared):
                return "null"
            return str(non_null[0])
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def object_value(
        self, schema: dict[str, Any], path: str, depth: int
    ) -> dict[str, Any]:
        properties = schema.get("properties")
        result: dict[str, Any] = {}
        if isinstance(properties, dict):
            for name, property_schema in properties.items():
                result[name] = self.value(property_schema, f"{path}.{name}", depth + 1)
        for name in schema.get("required", []):
            if name not in result:
                result[name] = self.value({}, f"{path}.{name}", depth + 1)
        extra = schema.get("additionalProperties")
        if not result and isinstance(extra, dict) and depth < PREFERRED_DEPTH:
            result["key"] = self.value(extra, f"{path}.key", depth + 1)
        return result

    def array_value(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        minimum = int(schema.get("minItems", 0))
        maximum = int(schema.get("maxItems", max(minimum, MAX_ARRAY_ITEMS)))
        count = 0 if depth >= PREFERRED_DEPTH else self.pick(path, MAX_ARRAY_ITEMS + 1)
        count = min(max(count, minimum), maximum)

        prefix = schema.get("prefixItems")
        prefix_items = prefix if isinstance(prefix, list) else []
        items_schema = schema.get("items", {})
        result: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            item_schema = (
                prefix_items[index] if index < len(prefix_items) else items_schema
            )
            item = self.value(item_schema, f"{path}[{index}]", depth + 1)
            if schema.get("uniqueItems"):
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
            result.append(item)
        return result

    def integer_value(self, schema: dict[str, Any], path: str) -> int:
        low: int | None = None
        high: int | None = None
        if "minimum" in schema:
            low = _ceil(schema["minimum"])
        if "exclusiveMinimum" in schema and not isinstance(
            schema["exclusiveMinimum"], bool
        ):
            low = _floor(schema["exclusiveMinimum"]) + 1
        if "maximum" in schema:
            high = _floor(schema["maximum"])
        if "exclusiveMaximum" in schema and not isinstance(
            schema["exclusiveMaximum"], bool
        ):
            high = _ceil(schema["exclusiveMaximum"]) - 1
        low, high = _default_range(low, high)
        if high < low:
            return low

        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-low // step) * step
            choices = (high - first) // step + 1
            if choices <= 0:
                return first
            return first + step * self.pick(path, choices)
        return low + self.pick(path, high - low + 1)

    def number_value(self, schema: dict[str, Any], path: str) -> float:
        low = _as_float(schema.get("minimum", schema.get("exclusiveMinimum")))
        high = _as_float(schema.get("maximum", schema.get("exclusiveMaximum")))
        low_int, high_int = _default_range(
            None if low is None else _floor(low), None if high is None else _ceil(high)
        )
        low = float(low_int) if low is None else low
        high = float(high_int) if high is None else high
        if high <= low:
            return low
        # A fraction strictly inside (0, 1) keeps exclusive bounds satisfied too.
        fraction = (self.pick(path, 999) + 1) / 1000
        value = low + (high - low) * fraction
        rounded = round(value, 3)
        return rounded if low < rounded < high else value

    def string_value(self, schema: dict[str, Any], path: str) -> str:
        text_format = schema.get("format")
        if isinstance(text_format, str) and text_format in _STRING_FORMATS:
            return _STRING_FORMATS[text_format]

        name = path.rsplit(".", 1)[-1].split("[", 1)[0]
        if name in ("", "$"):
            name = "text"
        text = f"{name}-{self.pick(path, 16**6):06x}"
        min_length = int(schema.get("minLength", 0))
        max_length = schema.get("maxLength")
        if len(text) < min_length:
            text = text + "x" * (min_length - len(text))
        if isinstance(max_length, int):
            text = text[:max_length]
        return text


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _default_range(low: int | None, high: int | None) -> tuple[int, int]:
    """Fill missing bounds so that the range spans 100 values next to the given bound."""
    if low is None and high is None:
        return 0, 100
    if low is None:
        assert high is not None
        return high - 100, high
    if high is None:
        return low, low + 100
    return low, high


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _floor(value: float) -> int:
    return int(value // 1)


def _ceil(value: float) -> int:
    return -int(-value // 1)
