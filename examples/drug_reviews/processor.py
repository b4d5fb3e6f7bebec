"""A processor that requests a structured reading of one drug review from an LLM.

The model returns sentiment, the side effects the patient mentions, and the condition
treated; the answer is validated with the ``ReviewAnalysis`` model before it is written.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from llm_kafka import BaseProcessor, ProcessingContext

SYSTEM_PROMPT = (
    "You read patient reviews of medicines. Answer only with the requested JSON object. "
    "List side effects exactly as the patient names them; use an empty list if none are named."
)


class DrugReviewInput(BaseModel):
    """The content of one input message."""

    drug: str
    condition: str | None = None
    review: str = Field(min_length=1)
    rating: str | int | float | None = Field(
        default=None,
        description="The dataset's label (positive, neutral, negative) or a score, kept for comparison.",
    )


class ReviewAnalysis(BaseModel):
    """The structured output the model must return for one review."""

    sentiment: Literal["positive", "neutral", "negative"]
    side_effects: list[str] = Field(description="Side effects the patient mentions.")
    condition: str | None = Field(
        description="The condition the drug was taken for, if stated."
    )


class DrugReviewProcessor(BaseProcessor):
    """Analyses a review with one structured LLM call."""

    name = "drug_review"
    input_model = DrugReviewInput

    async def process(
        self, data: DrugReviewInput, context: ProcessingContext
    ) -> dict[str, Any]:
        if context.llm is None:
            raise RuntimeError(
                "DrugReviewProcessor needs a pipeline with an LLM client"
            )
        prompt = f"Drug: {data.drug}\nCondition given by the site: {data.condition or 'unknown'}\n\nReview:\n{data.review}"
        analysis = await context.llm.astructured(
            prompt, ReviewAnalysis, system=SYSTEM_PROMPT, max_tokens=400
        )
        return {
            "drug": data.drug,
            "analysis": analysis.model_dump(),
            "dataset_label": data.rating,
        }
