"""How a question reaches a model, declared once: model, endpoint, key, decoding, cache, limits and retries.

`MbreContext` extends these settings with the method's own, so config files, `MBRE_*` variables and flags
name every setting the same way, and `setting(..., answer=True)` marks those that change the labels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel

from mbre.schemas.options import Role, setting


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Everything that builds a chat model. Frozen and hashable (a ready `chat_model` aside), so one chat
    model is built per distinct setting and reused by every sentence."""

    model: str = setting("local", answer=True)
    """`provider:model`: `local` (the embedded llama.cpp model) or `openai:MODEL`."""
    extraction_model: str | None = setting(None, answer=True)
    """Model for the multi-class group prompts; defaults to `model`."""
    verification_model: str | None = setting(None, answer=True)
    """Model for the binary verification prompts; defaults to `model`."""
    base_url: str | None = setting(None, answer=True)
    """Endpoint of an OpenAI-compatible server, for `openai:` models."""
    api_key_env: str = setting("OPENAI_API_KEY")
    """Name of the environment variable that holds the API key (the key itself never enters config)."""
    api_key_file: str | None = setting(None)
    """A file holding the API key, read when the variable is unset (e.g. a mounted secret)."""
    temperature: float = setting(0.0, answer=True)
    max_tokens: int = setting(160, answer=True)
    logprobs: bool = setting(True, answer=True)
    """Ask for token logprobs (confidence); turn off for servers that reject the parameter."""
    timeout: float = setting(120.0)
    local_slots: int = setting(4)
    """Parallel slots of the embedded server: how many calls it decodes at once."""
    cache: bool = setting(True)
    """Answer repeated LLM calls (same prompt, model, endpoint, decoding and output schema) from the
    LLM-call cache, so a repeated or resumed run costs nothing for what it already asked."""
    cache_path: str | None = setting(None)
    """SQLite file of the LLM-call cache; None: `llm-cache.sqlite` in `$MBRE_CACHE_DIR` (default
    `~/.cache/mbre`), shared by every run."""
    requests_per_minute: float | None = setting(None)
    """At most this many requests a minute to one model at one endpoint, over all nodes and sentences;
    None: no limit. Cache hits are not requests."""
    tokens_per_minute: int | None = setting(None)
    """At most this many prompt + completion tokens a minute to one model at one endpoint; None: no limit."""
    max_retries: int = setting(6)
    """How often a call is sent again after a transient error (rate limit, 5xx, timeout, lost connection)
    before its sentence fails."""
    retry_base_seconds: float = setting(0.5)
    """First backoff wait before a retry, doubled each time up to 30 s; a `Retry-After` from the provider
    wins."""
    sample_index: int | None = setting(None, answer=True)
    """At temperature > 0 the cache is off, since each call should sample anew; set an index to cache
    each of several samples under its own key (sample 0, 1, ...)."""
    context_tokens: int | None = setting(None)
    """The model's context window, for refusing sentences that cannot fit; None: the embedded server's
    per-slot context for `local`, no check for other providers."""
    chat_model: BaseChatModel | None = dataclasses.field(default=None, repr=False, compare=False, hash=False)
    """A ready chat model that replaces `model` for every role (tests, custom providers); not a setting
    that a file or a flag can give."""

    def model_name(self, role: Role) -> str:
        specific = self.extraction_model if role == "extraction" else self.verification_model
        return specific or self.model

    def for_role(self, role: Role) -> ModelSettings:
        """Just the model settings of one role, `model` resolved: the key its chat model is built under, so
        both roles share one model when they name the same, whatever else a subclass carries."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelSettings)}
        return ModelSettings(**shared | {"model": self.model_name(role)} | dict.fromkeys(_ROLE_MODELS))


_ROLE_MODELS = ("extraction_model", "verification_model")
