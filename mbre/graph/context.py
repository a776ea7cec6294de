"""Run-scoped settings, read by the nodes through `Runtime[MbreContext]`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

from langchain_core.language_models import BaseChatModel

from mbre.llm.providers import ModelSettings, chat_model, redact

Strategy = Literal["mbre", "multiclass", "binary"]
DecisionPolicy = Literal["best", "first"]
Role = Literal["extraction", "verification"]
BadInputPolicy = Literal["fail", "skip"]


@dataclass(kw_only=True)
class MbreContext:
    """How to label: which model, which strategy, which decision policy."""

    model: str = "local"
    """`provider:model`: `local` (the embedded llama.cpp model) or `openai:MODEL`."""
    extraction_model: str | None = None
    """Model for the multi-class group prompts; defaults to `model`."""
    verification_model: str | None = None
    """Model for the binary verification prompts; defaults to `model`."""
    base_url: str | None = None
    """Endpoint of an OpenAI-compatible server, for `openai:` models."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable that holds the API key (the key itself never enters config)."""
    api_key_file: str | None = None
    """A file holding the API key, read when the variable is unset (e.g. a mounted secret)."""
    temperature: float = 0.0
    max_tokens: int = 160
    logprobs: bool = True
    """Ask for token logprobs (confidence); turn off for servers that reject the parameter."""
    timeout: float = 120.0
    local_slots: int = 4
    """Parallel slots of the embedded server: how many calls it decodes at once."""
    cache: bool = True
    """Answer repeated LLM calls (same prompt, model, endpoint, decoding and output schema) from the
    LLM-call cache, so a repeated or resumed run costs nothing for what it already asked."""
    cache_path: str | None = None
    """SQLite file of the LLM-call cache; None: `llm-cache.sqlite` in `$MBRE_CACHE_DIR` (default
    `~/.cache/mbre`), shared by every run."""
    requests_per_minute: float | None = None
    """At most this many requests a minute to one model at one endpoint, over all nodes and sentences;
    None: no limit. Cache hits are not requests."""
    tokens_per_minute: int | None = None
    """At most this many prompt + completion tokens a minute to one model at one endpoint; None: no limit."""
    max_retries: int = 6
    """How often a call is sent again after a transient error (rate limit, 5xx, timeout, lost connection)
    before its sentence fails."""
    retry_base_seconds: float = 0.5
    """First backoff wait before a retry, doubled each time up to 30 s; a `Retry-After` from the provider
    wins."""
    sample_index: int | None = None
    """At temperature > 0 the cache is off, since each call should sample anew; set an index to cache
    each of several samples under its own key (sample 0, 1, ...)."""

    strategy: Strategy = "mbre"
    """`mbre` (the paper), or the baselines `multiclass` (one prompt, all labels) and `binary` (one
    yes/no prompt per label)."""
    route_top_k: int | None = None
    """None asks every group (the paper); m asks only the groups of the m nearest relations."""
    decision: DecisionPolicy = "best"
    """`best`: verify every candidate, keep those with confidence >= 1 - epsilon, take the most
    confident. `first`: stop at the first verified candidate in retrieval order."""
    epsilon: float = 0.1
    max_verifications: int | None = None
    """Bound of the verification loop; None: as many as there are candidates."""
    parse_retries: int = 1
    """How often an unparseable answer is re-asked before it is recorded as an abstention."""
    context_tokens: int | None = None
    """The model's context window, for refusing sentences that cannot fit; None: the embedded server's
    per-slot context for `local`, no check for other providers."""
    price_prompt_per_million: float | None = None
    """USD per million billed prompt tokens: with the completion price, enables money budgets and costs."""
    price_completion_per_million: float | None = None
    chat_model: BaseChatModel | None = field(default=None, repr=False)
    """A ready chat model that replaces `model` for every role (tests, custom providers)."""

    def model_name(self, role: Role) -> str:
        specific = self.extraction_model if role == "extraction" else self.verification_model
        return specific or self.model

    def context_window(self) -> int | None:
        if self.context_tokens is not None or self.chat_model is not None:
            return self.context_tokens
        if self.model.partition(":")[0] == "local":
            from mbre.llm.local import CTX_PER_SLOT

            return CTX_PER_SLOT
        return None

    def llm(self, role: Role) -> BaseChatModel:
        """The chat model for a role, built once per distinct setting and reused across sentences."""
        if self.chat_model is not None:
            return self.chat_model
        return chat_model(self.settings(role))

    def settings(self, role: Role) -> ModelSettings:
        # The context carries every ModelSettings field under the same name, so the settings are read off it.
        shared = {f.name: getattr(self, f.name) for f in fields(ModelSettings) if f.name != "spec"}
        return ModelSettings(spec=self.model_name(role), **shared)

    def redact(self, text: str) -> str:
        """`text` with every configured API key masked, for errors that are logged or written."""
        for role in ("extraction", "verification"):
            text = redact(text, self.settings(role))
        return text
