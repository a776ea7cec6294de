"""`provider:model` strings to chat models: the embedded model and `openai:` (OpenAI itself or any
OpenAI-compatible server: vLLM, llama.cpp, LM Studio, Ollama's /v1) through langchain-openai's ChatOpenAI,
and every other provider string of LangChain's `init_chat_model` through its own integration package, an
optional extra of mbre (`INTEGRATIONS`).

mbre maps a provider to its class itself rather than calling `init_chat_model` (package `langchain`): a
missing integration must name mbre's extra, not a pip package; `base_url`, the key and token
probabilities go by a different argument in each class, which a table must say anyway; and `langchain`
would pin langgraph and langchain-core beyond what mbre needs."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr

from mbre.errors import MbreError
from mbre.files import mask_urls, remember_secret
from mbre.llm.cache import SqliteLLMCache, llm_string
from mbre.llm.fleet import fleet_clients
from mbre.llm.local.models import DEFAULT_LOCAL_MODEL, embedded_model
from mbre.llm.local.server import CTX_PER_SLOT
from mbre.llm.local.shared import local_server
from mbre.llm.local.transport import following_clients
from mbre.llm.ratelimit import shared_limiter
from mbre.llm.retry import LLMCallError, Retrier
from mbre.llm.settings import ModelSettings
from mbre.schemas.options import Role


@dataclass(frozen=True)
class Integration:
    """How one provider string of `init_chat_model` becomes a chat model: its class, the extra that
    installs it, and which constructor arguments take the key, the endpoint and the answer limit."""

    module: str
    cls: str
    extra: str
    """`pip install 'mbre[EXTRA]'` installs the integration; empty: mbre's own dependencies have it."""
    key_env: str | None
    """The provider's own variable for the key; None: the SDK finds its credentials (cloud accounts)."""
    key_arg: str | None = "api_key"
    url_arg: str | None = "base_url"
    limit_arg: str = "max_tokens"
    logprobs: dict[str, Any] = field(default_factory=dict)
    """The arguments that ask for the first answer token's alternatives; empty: the provider has none."""


