"""Route support tickets to a topic per queue by the model's decision.

One structured LLM call reads a ticket and returns a ``TriageDecision``. ``postprocess`` sets
``context.output_topic`` to the topic of the chosen queue, so the output record goes there
instead of to the pipeline's ``output_topic``. A ticket that fails validation or whose LLM
call fails goes to the dead-letter topic as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from llm_kafka import BaseProcessor, ProcessingContext

Queue = Literal["billing", "technical", "account"]
QUEUES: tuple[str, ...] = get_args(Queue)

SYSTEM_PROMPT = (
    "You triage customer support tickets. Choose the one queue that should handle the ticket: "
    "billing (invoices, charges, refunds), technical (errors, outages, bugs) or account (login, "
    "profile, access). Answer only with the requested JSON object."
)


class Ticket(BaseModel):
    """The content of one input message."""

    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)
    customer: str | None = None


class TriageDecision(BaseModel):
    """The structured output the model returns for one ticket."""

    queue: Queue
    urgency: Literal["low", "normal", "high"]
    summary: str = Field(description="One sentence for the agent who picks up the ticket.")


class TicketTriage(BaseProcessor):
    """Asks the model for a queue and sends the ticket's output to that queue's topic."""

    name = "ticket_triage"
    input_model = Ticket

    def __init__(self, queue_topics: Mapping[str, str]) -> None:
        missing = [queue for queue in QUEUES if queue not in queue_topics]
        if missing:
            raise ValueError(f"queue_topics has no topic for queues {missing}; give one topic per queue in {QUEUES}")
        self.queue_topics = dict(queue_topics)

    async def process(self, ticket: Ticket, context: ProcessingContext) -> dict[str, Any]:
        if context.llm is None:
            raise RuntimeError("TicketTriage needs a pipeline with an LLM client")
        prompt = f"Subject: {ticket.subject}\n\n{ticket.body}"
        decision = await context.llm.astructured(prompt, TriageDecision, system=SYSTEM_PROMPT, max_tokens=200)
        return decision.model_dump()

    def postprocess(self, result: dict[str, Any], context: ProcessingContext) -> dict[str, Any]:
        context.output_topic = self.queue_topics[result["queue"]]
        return result
