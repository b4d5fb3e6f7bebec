"""Validated structured output: the request options, the parse step and the repair prompt.

``LLMClient.structured`` requests the pydantic model's JSON schema through the provider's
native structured output and validates the output with pydantic. On failure it requests the
output again with the validation errors, up to ``repair_attempts`` times, and then raises
``StructuredOutputError`` carrying the last raw output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from llm_kafka.llm.types import ChatMessage, LLMResponse

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_ERROR_CHARS = 2000
"""Maximum characters of validation errors sent back to the model. Long pydantic reports are
cut, so a repair prompt cannot grow without bound."""


@dataclass(frozen=True)
class StructuredResponse(Generic[ModelT]):
    """A validated output with the response it came from (usage and cost summed over repairs)."""

    output: ModelT
    response: LLMResponse
    repairs: int


def schema_options(output_model: type[BaseModel]) -> dict[str, Any]:
    """Return the request options that ask for ``output_model``'s JSON schema."""
    return {
        "json_schema": output_model.model_json_schema(),
        "schema_name": output_model.__name__,
    }


def parse_output(text: str, output_model: type[ModelT]) -> ModelT | str:
    """Return ``text`` validated as ``output_model``, or the validation error as text."""
    try:
        return output_model.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        return f"the output is not valid JSON: {error}"
    except PydanticValidationError as error:
        return f"the output does not match the schema: {error}"


def repair_messages(
    messages: tuple[ChatMessage, ...],
    raw_output: str,
    problem: str,
    output_model: type[BaseModel],
) -> tuple[ChatMessage, ...]:
    """Return the conversation for a repair attempt: the request, the rejected output, the errors."""
    if len(problem) > MAX_ERROR_CHARS:
        problem = problem[:MAX_ERROR_CHARS] + " ..."
    instruction = (
        f"Your previous answer could not be used because {problem}\n"
        f"Answer again with only a JSON object that matches the {output_model.__name__} schema."
    )
    return (
        *messages,
        ChatMessage("assistant", raw_output or "(empty)"),
        ChatMessage("user", instruction),
    )
