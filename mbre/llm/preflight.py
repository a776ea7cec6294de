"""What every sentence will need, checked once before the first one: the models, the LLM-call cache and
the endpoint. A wrong `base_url`, a server that is down or a damaged cache file then fails the run in
seconds with one line that names it, instead of failing every sentence after its retries.

The endpoint check spends no tokens where it can: `GET /models` (OpenAI, vLLM, llama.cpp, LM Studio and
Ollama all serve it) proves that the server answers, speaks the OpenAI API and takes the key. Only a
server without `/models` (HTTP 404 or 405) is asked one chat completion of one token instead.

Then, with confidence="auto" or "logprobs", each model of another provider than `local` is asked one
question of one token (`prompts/probe.toml`) to find out whether it returns token probabilities, and the
run's confidence source is settled there, once (`settle_confidence`): `logprobs` if every role's model
returns them, else `sampled` (or, when the user demanded `logprobs`, an error before any sentence); a
`sampled`, `verbalized` or `none` the user chose is taken as it is. For the other integrations that
question is also their endpoint check.
"""

from __future__ import annotations

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from mbre.errors import MbreError
from mbre.files import mask, mask_urls
from mbre.llm.cache import SqliteLLMCache
from mbre.llm.providers import (
    MbreChatOpenAI,
    answer_limit,
    chat_model_for,
    check_model,
    not_a_completion,
    parse_spec,
)
from mbre.llm.retry import provider_message
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import answer_tokens
from mbre.schemas.options import ConfidenceMode, Role

ROLES: tuple[Role, ...] = ("extraction", "verification")
#: How long the check waits to connect: a dead host fails within it, not after the model's timeout.
CONNECT_SECONDS = 5.0


class EndpointError(MbreError):
    """The endpoint cannot serve the run: unreachable, not an OpenAI-compatible API, or refusing the key."""


def check_models(settings: ModelSettings, *, key: bool = True) -> None:
    """Refuse a bad model string, an unknown embedded model, a missing integration or (with `key`) a
    missing API key, building nothing."""
    for role in ROLES:
        check_model(settings, role, key=key)


def preflight(settings: ModelSettings, probe: list[BaseMessage]) -> ConfidenceMode:
    """Build both roles' models (starting the embedded server for `local`), check, once each, their
    LLM-call cache and their endpoint, and settle where the run's confidence comes from, asking `probe`
    (`mbre.prompts.render.probe_messages`) where it must: the `confidence` the run uses (see
    `settle_confidence`)."""
    caches: set[object] = set()
    endpoints: set[str] = set()
    for role in ROLES:
        model = chat_model_for(settings, role)
        cache = model.cache
        if isinstance(cache, SqliteLLMCache) and cache.path not in caches:
            caches.add(cache.path)
            cache.check()
        openai_model = settings.chat_model is None and parse_spec(settings.model_name(role))[0] == "openai"
        if openai_model and isinstance(model, MbreChatOpenAI):
            where = f"{model.root_client.base_url} {model.model_name}"
            if where not in endpoints:
                endpoints.add(where)
                check_endpoint(model, settings.timeout)
    return settle_confidence(settings, probe)


def settle_confidence(settings: ModelSettings, probe: list[BaseMessage]) -> ConfidenceMode:
    """The `confidence` a run uses: `auto` becomes `logprobs` when every role's model returns token
    probabilities (the embedded model does; any other is asked once, `returns_probabilities`), else
    `sampled`; a demanded `logprobs` the model cannot give is an `EndpointError`. A ready `chat_model`
    stays `auto`: each answer then says what it carried."""
    wanted = settings.confidence
    if wanted in ("sampled", "verbalized", "none") or settings.chat_model is not None:
        return wanted
    if not settings.logprobs:  # turned off (a server that rejects the parameter): nothing to ask
        if wanted == "logprobs":
            raise EndpointError("confidence = logprobs, but logprobs = false: turn one of them off")
        return "sampled"
    for name in dict.fromkeys(settings.model_name(role) for role in ROLES):
        role: Role = "extraction" if name == settings.model_name("extraction") else "verification"
        if parse_spec(name)[0] == "local":
            continue  # llama-server returns them
        if not returns_probabilities(chat_model_for(settings, role), name, probe):
            if wanted == "logprobs":
                raise EndpointError(
                    f"{mask_urls(name)} returns no token probabilities, and confidence = logprobs: set "
                    "confidence = sampled (K answers, their agreement as the probability), or auto"
                )
            return "sampled"
    return "logprobs"


