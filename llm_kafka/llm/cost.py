"""Prices per model and the cost of a call's token usage.

llm-kafka ships no prices: providers change them, and a stale built-in number would turn
into a wrong bill. Users set the prices of the models they call; a model without a price
has cost None, and the usage totals mark their cost as incomplete.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from llm_kafka.llm.types import Usage

_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    """Prices of one model per million tokens, in the currency of your choice (usually USD).

    ``cached_input_per_million`` is the price of prompt tokens read from the provider's cache;
    None charges them at ``input_per_million``. Reasoning tokens are charged as output tokens,
    which is how OpenAI bills them.
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "input_per_million",
            "output_per_million",
            "cached_input_per_million",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"invalid {name} {value}: a price must not be negative")

    def cost(self, usage: Usage) -> float:
        """Return the cost of ``usage`` at these prices."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = (
            self.input_per_million if self.cached_input_per_million is None else self.cached_input_per_million
        )
        total = (
            (usage.input_tokens - cached) * self.input_per_million
            + cached * cached_price
            + usage.output_tokens * self.output_per_million
        )
        return total / _PER_MILLION


class PriceTable:
    """Prices by model, looked up as ``"provider:model"`` first and then as ``"model"``.

    Thread-safe; prices may change while calls run. Example::

        prices = PriceTable({"my-model": ModelPrice(1.00, 4.00, cached_input_per_million=0.25)})
        client = LLMClient("openai", "my-model", prices=prices)
    """

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, ModelPrice] = dict(prices or {})

    def set_price(self, model: str, price: ModelPrice, *, provider: str | None = None) -> None:
        """Set the price of ``model``, for one ``provider`` only when it is given."""
        key = f"{provider}:{model}" if provider else model
        with self._lock:
            self._prices[key] = price

    def price_for(self, provider: str, model: str) -> ModelPrice | None:
        """Return the price of ``model`` at ``provider``, or None when none is set."""
        with self._lock:
            return self._prices.get(f"{provider}:{model}") or self._prices.get(model)

    def cost(self, provider: str, model: str, usage: Usage) -> float | None:
        """Return the cost of ``usage`` on ``model``, or None when the model has no price."""
        price = self.price_for(provider, model)
        return None if price is None else price.cost(usage)
