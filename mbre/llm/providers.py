"""`provider:model` strings to chat models. Everything goes through langchain-openai's ChatOpenAI: OpenAI
itself, any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, Ollama's /v1) and the embedded model."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
from langchain_core.language_models import BaseChatModel
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

PROVIDERS = ("local", "openai")
#: The context assumed for `openai:` models when `context_tokens` does not say: gpt-4o's and gpt-4o-mini's.
#: A server with a smaller window refuses longer prompts itself (HTTP 400, the sentence fails at once).
OPENAI_CONTEXT_TOKENS = 128_000


#: Alternatives asked for with each answer token.
TOP_LOGPROBS = 20


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
    """Split `provider:model`; a bare `local` means the embedded default model."""
    provider, _, name = spec.partition(":")
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise ProviderError(
            f"unknown model provider {provider!r} in {spec!r}: use one of "
            "'local[:NAME]' or 'openai:MODEL' (with base_url for any OpenAI-compatible server)"
        )
    if provider == "openai" and not name:
        raise ProviderError(f"{spec!r} names no model: write openai:MODEL, e.g. openai:gpt-4o-mini")
    return provider, name.strip()


def chat_model_for(settings: ModelSettings, role: Role) -> BaseChatModel:
    """The chat model of a role: the ready `chat_model` when the settings carry one, else the one built
    for the role's settings, reused across sentences and runs."""
    if settings.chat_model is not None:
        return settings.chat_model
    return chat_model(settings.for_role(role))


def check_model(settings: ModelSettings, role: Role) -> None:
    """Refuse, building nothing, what `chat_model_for` would refuse: a bad model string, an unknown
    embedded model, a missing API key."""
    if settings.chat_model is not None:
        return
    provider, name = parse_spec(settings.model_name(role))
    if provider == "local":
        embedded_model(name or DEFAULT_LOCAL_MODEL)
    else:
        _api_key(settings)


def context_window(settings: ModelSettings) -> int | None:
    """The context that every prompt and its answer must fit: `context_tokens`, else the embedded
    server's per-slot context for `local`, else `OPENAI_CONTEXT_TOKENS` for `openai:`; None for a ready
    `chat_model` without `context_tokens` (no check)."""
    if settings.context_tokens is not None or settings.chat_model is not None:
        return settings.context_tokens
    if settings.model.partition(":")[0] == "local":
        return CTX_PER_SLOT
    return OPENAI_CONTEXT_TOKENS


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
        base_url, api_key = settings.base_url, _api_key(settings)
        credentials = urlparse(base_url) if base_url else None
        if credentials is not None and credentials.password:  # a provider may echo the URL, or the password
            remember_secret(f"{credentials.username}:{credentials.password}")
            remember_secret(credentials.password)
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
        logprobs=settings.logprobs or None,
        # The first token's alternatives give the probability of every option letter, or of yes against no
        # (see `ask_choice`); 20 is the most the OpenAI API allows, more than any group's options.
        top_logprobs=TOP_LOGPROBS if settings.logprobs else None,
        timeout=settings.timeout,
        max_retries=0,  # every retry is mbre's own, counted and tunable
        retrier=Retrier(max_retries=settings.max_retries, base_seconds=settings.retry_base_seconds),
        http_client=http_client,
        http_async_client=http_async_client,
    )
    # Attached once the client has resolved where requests go (base_url, or the SDK's environment default).
    endpoint = endpoint or str(model.root_client.base_url)
    model.rate_limiter = shared_limiter(
        provider,
        endpoint,
        name,
        requests_per_minute=settings.requests_per_minute,
        tokens_per_minute=settings.tokens_per_minute,
    )
    model.cache = _llm_cache(settings, provider, endpoint)
    return model


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


def configured_key(settings: ModelSettings) -> str | None:
    """The key from the environment, else from the key file; never from a config file or a flag."""
    key = os.environ.get(settings.api_key_env)
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


def _api_key(settings: ModelSettings) -> SecretStr:
    key = configured_key(settings)
    if key:
        return SecretStr(key)
    if settings.base_url:  # self-hosted OpenAI-compatible servers usually take any key
        return SecretStr("EMPTY")
    raise ProviderError(
        f"{settings.model} needs an API key: set the environment variable {settings.api_key_env}, or "
        "api_key_file (or point base_url at a self-hosted OpenAI-compatible server)"
    )