def returns_probabilities(model: BaseChatModel, name: str, probe: list[BaseMessage]) -> bool:
    """Ask the probe question once: whether the answer's first token comes with its alternatives. A
    failure here is the endpoint's, said in one line (for the integrations without `/models`, this is
    their endpoint check)."""
    try:
        message = model.invoke(probe, **answer_limit(model, 1))
    except Exception as error:
        raise EndpointError(f"{mask_urls(name)} failed the endpoint check: {mask(_reason(error))}") from None
    if not isinstance(message, AIMessage):
        return False
    return any(token.get("top_logprobs") for token in answer_tokens(message))


def confidence_note(confidence: str, settings: ModelSettings) -> str:
    """One line for the console: which source the run uses, and why."""
    if confidence == "logprobs":
        return "confidence: logprobs (the model returns token probabilities)"
    if confidence == "sampled":
        rotated = settings.confidence_order == "rotated"
        return (
            f"confidence: sampled:{settings.confidence_samples} ({settings.confidence_samples} answers per "
            f"question at temperature {settings.confidence_temperature}"
            f"{', the options rotated from answer to answer' if rotated else ''}"
            ", their agreement as the probability"
            f"{': the model returns no token probabilities' if settings.confidence == 'auto' else ''})"
        )
    if confidence == "verbalized":
        return "confidence: verbalized (one answer per question, with the confidence the model states)"
    if confidence == "none":
        return "confidence: none (no probability: no threshold applies, every positive label goes to review)"
    return "confidence: from each answer (a ready chat model)"


def _reason(error: Exception) -> str:
    cause: BaseException = error
    while cause.__cause__ is not None and str(cause.__cause__):
        cause = cause.__cause__
    return f"{type(cause).__name__}: {cause}"


def check_endpoint(model: BaseChatModel, timeout: float) -> None:
    """Raise `EndpointError` unless the model's endpoint answers like an OpenAI-compatible API and takes
    the key; see the module docstring for what is asked."""
    if not isinstance(model, MbreChatOpenAI):
        return
    url = mask_urls(str(model.root_client.base_url)).rstrip("/")
    client = model.root_client.with_options(
        max_retries=0, timeout=httpx.Timeout(timeout, connect=CONNECT_SECONDS)
    )
    try:
        try:
            response = client.models.with_raw_response.list().http_response
            problem = _not_a_model_list(response)
        except openai.APIStatusError as error:
            if error.status_code not in (404, 405):
                raise
            response = client.chat.completions.with_raw_response.create(
                model=model.model_name,
                messages=[{"role": "user", "content": "Say OK."}],
                max_completion_tokens=1,
            ).http_response
            problem = not_a_completion(response)
    except openai.APIConnectionError as error:  # timeouts included
        raise EndpointError(
            f"cannot reach {url} ({_cause(error)}): is the server running, and is base_url right?"
        ) from None
    except openai.APIStatusError as error:
        if error.status_code in (401, 403):
            raise EndpointError(
                f"{url} refused the API key (HTTP {error.status_code}): {mask(provider_message(error))}"
            ) from None
        if error.status_code in (404, 405):
            raise EndpointError(
                f"{url} has no chat completions (HTTP {error.status_code} on POST /chat/completions): check "
                "base_url (an OpenAI-compatible API usually ends in /v1)"
            ) from None
        return  # it answers (busy, rate-limited, loading): the calls' own retries take it from here
    if problem is not None:
        raise EndpointError(
            f"{url} does not answer like an OpenAI-compatible API ({problem}): check base_url (it usually "
            "ends in /v1)"
        )


def _not_a_model_list(response: httpx.Response) -> str | None:
    kind = response.headers.get("content-type", "no content type")
    try:
        body = response.json()
    except ValueError:
        return f"GET /models gave {kind}: {response.text[:80]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return f"GET /models gave JSON without a model list: {response.text[:80]!r}"
    return None


def _cause(error: openai.APIConnectionError) -> str:
    """The innermost reason ("Connection refused", "timed out"), not the SDK's "Connection error."."""
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return mask(str(cause) or type(cause).__name__)
