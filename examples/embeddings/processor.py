"""Add an embedding vector to each document, for a vector index or a search service downstream.

One ``LLMClient.aembed`` call per message embeds the title and text together. The output
keeps the document's fields and adds ``embedding``, ``dimensions`` and ``model``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from llm_kafka import BaseProcessor, ProcessingContext


class Document(BaseModel):
    """The content of one input message."""

    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    url: str | None = None


def embedding_input(document: Document) -> str:
    """Return the text that is embedded for ``document``: its title, a blank line, its text."""
    return f"{document.title}\n\n{document.text}"


class EmbedDocument(BaseProcessor):
    """Embeds one document with the pipeline's LLM client."""

    name = "embed_document"
    input_model = Document

    async def process(self, document: Document, context: ProcessingContext) -> dict[str, Any]:
        if context.llm is None:
            raise RuntimeError("EmbedDocument needs a pipeline with an LLM client")
        response = await context.llm.aembed([embedding_input(document)])
        vector = list(response.vectors[0])
        return {
            **document.model_dump(),
            "embedding": vector,
            "dimensions": len(vector),
            "model": response.model,
        }
