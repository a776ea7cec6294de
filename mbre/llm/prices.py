"""What hosted models charge, so `mbre plan` can put a price on a run before any call.

List prices in USD per million tokens (prompt, completion) of common hosted models, as their providers
published them in late 2025; they change, so the config's `price_prompt_per_million` and
`price_completion_per_million` override them. A model at another `base_url` (a self-hosted server, a
proxy) is not priced by this table: its owner's price is not the provider's.
"""

from __future__ import annotations

from mbre.llm.providers import parse_spec

#: `provider:model` -> (USD per million prompt tokens, USD per million completion tokens).
PRICES: dict[str, tuple[float, float]] = {
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4.1": (2.00, 8.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1-nano": (0.10, 0.40),
    "openai:gpt-5": (1.25, 10.00),
    "openai:gpt-5-mini": (0.25, 2.00),
    "openai:gpt-5-nano": (0.05, 0.40),
    "anthropic:claude-haiku-4-5": (1.00, 5.00),
    "anthropic:claude-3-5-haiku-latest": (0.80, 4.00),
    "anthropic:claude-sonnet-4-5": (3.00, 15.00),
    "google_genai:gemini-2.5-flash": (0.30, 2.50),
    "google_genai:gemini-2.5-flash-lite": (0.10, 0.40),
    "google_genai:gemini-2.5-pro": (1.25, 10.00),
    "google_genai:gemini-2.0-flash": (0.10, 0.40),
    "mistralai:mistral-small-latest": (0.10, 0.30),
    "deepseek:deepseek-chat": (0.27, 1.10),
    "groq:llama-3.1-8b-instant": (0.05, 0.08),
}


def listed_price(model: str, base_url: str | None) -> tuple[float, float] | None:
    """The table's price of `model` at its provider's own endpoint; (0, 0) for the embedded model, which
    runs on this machine; None when the table does not know it or `base_url` points elsewhere."""
    provider, name = parse_spec(model)
    if provider == "local":
        return (0.0, 0.0)
    if base_url is not None:
        return None
    return PRICES.get(f"{provider}:{name}")