#: Alternatives asked for with each answer token.
TOP_LOGPROBS = 20
_OPENAI_LOGPROBS = {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
#: Every provider string mbre accepts besides `local`, as `init_chat_model` names them.
INTEGRATIONS: dict[str, Integration] = {
    "openai": Integration("langchain_openai", "ChatOpenAI", "", "OPENAI_API_KEY", logprobs=_OPENAI_LOGPROBS),
    "azure_openai": Integration(
        "langchain_openai",
        "AzureChatOpenAI",
        "",
        "AZURE_OPENAI_API_KEY",
        url_arg="azure_endpoint",
        logprobs=_OPENAI_LOGPROBS,
    ),
    "anthropic": Integration("langchain_anthropic", "ChatAnthropic", "anthropic", "ANTHROPIC_API_KEY"),
    "google_genai": Integration(
        "langchain_google_genai", "ChatGoogleGenerativeAI", "google-genai", "GOOGLE_API_KEY"
    ),
    "google_vertexai": Integration(
        "langchain_google_vertexai",
        "ChatVertexAI",
        "google-vertexai",
        None,
        key_arg=None,
        logprobs={"logprobs": TOP_LOGPROBS},
    ),
    "ollama": Integration(
        "langchain_ollama",
        "ChatOllama",
        "ollama",
        None,
        key_arg=None,
        limit_arg="num_predict",
        logprobs=_OPENAI_LOGPROBS,
    ),
    "bedrock_converse": Integration(
        "langchain_aws", "ChatBedrockConverse", "aws", None, key_arg=None, url_arg="endpoint_url"
    ),
    "groq": Integration("langchain_groq", "ChatGroq", "groq", "GROQ_API_KEY"),
    "mistralai": Integration(
        "langchain_mistralai", "ChatMistralAI", "mistralai", "MISTRAL_API_KEY", url_arg="endpoint"
    ),
    "fireworks": Integration("langchain_fireworks", "ChatFireworks", "fireworks", "FIREWORKS_API_KEY"),
    "together": Integration(
        "langchain_together", "ChatTogether", "together", "TOGETHER_API_KEY", logprobs=_OPENAI_LOGPROBS
    ),
    "deepseek": Integration(
        "langchain_deepseek",
        "ChatDeepSeek",
        "deepseek",
        "DEEPSEEK_API_KEY",
        url_arg="api_base",
        logprobs=_OPENAI_LOGPROBS,
    ),
    "xai": Integration(
        "langchain_xai", "ChatXAI", "xai", "XAI_API_KEY", url_arg="xai_api_base", logprobs=_OPENAI_LOGPROBS
    ),
    "huggingface": Integration(
        "langchain_huggingface",
        "ChatHuggingFace",
        "huggingface",
        "HUGGINGFACEHUB_API_TOKEN",
        key_arg="huggingfacehub_api_token",
        url_arg="endpoint_url",
        limit_arg="max_new_tokens",
    ),
}
PROVIDERS = ("local", *INTEGRATIONS)
#: The context assumed for `openai:` models when `context_tokens` does not say: gpt-4o's and gpt-4o-mini's.
#: A server with a smaller window refuses longer prompts itself (HTTP 400, the sentence fails at once).
OPENAI_CONTEXT_TOKENS = 128_000


class ProviderError(MbreError):
    """A model string or provider setting that cannot work; says what to change."""


class MbreChatOpenAI(ChatOpenAI):
    """ChatOpenAI with mbre's own counted retries (`retrier`, see `mbre.llm.retry`), a cache key that
    holds the output schema itself rather than its class name (see `mbre.llm.cache.llm_string`), and a
    clear `LLMCallError` naming the endpoint when a 200 reply is not a chat completion (an HTML page from
    a wrong base_url), where the SDK and langchain-openai fail on attributes of a string."""

    retrier: Retrier = Field(default_factory=Retrier, exclude=True)

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        return llm_string({"params": self._default_params, "stop": stop, "call": kwargs})

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        try:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except Exception as exc:
            response = getattr(exc, "response", None)  # langchain-openai attaches the HTTP reply
            if isinstance(response, httpx.Response) and response.is_success:
                problem = not_a_completion(response)
                if problem is not None:
                    raise self._not_a_completion(problem) from exc
            raise

    def _create_chat_result(self, response: Any, generation_info: dict[str, Any] | None = None) -> Any:
        choices = (
            response.get("choices") if isinstance(response, dict) else getattr(response, "choices", None)
        )
        if isinstance(response, str):  # the SDK hands back the body as text when it is not JSON
            raise self._not_a_completion(f"not JSON: {response[:80]!r}")
        if not isinstance(choices, list) or not choices:
            preview = json.dumps(
                response if isinstance(response, dict) else response.model_dump(), default=str
            )
            raise self._not_a_completion(f"JSON without choices: {preview[:80]!r}")
        return super()._create_chat_result(response, generation_info)

    def _not_a_completion(self, problem: str) -> LLMCallError:
        url = mask_urls(str(self.root_client.base_url).rstrip("/"))
        return LLMCallError(
            f"{url} answered with something that is not a chat completion ({problem}): check base_url (an "
            "OpenAI-compatible API usually ends in /v1)",
            status=200,
            retries=0,
        )


def not_a_completion(response: httpx.Response) -> str | None:
    """What is wrong with a successful reply that should hold a chat completion, or None if it does."""
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:80]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        return f"JSON without choices: {response.text[:80]!r}"
    return None


def parse_spec(spec: str) -> tuple[str, str]:
    """Split `provider:model`; a bare `local` means the embedded default model. `init_chat_model`'s
    spellings with a dash (`google-genai`) are accepted too."""
    provider, _, name = spec.partition(":")
    provider = provider.strip().lower().replace("-", "_")
    if provider not in PROVIDERS:
        raise ProviderError(
            f"unknown model provider {provider!r} in {spec!r}: use 'local[:NAME]' or PROVIDER:MODEL with "
            f"PROVIDER one of {', '.join(INTEGRATIONS)} (base_url points any of them at another server)"
        )
    if provider != "local" and not name.strip():
        raise ProviderError(f"{spec!r} names no model: write {provider}:MODEL, e.g. openai:gpt-4o-mini")
    return provider, name.strip()


