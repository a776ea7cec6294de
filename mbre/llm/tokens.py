"""How many tokens a chat prompt takes, counted by the model's own tokenizer, chat template included.

- `local` and any llama.cpp server (`openai:` with a `base_url`): the server counts a chat completion's
  body (`POST /v1/chat/completions/input_tokens`, one request); a server older than that endpoint renders
  the messages with its chat template (`POST /apply-template`) and tokenizes the result as a chat
  completion does, special tokens parsed and BOS added when the model wants one (`POST /tokenize`,
  `add_special`).
- `openai:` models at OpenAI: tiktoken, plus the per-message overhead OpenAI documents for chat models
  (its cookbook, "How to count tokens with tiktoken").
- Anything else (a server without `/apply-template`, the other providers, a ready `chat_model`): about 4
  characters a token.

A tokenizer that fails (the server down, tiktoken's files out of reach) is a `TokenizerError`; the counter
then warns once and estimates from there on, since a count only decides whether a prompt fits and what a
plan costs, never a label. Each distinct prompt is counted once per process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from typing import Protocol
from urllib.parse import urlparse

import httpx
from langchain_core.messages import BaseMessage

from mbre.errors import MbreError
from mbre.files import mask_urls
from mbre.llm.local.models import DEFAULT_LOCAL_MODEL
from mbre.llm.local.shared import local_server
from mbre.llm.local.transport import following_clients
from mbre.llm.providers import configured_key, is_loopback, parse_spec
from mbre.llm.settings import ModelSettings
from mbre.schemas.options import Role

#: The estimate used where no tokenizer can be asked.
CHARS_PER_TOKEN = 4
EXACT = "exact, model's tokenizer"
ESTIMATE = f"~{CHARS_PER_TOKEN} chars a token"
#: OpenAI's documented overhead for chat models (gpt-3.5-turbo-0125, gpt-4, gpt-4o, gpt-4o-mini): each
#: message adds 3 tokens besides its role and content, and the reply is primed with 3 more
#: (`<|start|>assistant<|message|>`).
OPENAI_TOKENS_PER_MESSAGE = 3
OPENAI_REPLY_PRIMING = 3
#: tiktoken's encoding for a model name it does not know (the cookbook's default for current models).
OPENAI_DEFAULT_ENCODING = "o200k_base"
#: Distinct prompts remembered per counter: every prompt of a corpus of some ten thousand sentences.
CACHE_SIZE = 1 << 18
#: Seconds for one tokenizer request (a 600 kB definition takes a while to tokenize).
TIMEOUT = 60.0
#: llama-server's count of a chat completion's prompt tokens, from the same body (its README).
INPUT_TOKENS = "/v1/chat/completions/input_tokens"
#: Statuses that say the server has no such endpoint: it is not llama.cpp, and counting is estimated.
_NO_ENDPOINT = {404, 405, 501}
#: LangChain's message types as chat roles.
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}

Turns = tuple[tuple[str, str], ...]
"""A prompt as (role, content) pairs, the form the tokenizers take and the cache keys on."""

_log = logging.getLogger(__name__)


class TokenizerError(MbreError):
    """A tokenizer could not count: its endpoint failed or is missing, or its files cannot be loaded.
    `missing` says the server simply has no tokenizer endpoint (not llama.cpp), which is no fault."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


class Tokenizer(Protocol):
    where: str
    """What counts, for messages: `the embedded server`, `tiktoken`, a server's URL."""

    def count(self, turns: Turns) -> int:
        """The prompt tokens of `turns`, as the model's server will count them; raises TokenizerError."""
        ...


def chat_turns(messages: Sequence[BaseMessage]) -> Turns:
    """`messages` with the chat API's roles (`user`, not LangChain's `human`), as they are sent."""
    return tuple((_ROLES.get(message.type, message.type), str(message.content)) for message in messages)


def estimate(turns: Turns) -> int:
    """About how many tokens `turns` take: their characters over `CHARS_PER_TOKEN`, template ignored."""
    return sum(len(content) for _, content in turns) // CHARS_PER_TOKEN


