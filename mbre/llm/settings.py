"""How a question reaches a model, declared once: model, endpoint, key, decoding, cache, limits and retries.

`MbreContext` extends these settings with the method's own, so config files, `MBRE_*` variables and flags
name every setting the same way, and `setting(..., answer=True)` marks those that change the labels. Each
setting's type carries its bounds (`Fraction`, `AtLeastOne`, ...), checked whenever settings are made, so
every entry point (flags, `mbre.toml`, `MBRE_*`, Python) refuses `epsilon = nan` or `route_top_k = 0`."""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.language_models import BaseChatModel
from pydantic import Field, TypeAdapter, ValidationError
from pydantic.json_schema import SkipJsonSchema

from mbre.errors import SettingError
from mbre.llm.local.server import DEFAULT_SLOTS
from mbre.schemas.options import ConfidenceMode, Role, SampleOrder, setting

AtLeastOne = Annotated[int, Field(ge=1)]
NotNegative = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NotNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A number from 0 to 1, NaN refused: a NaN epsilon would match no run directory, not even its own."""
NonEmpty = Annotated[str, Field(min_length=1)]

#: `only=` scope of the settings that bear on an answer only when the confidence may come from sampling.
SAMPLING = {"confidence": ("auto", "sampled")}


def setting_types(cls: type) -> dict[str, TypeAdapter[Any]]:
    """Each setting of a settings dataclass by name, as a validator of its type and bounds."""
    if cls not in _setting_types:
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = [f.name for f in dataclasses.fields(cls) if f.name != "chat_model"]
        _setting_types[cls] = {name: TypeAdapter(hints[name]) for name in fields}
    return _setting_types[cls]


_setting_types: dict[type, dict[str, TypeAdapter[Any]]] = {}


def check_setting(cls: type, name: str, value: Any) -> Any:
    """`value` as setting `name` of `cls` takes it (`"0.1"` becomes 0.1); raises ValueError with a
    readable reason ("must be less than or equal to 1") when it cannot be."""
    try:
        return setting_types(cls)[name].validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].replace("Input should be", "must be")) from None


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Everything that builds a chat model. Frozen and hashable (a ready `chat_model` aside), so one chat
    model is built per distinct setting and reused by every sentence."""

    model: NonEmpty = setting("local", answer=True)
    """`provider:model`: `local[:NAME]` (the embedded llama.cpp model), or any provider of LangChain's
    `init_chat_model` (`openai:gpt-4o-mini`, `anthropic:...`, `google_genai:...`, `ollama:...`, see
    `mbre.llm.providers.INTEGRATIONS`), its integration installed as an extra (`mbre[anthropic]`)."""
    extraction_model: str | None = setting(None, answer=True)
    """Model for the multi-class group prompts; defaults to `model`."""
    verification_model: str | None = setting(None, answer=True)
    """Model for the binary verification prompts; defaults to `model`."""
    base_url: str | None = setting(None, answer=True)
    """Endpoint of the provider's API (any OpenAI-compatible server for `openai:`, an Anthropic, Gemini or
    Ollama server for theirs); None: the provider's own."""
    fleet: tuple[str, ...] = setting(())
    """More servers of the same model beside `base_url` (`--base-url` given again): each call goes to the
    least busy one that answers (`mbre.llm.fleet`). Not an answer setting: replicas of one model answer
    alike, so a run may resume on a larger or a smaller fleet."""
    api_key_env: str | None = setting(None)
    """Name of the environment variable that holds the API key (the key itself never enters config); None:
    the provider's own (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GOOGLE_API_KEY`, ...)."""
    api_key_file: str | None = setting(None)
    """A file holding the API key, read when the variable is unset (e.g. a mounted secret)."""
    temperature: NotNegativeFloat = setting(0.0, answer=True)
    max_tokens: AtLeastOne = setting(160, answer=True)
    """The completion limit of a chat model built from these settings, reserved by the too-long check.
    mbre's own questions each ask for fewer: their template's `max_tokens` (a letter or yes/no)."""
    logprobs: bool = setting(True, answer=True)
    """Ask for token logprobs (confidence); turn off for servers that reject the parameter."""
    confidence: ConfidenceMode = setting("auto", answer=True, before="logprobs")
    """Where each answer's probability comes from. `auto`: the endpoint check asks the model once whether
    it returns token probabilities and uses `logprobs` if it does, else `sampled`. `logprobs`: demand them
    (a run whose model gives none stops before any sentence). `sampled`: `confidence_samples` answers at
    `confidence_temperature`, their agreement as the probability. `verbalized`: one answer, the model asked
    to state how sure it is as a percentage after it (`prompts/verbalized.toml`; where the provider forces
    answers onto the options, a `confidence` field beside the answer). `none`: one answer, no
    probability, and no threshold or score pretends to one. `auto` never picks `verbalized`."""
    confidence_samples: Annotated[int, Field(ge=2)] = setting(3, answer=True, only=SAMPLING)
    """confidence="sampled": answers per question (K); 3, as measured in docs/providers.md: five answers
    in one order labelled as well as three in rotated orders, at 1.6 times the calls."""
    confidence_temperature: PositiveFloat = setting(1.0, answer=True, only=SAMPLING)
    """confidence="sampled": the temperature the K answers are sampled at."""
    confidence_order: SampleOrder = setting("rotated", answer=True, before="same", only=SAMPLING)
    """confidence="sampled": the order a group question's K samples show its options in. `rotated`:
    sample k shows them shifted by k/K of the list ("none" stays last), so a model's leaning towards a
    position (option A, say) is spread over the options instead of voting K times for one of them; at
    the same cost it labelled right 14 sentences that `same` (one order) got wrong, against 4 the other
    way, on SemEval and CrossRE (docs/providers.md)."""
    timeout: Seconds = setting(120.0)
    local_slots: AtLeastOne = setting(DEFAULT_SLOTS)
    """Parallel slots of the embedded server: how many calls it evaluates at once. One by default: on a
    CPU that is the fastest for prompts (see `mbre.llm.local.server.DEFAULT_SLOTS`); the other calls wait
    in the server's queue."""
    cache: bool = setting(True)
    """Answer repeated LLM calls (same prompt, model, endpoint, decoding and output schema) from the
    LLM-call cache, so a repeated or resumed run costs nothing for what it already asked."""
    cache_path: str | None = setting(None)
    """SQLite file of the LLM-call cache; None: `llm-cache.sqlite` in `$MBRE_CACHE_DIR` (default
    `~/.cache/mbre`), shared by every run."""
    requests_per_minute: PositiveFloat | None = setting(None)
    """At most this many requests a minute to one model at one endpoint, over all nodes and sentences;
    None: no limit. Cache hits are not requests."""
    tokens_per_minute: AtLeastOne | None = setting(None)
    """At most this many prompt + completion tokens a minute to one model at one endpoint; None: no limit."""
    max_retries: NotNegative = setting(6)
    """How often a call is sent again after a transient error (rate limit, 5xx, timeout, lost connection)
    before its sentence fails."""
    retry_base_seconds: NotNegativeFloat = setting(0.5)
    """First backoff wait before a retry, doubled each time up to 30 s; a `Retry-After` from the provider
    wins."""
    sample_index: NotNegative | None = setting(None, answer=True)
    """At temperature > 0 the cache is off, since each call should sample anew; set an index to cache
    each of several samples under its own key (sample 0, 1, ...)."""
    context_tokens: AtLeastOne | None = setting(None)
    """The model's context window, for refusing sentences that cannot fit; None: the embedded server's
    per-slot context for `local`, no check for other providers."""
    chat_model: SkipJsonSchema[BaseChatModel | None] = dataclasses.field(
        default=None, repr=False, compare=False, hash=False
    )
    """A ready chat model that replaces `model` for every role (tests, custom providers); not a setting
    that a file or a flag can give, so not in the JSON schema a server (LangGraph Studio) shows."""

    def __post_init__(self) -> None:
        for name in setting_types(type(self)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, check_setting(type(self), name, value))  # frozen: set once
            except ValueError as exc:
                raise SettingError(f"setting {name!r}: {exc}, not {value!r}") from None

    def model_name(self, role: Role) -> str:
        specific = self.extraction_model if role == "extraction" else self.verification_model
        return specific or self.model

    def for_role(self, role: Role) -> ModelSettings:
        """Just the model settings of one role, `model` resolved: the key its chat model is built under, so
        both roles share one model when they name the same, whatever else a subclass carries. Memoised
        (every model call asks for it), but not with a ready `chat_model`, which equality ignores."""
        return _role_settings(self, role) if self.chat_model is not None else _memoised(self, role)


def _role_settings(settings: ModelSettings, role: Role) -> ModelSettings:
    shared = {f.name: getattr(settings, f.name) for f in dataclasses.fields(ModelSettings)}
    return ModelSettings(**shared | {"model": settings.model_name(role)} | dict.fromkeys(_ROLE_MODELS))


_memoised = functools.lru_cache(maxsize=64)(_role_settings)


_ROLE_MODELS = ("extraction_model", "verification_model")