def integration_class(provider: str) -> type[BaseChatModel]:
    """The integration's chat model class; a one-line error naming the extra when it is not installed."""
    integration = INTEGRATIONS[provider]
    try:
        module = importlib.import_module(integration.module)
    except ImportError:
        package = integration.module.replace("_", "-")
        raise ProviderError(
            f"{provider}: models need {package}: pip install 'mbre[{integration.extra}]'"
        ) from None
    cls: type[BaseChatModel] = getattr(module, integration.cls)
    return cls


def key_env(settings: ModelSettings, provider: str) -> str | None:
    """The variable that holds the key: `api_key_env`, else the provider's own."""
    return settings.api_key_env or INTEGRATIONS.get(provider, INTEGRATIONS["openai"]).key_env


def returns_logprobs(provider: str) -> bool:
    """Whether mbre can ask the provider for token probabilities (the endpoint check sees if it gives
    them)."""
    return provider == "local" or bool(INTEGRATIONS[provider].logprobs)


#: confidence="verbalized": the number a constrained answer states beside its option.
STATED = {
    "type": "number",
    "minimum": 0,
    "maximum": 100,
    "description": "How sure you are that the answer is right, in percent.",
}


def constrained(
    model: BaseChatModel, choices: Sequence[str], *, stated: bool = False
) -> Runnable[LanguageModelInput, BaseMessage]:
    """`model` made to answer with one of `choices` in the provider's own way, where it has one: a forced
    tool call with an enum (Anthropic), an enum schema (Gemini's JSON output, Ollama's format grammar).
    Those answers carry no token probabilities worth reading (the first token is JSON), so a model that
    asks for logprobs is left as it is, and so is any other: its answers are parsed. `stated`
    (confidence="verbalized"): the answer is an object of the option (`answer`) and the confidence the
    model states (`confidence`, `STATED`), read back by `mbre.llm.structured.raw_text`."""
    option = {"type": "string", "enum": list(choices)}
    properties = {"answer": option, "confidence": STATED} if stated else {"answer": option}
    answer = {"type": "object", "properties": properties, "required": list(properties)}
    schema = answer if stated else option
    name = type(model).__name__
    if name == "ChatAnthropic":
        tool = {
            "name": "answer",
            "description": "Give the answer: one of the options"
            + (", and how sure you are of it." if stated else "."),
            "input_schema": answer,
        }
        return model.bind_tools([tool], tool_choice="answer")
    if name == "ChatGoogleGenerativeAI":
        return model.bind(response_mime_type="application/json", response_json_schema=schema)
    if name == "ChatOllama" and not getattr(model, "logprobs", None):
        return model.bind(format=schema)
    return model


def chat_model_for(settings: ModelSettings, role: Role) -> BaseChatModel:
    """The chat model of a role: the ready `chat_model` when the settings carry one, else the one built
    for the role's settings, reused across sentences and runs."""
    if settings.chat_model is not None:
        return settings.chat_model
    return chat_model(settings.for_role(role))


def sampling_models(settings: ModelSettings, role: Role) -> list[BaseChatModel]:
    """confidence="sampled": the role's model once per sample, at `confidence_temperature`, each sample
    cached under its own index (so a resumed run asks nothing twice); a ready `chat_model` as it is."""
    if settings.chat_model is not None:
        return [settings.chat_model] * settings.confidence_samples
    role_settings = settings.for_role(role)
    return [
        chat_model(
            dataclasses.replace(
                role_settings, temperature=settings.confidence_temperature, sample_index=index
            )
        )
        for index in range(settings.confidence_samples)
    ]


def answer_limit(model: BaseChatModel, max_tokens: int) -> dict[str, Any]:
    """The per-call bound of a one-word answer, for the chat models that take it as `max_tokens`; the other
    integrations keep their model's `max_tokens`: a forced tool call or a JSON answer needs more than
    the word, and a thinking model's budget counts against it."""
    own = {i.module for i in INTEGRATIONS.values()} - {"langchain_openai"}
    return {} if type(model).__module__.split(".")[0] in own else {"max_tokens": max_tokens}