class TokenCounter:
    """Prompt tokens for one model: exact through its `tokenizer` when it has one, else (or once that
    fails) estimated. Thread-safe: `discover` counts from several sentences at once."""

    def __init__(self, tokenizer: Tokenizer | None = None, *, cache_size: int = CACHE_SIZE) -> None:
        self._tokenizer = tokenizer
        self._counts: OrderedDict[bytes, int] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.where = tokenizer.where if tokenizer is not None else None
        """What counts exactly, when something does (before any fallback)."""
        self.fallback: str | None = None
        """Why this counter estimates though it had a tokenizer; None while it counts exactly."""

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    @property
    def method(self) -> str:
        """`EXACT` or `ESTIMATE`, for titles and messages."""
        return EXACT if self.exact else ESTIMATE

    def count(self, messages: Sequence[BaseMessage]) -> int:
        turns = chat_turns(messages)
        tokenizer = self._tokenizer
        if tokenizer is None:
            return estimate(turns)
        key = hashlib.blake2b(repr(turns).encode("utf-8"), digest_size=16).digest()
        with self._lock:
            known = self._counts.get(key)
            if known is not None:
                self._counts.move_to_end(key)
                return known
        try:
            tokens = tokenizer.count(turns)
        except TokenizerError as error:
            self._give_up(error)
            return estimate(turns)
        with self._lock:
            self._counts[key] = tokens
            if len(self._counts) > self._cache_size:
                self._counts.popitem(last=False)
        return tokens

    def _give_up(self, error: TokenizerError) -> None:
        """Estimate from now on: a tokenizer that failed once would fail, slowly, for every prompt."""
        with self._lock:
            if self._tokenizer is None:
                return  # another thread gave up first, and said so
            self._tokenizer = None
            self.fallback = str(error)
        if not error.missing:
            _log.warning("%s; counting prompt tokens at %s instead", mask_urls(str(error)), ESTIMATE)