def check_model(settings: ModelSettings, role: Role, *, key: bool = True) -> None:
    """Refuse, building nothing, what `chat_model_for` would refuse: a bad model string, an unknown
    embedded model, a missing integration, and (with `key`) a missing API key."""
    if settings.chat_model is not None:
        return
    provider, name = parse_spec(settings.model_name(role))
    if provider == "local":
        embedded_model(name or DEFAULT_LOCAL_MODEL)
        return
    if provider != "openai":
        integration_class(provider)
    if key and INTEGRATIONS[provider].key_arg is not None:
        _api_key(settings.for_role(role), provider)


def context_window(settings: ModelSettings) -> int | None:
    """The context that every prompt and its answer must fit: `context_tokens`, else the embedded
    server's per-slot context for `local`, else `OPENAI_CONTEXT_TOKENS` for `openai:`; None for the other
    providers and a ready `chat_model` without `context_tokens` (no check: their windows differ)."""
    if settings.context_tokens is not None or settings.chat_model is not None:
        return settings.context_tokens
    provider = parse_spec(settings.model)[0]
    if provider == "local":
        return CTX_PER_SLOT
    return OPENAI_CONTEXT_TOKENS if provider == "openai" else None


@cache
def chat_model(settings: ModelSettings) -> BaseChatModel:
    """Build (once per settings) the chat model; for `local`, start or reuse the embedded server."""
    provider, name = parse_spec(settings.model)
    endpoint: str | None = None
    base_url: str | None
    http_client: httpx.Client | None = None
    http_async_client: httpx.AsyncClient | None = None
    if provider == "local":
        name = name or DEFAULT_LOCAL_MODEL
        server = local_server(name, slots=settings.local_slots)
        base_url, api_key = server.base_url, SecretStr("local")
        # The clients follow the machine's shared server to its current port, across restarts.
        http_client, http_async_client = following_clients(server)
        # The server's port changes with every start: the weights themselves name this endpoint.
        endpoint = f"embedded:{embedded_model(name).sha256}"
    else:
        base_url = settings.base_url
        credentials = urlparse(base_url) if base_url else None
        if credentials is not None and credentials.password:  # a provider may echo the URL, or the password
            remember_secret(f"{credentials.username}:{credentials.password}")
            remember_secret(credentials.password)
        if provider != "openai":
            return _integration_model(settings, provider, name)
        api_key = _api_key(settings, provider)
        if settings.fleet:  # several servers of one model: `mbre.llm.fleet` spreads the calls over them
            http_client, http_async_client = fleet_clients(settings.base_url, settings.fleet)
        elif is_loopback(base_url):  # a proxy from the environment must never see a local call
            http_client, http_async_client = httpx.Client(trust_env=False), httpx.AsyncClient(trust_env=False)
    model = MbreChatOpenAI(
        model=name,
        base_url=base_url,
        api_key=api_key,
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,  # the field `max_tokens`, by its alias
        logprobs=_asks_logprobs(settings) or None,
        # The first token's alternatives give the probability of every option letter, or of yes against no
        # (see `ask_choice`); 20 is the most the OpenAI API allows, more than any group's options.
        top_logprobs=TOP_LOGPROBS if _asks_logprobs(settings) else None,
        timeout=settings.timeout,
        max_retries=0,  # every retry is mbre's own, counted and tunable
        retrier=Retrier(max_retries=settings.max_retries, base_seconds=settings.retry_base_seconds),
        http_client=http_client,
        http_async_client=http_async_client,
    )
    # Attached once the client has resolved where requests go (base_url, or the SDK's environment default).
    return _shared(model, settings, provider, endpoint or str(model.root_client.base_url), name)


def _shared(
    model: BaseChatModel, settings: ModelSettings, provider: str, endpoint: str, name: str
) -> BaseChatModel:
    """Attach what every call to one model at one endpoint shares: its rate limiter and the LLM-call
    cache."""
    model.rate_limiter = shared_limiter(
        provider,
        endpoint,
        name,
        requests_per_minute=settings.requests_per_minute,
        tokens_per_minute=settings.tokens_per_minute,
    )
    model.cache = _llm_cache(settings, provider, endpoint)
    return model


def _asks_logprobs(settings: ModelSettings) -> bool:
    """Token probabilities are asked for unless turned off, or not wanted (sampled or no confidence)."""
    return settings.logprobs and settings.confidence in ("auto", "logprobs")


def _integration_model(settings: ModelSettings, provider: str, name: str) -> BaseChatModel:
    """A chat model of another integration than OpenAI's: `base_url` and the key go to the arguments its
    class takes them by; its SDK does the retries (mbre's own `Retrier` knows the openai SDK's errors)."""
    integration = INTEGRATIONS[provider]
    cls = integration_class(provider)
    arguments: dict[str, Any] = {
        "model": name,
        "temperature": settings.temperature,
        integration.limit_arg: settings.max_tokens,
    }
    if _asks_logprobs(settings):
        arguments |= integration.logprobs
    if settings.base_url and integration.url_arg:
        arguments[integration.url_arg] = settings.base_url
    if integration.key_arg is not None:
        arguments[integration.key_arg] = _api_key(settings, provider)
    if provider == "ollama":
        key = configured_key(settings, provider)
        headers = {"Authorization": f"Bearer {key}"} if key else {}  # an Ollama behind a proxy with a key
        arguments["client_kwargs"] = {"timeout": settings.timeout, "headers": headers}
        if is_loopback(settings.base_url):
            arguments["client_kwargs"]["trust_env"] = False
    elif provider in ("anthropic", "google_genai"):
        arguments |= {"timeout": settings.timeout, "max_retries": settings.max_retries}
    if provider == "huggingface":  # a chat wrapper around an inference endpoint, as init_chat_model builds it
        model = cls.from_model_id(model_id=arguments.pop("model"), backend="endpoint", **arguments)  # type: ignore[attr-defined]
    else:
        model = cls(**arguments)
    return _shared(model, settings, provider, settings.base_url or provider, name)


def _llm_cache(settings: ModelSettings, provider: str, endpoint: str) -> SqliteLLMCache | Literal[False]:
    """The LLM-call cache of these settings; False (not None, which would consult langchain's global
    cache) when caching is off, or when sampling at temperature > 0 without a `sample_index` to tell the
    samples apart. The namespace keeps one model name at two endpoints apart; it is hashed, so nothing of
    the endpoint's URL (which may carry credentials) reaches the file."""
    if not settings.cache or (settings.temperature > 0 and settings.sample_index is None):
        return False
    where = json.dumps([provider, endpoint, settings.sample_index])
    return SqliteLLMCache(settings.cache_path, namespace=hashlib.sha256(where.encode("utf-8")).hexdigest())


def is_loopback(url: str | None) -> bool:
    host = urlparse(url).hostname if url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_key(settings: ModelSettings, provider: str = "openai") -> str | None:
    """The key from the environment, else from the key file; never from a config file or a flag."""
    variable = key_env(settings, provider)
    key = os.environ.get(variable) if variable else None
    if key or not settings.api_key_file:
        if key:
            remember_secret(key)
        return key or None
    try:
        key = Path(settings.api_key_file).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ProviderError(f"cannot read the API key file {settings.api_key_file}: {exc.strerror}") from exc
    if not key:
        raise ProviderError(f"the API key file {settings.api_key_file} is empty")
    remember_secret(key)
    return key


def _api_key(settings: ModelSettings, provider: str) -> SecretStr:
    key = configured_key(settings, provider)
    if key:
        return SecretStr(key)
    if settings.base_url:  # self-hosted servers usually take any key
        return SecretStr("EMPTY")
    raise ProviderError(
        f"{settings.model} needs an API key: set the environment variable {key_env(settings, provider)}, "
        "or api_key_file (or point base_url at a self-hosted server)"
    )