class LlamaServerTokenizer:
    """llama.cpp's own endpoints: `/v1/chat/completions/input_tokens`, the count of a chat completion's
    body; on a server without it (404), `/apply-template`, then `/tokenize` of the prompt it renders, which
    is the text and the tokenization a chat completion gets. `connect` gives the server's root URL and a
    client, on the first count: choosing a counter starts no server. `direct=False` skips the first."""

    def __init__(
        self, connect: Callable[[], tuple[str, httpx.Client]], where: str, *, direct: bool = True
    ) -> None:
        self.where = where
        self.direct = direct
        """Whether the server is asked `/v1/chat/completions/input_tokens`; False once it says it has none."""
        self._connect = connect
        self._server: tuple[str, httpx.Client] | None = None
        self._lock = threading.Lock()

    def count(self, turns: Turns) -> int:
        messages = [{"role": role, "content": content} for role, content in turns]
        if self.direct:
            try:
                answer = self._post(INPUT_TOKENS, {"messages": messages})
            except TokenizerError as error:
                if not error.missing:
                    raise
                self.direct = False  # an older llama.cpp, or not llama.cpp: try its template and tokenizer
            else:
                tokens = answer.get("input_tokens")
                if not isinstance(tokens, int):
                    raise TokenizerError(f"{self._name(INPUT_TOKENS)} answered without input_tokens")
                return tokens
        prompt = self._post("/apply-template", {"messages": messages}).get("prompt")
        if not isinstance(prompt, str):
            raise TokenizerError(f"{self._name('/apply-template')} answered without a prompt")
        tokens = self._post("/tokenize", {"content": prompt, "add_special": True}).get("tokens")
        if not isinstance(tokens, list):
            raise TokenizerError(f"{self._name('/tokenize')} answered without tokens")
        return len(tokens)

    def _name(self, path: str) -> str:
        return f"{self.where}{path}" if "://" in self.where else f"{self.where}'s {path}"

    def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        root, client = self._open()
        try:
            response = client.post(f"{root}{path}", json=body, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise TokenizerError(f"{self._name(path)} failed ({type(exc).__name__}: {exc})") from exc
        except MbreError as exc:  # the embedded server died and could not be had again
            raise TokenizerError(f"{self._name(path)} failed ({exc})") from exc
        status = response.status_code
        if status in _NO_ENDPOINT:
            raise TokenizerError(f"{self.where} has no {path} (HTTP {status})", missing=True)
        if not response.is_success:
            raise TokenizerError(f"{self._name(path)} answered HTTP {status}: {response.text[:120]!r}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TokenizerError(f"{self._name(path)} answered something that is not a JSON object")
        return answer

    def _open(self) -> tuple[str, httpx.Client]:
        with self._lock:
            if self._server is None:
                try:
                    self._server = self._connect()
                except MbreError as exc:  # the embedded server cannot start: plan still estimates
                    raise TokenizerError(f"{self.where} cannot count: {exc}") from exc
            return self._server


class TiktokenTokenizer:
    """OpenAI's models: tiktoken's encoding of the model (loaded, once, on the first count) and the
    documented per-message overhead. Special-token text in a prompt counts as plain text, as the API
    treats user content."""

    where = "tiktoken"

    def __init__(self, model: str, load: Callable[[str], Encoder] | None = None) -> None:
        self.model = model
        self._load = load
        self._encoder: Encoder | None = None

    def count(self, turns: Turns) -> int:
        if self._encoder is None:
            self._encoder = (self._load or load_encoding)(self.model)
        encoder = self._encoder
        tokens = OPENAI_REPLY_PRIMING
        for role, content in turns:
            tokens += OPENAI_TOKENS_PER_MESSAGE
            tokens += len(encoder.encode(role, disallowed_special=()))
            tokens += len(encoder.encode(content, disallowed_special=()))
        return tokens


class Encoder(Protocol):
    def encode(self, text: str, *, disallowed_special: tuple[()]) -> list[int]: ...


def load_encoding(model: str) -> Encoder:
    """tiktoken's encoding for `model`, `OPENAI_DEFAULT_ENCODING` for a name it does not know. tiktoken
    downloads an encoding's file on its first use on a machine; without a network that fails."""
    import tiktoken

    try:
        try:
            return tiktoken.encoding_for_model(model)
        except KeyError:
            return tiktoken.get_encoding(OPENAI_DEFAULT_ENCODING)
    except Exception as exc:  # requests' errors, a bad download, an unwritable cache: all alike here
        raise TokenizerError(f"tiktoken cannot load the encoding of {model}: {type(exc).__name__}") from exc


def token_counter(settings: ModelSettings, role: Role) -> TokenCounter:
    """The counter of a role's model, one per process for the same settings (so its cache is shared by
    every caller); an estimating one for a ready `chat_model`, whose tokenizer is unknown."""
    if settings.chat_model is not None:
        return TokenCounter()
    return _counter(settings.for_role(role))


@cache
def _counter(settings: ModelSettings) -> TokenCounter:
    provider, name = parse_spec(settings.model)
    if provider == "local":
        model = name or DEFAULT_LOCAL_MODEL

        def embedded() -> tuple[str, httpx.Client]:
            server = local_server(model, slots=settings.local_slots)  # the one the chat model shares
            return server.url, following_clients(server)[0]

        return TokenCounter(LlamaServerTokenizer(embedded, "the embedded server"))
    if provider != "openai":  # other providers count with tokenizers of their own, not served to mbre
        return TokenCounter()
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL")  # where the OpenAI SDK sends calls
    if not base_url or urlparse(base_url).hostname == "api.openai.com":
        return TokenCounter(TiktokenTokenizer(name))
    root = base_url.rstrip("/").removesuffix("/v1")

    def remote() -> tuple[str, httpx.Client]:
        key = configured_key(settings)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return root, httpx.Client(headers=headers, trust_env=not is_loopback(root))

    return TokenCounter(LlamaServerTokenizer(remote, mask_urls(root)))
