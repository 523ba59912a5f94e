"""Teachers: an OpenAI-compatible HTTP client (httpx, async) and a local ``transformers`` model.

Both answer ``await teacher.complete(messages, params) -> Completion``. The HTTP teacher bounds
concurrency, times out, and retries 429/5xx/connection errors and unreadable bodies with exponential
backoff and full jitter, honouring ``Retry-After``; past its retries it raises
:class:`~datamill.errors.TeacherError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Any

from datamill.errors import ConfigError, TeacherError, require

__all__ = ["Completion", "OpenAITeacher", "Teacher", "TransformersTeacher", "make_teacher", "run_coroutine"]


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion from sync code, even when this thread already runs an event loop.

    Inside a running loop (a notebook, or Playwright's sync API) ``asyncio.run`` refuses, so the
    coroutine gets a fresh loop on a short-lived thread; its exception, if any, is re-raised here.
    """
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except block, so the coroutine's errors do not carry this RuntimeError
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    th = threading.Thread(target=target, name="datamill-coroutine")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class Completion:
    """One answer: text, why it stopped, token usage (None when the server gave none)."""

    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Completion:
        return cls(**d)


class Teacher(ABC):
    """A model that answers chat messages. ``spec()`` is the JSON-able config that rebuilds it."""

    model: str
    #: Requests actually sent (including retried attempts) and retry reasons.
    sent: int
    retries: Counter[str]

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The JSON-able config :func:`make_teacher` rebuilds this teacher from."""

    async def open(self) -> None:  # noqa: B027 - an optional hook: nothing to open by default
        """Open connections for the current event loop."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook
        """Close what :meth:`open` opened."""

    @abstractmethod
    async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        """The model's answer to ``messages`` with sampling ``params``."""

    def complete_sync(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        """:meth:`complete` from sync code (opens and closes connections around the one request)."""

        async def one() -> Completion:
            await self.open()
            try:
                return await self.complete(messages, params)
            finally:
                await self.aclose()

        return run_coroutine(one())


_CONNECTIONS_PER_CLIENT = 4
_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class OpenAITeacher(Teacher):
    """Chat completions from any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, TGI).

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name sent with each request.
        api_key_env: environment variable holding the API key (none is sent when it is unset).
        max_concurrency: requests in flight at once.
        timeout: seconds per request.
        max_retries: attempts after the first on 429, 5xx, connection errors and unreadable bodies.
        backoff_base, backoff_max: the retry delay is ``uniform(0, min(max, base * 2**attempt))``;
            a ``Retry-After`` header sets a floor.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 32,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"teacher base_url must start with http:// or https://, got {base_url!r}")
        if max_concurrency < 1:
            raise ConfigError(
                f"max_concurrency must be >= 1, got {max_concurrency!r}", params="max_concurrency"
            )
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries!r}")
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key_env = model, api_key_env
        self.max_concurrency, self.timeout, self.max_retries = max_concurrency, timeout, max_retries
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.sent = 0
        self.retries: Counter[str] = Counter()
        self._clients: list[Any] = []
        self._open_lock: asyncio.Lock | None = None
        self._slots: asyncio.Queue[int] | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "type": "openai",
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
        }

    async def open(self) -> None:
        httpx = require("httpx", extra="synthetic", purpose="the OpenAI-compatible teacher")
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        # httpcore's pool scans every connection for every request, which costs O(connections) per
        # request; several small pools used round-robin keep that flat at high concurrency.
        per = min(_CONNECTIONS_PER_CLIENT, self.max_concurrency)
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        # one TLS context for every pool: building one costs ~0.1 s (it loads the CA bundle)
        verify = _ssl_context() if self.base_url.startswith("https://") else False
        self._clients = [
            httpx.AsyncClient(
                base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits, verify=verify
            )
            for _ in range(-(-self.max_concurrency // per))
        ]
        # a free slot names a client with a free connection, so no request ever waits inside httpcore's pool
        self._slots = asyncio.Queue()
        for _ in range(per):
            for i in range(len(self._clients)):
                if self._slots.qsize() < self.max_concurrency:
                    self._slots.put_nowait(i)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients = []
        self._open_lock = None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date falls back to backoff
                delay = max(delay, float(retry_after))
        return delay

    async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        import httpx

        if not self._clients or self._slots is None:
            if self._open_lock is None:
                self._open_lock = asyncio.Lock()
            async with self._open_lock:
                if not self._clients:
                    await self.open()
        assert self._slots is not None
        body = {"model": self.model, "messages": messages, **params}
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            slot = await self._slots.get()
            try:
                t0 = time.perf_counter()
                self.sent += 1
                try:
                    resp = await self._clients[slot].post("/chat/completions", json=body)
                except httpx.TransportError as exc:
                    reason, last = "connection", _transport_error(exc)
                else:
                    if resp.status_code == 200:
                        try:
                            return _parse(resp.json(), self.model, time.perf_counter() - t0)
                        except (ValueError, KeyError, IndexError, TypeError) as exc:
                            reason, last = "malformed_body", f"unreadable response body: {exc}"
                    elif resp.status_code in _RETRY_STATUS:
                        reason, last = (
                            f"http_{resp.status_code}",
                            f"HTTP {resp.status_code}: {resp.text[:200]}",
                        )
                        retry_after = resp.headers.get("retry-after")
                    else:
                        raise TeacherError(
                            f"{self.base_url}: HTTP {resp.status_code} for model {self.model!r}: "
                            f"{resp.text[:300]}"
                        )
            finally:
                self._slots.put_nowait(slot)
            if attempt < self.max_retries:
                self.retries[reason] += 1
                await asyncio.sleep(self._delay(attempt, retry_after))
        raise TeacherError(f"{self.base_url}: gave up after {self.max_retries + 1} attempts: {last}")


def _transport_error(exc: BaseException) -> str:
    """httpx's transport error with its root cause (httpx says "All connection attempts failed";
    the socket error under it says the connection was refused)."""
    text = f"{type(exc).__name__}: {exc}"
    root, seen = exc, {id(exc)}
    while (nxt := root.__cause__ or root.__context__) is not None and id(
        nxt
    ) not in seen:  # httpx hides the cause
        seen.add(id(nxt))
        root = nxt
    if isinstance(root, ConnectionRefusedError):
        return f"{text} (connection refused)"
    if root is not exc and str(root) and str(root) != str(exc):
        return f"{text} ({type(root).__name__}: {root})"
    return text


@functools.lru_cache(maxsize=1)
def _ssl_context() -> Any:
    import ssl

    return ssl.create_default_context()


def _parse(data: dict[str, Any], model: str, seconds: float) -> Completion:
    choice = data["choices"][0]
    text = choice["message"].get("content") or ""
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        model=data.get("model") or model,
        seconds=seconds,
    )


class TransformersTeacher(Teacher):
    """A local Hugging Face causal LM (a folder or a model already in the cache; nothing is downloaded).

    Args:
        model: a local folder with the model and tokenizer, or a name already in the HF cache.
        device: torch device.
        max_concurrency: accepted for symmetry; generation runs one request at a time.
    """

    def __init__(self, *, model: str, device: str = "cpu", max_concurrency: int = 1) -> None:
        if not (os.path.isdir(model) or _HF_NAME.match(model)):
            raise ConfigError(f"teacher {model!r} is neither an http(s):// URL nor a local model folder")
        self.model, self.device, self.max_concurrency = model, device, max_concurrency
        self.sent = 0
        self.retries: Counter[str] = Counter()
        self._lm: Any = None
        self._tok: Any = None
        self._lock: asyncio.Lock | None = None

    def spec(self) -> dict[str, Any]:
        return {"type": "transformers", "model": self.model, "device": self.device}

    def _load(self) -> None:
        transformers = require("transformers", extra="synthetic", purpose="the local transformers teacher")
        try:
            self._tok = transformers.AutoTokenizer.from_pretrained(self.model, local_files_only=True)
            self._lm = transformers.AutoModelForCausalLM.from_pretrained(self.model, local_files_only=True)
        except OSError as exc:
            raise ConfigError(
                f"teacher {self.model!r} is neither an http(s):// URL nor a local model folder "
                f"(nothing is downloaded): {exc}"
            ) from None
        self._lm.to(self.device).eval()

    def _prompt(self, messages: list[dict[str, Any]]) -> str:
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        lines = [f"{m['role']}: {m.get('content') or ''}" for m in messages]
        return "\n".join(lines) + "\nassistant:"

    def _generate(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        torch = require("torch", extra="synthetic", purpose="the local transformers teacher")

        if self._lm is None:
            self._load()
        t0 = time.perf_counter()
        enc = self._tok(self._prompt(messages), return_tensors="pt").to(self.device)
        max_new = int(params.get("max_tokens") or 256)
        temperature = float(params.get("temperature", 1.0))
        kw: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": temperature > 0,
            "pad_token_id": self._tok.pad_token_id or self._tok.eos_token_id or 0,
        }
        if temperature > 0:
            kw["temperature"] = temperature
            kw["top_p"] = float(params.get("top_p", 1.0))
        torch.manual_seed(int(params.get("seed") or 0))
        with torch.no_grad():
            out = self._lm.generate(**enc, **kw)
        new = out[0, enc["input_ids"].shape[1] :]
        eos = self._tok.eos_token_id
        finish = (
            "stop"
            if (eos is not None and len(new) and int(new[-1]) == eos) or len(new) < max_new
            else "length"
        )
        text = self._tok.decode(new, skip_special_tokens=True)
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=int(enc["input_ids"].shape[1]),
            completion_tokens=int(len(new)),
            model=self.model,
            seconds=time.perf_counter() - t0,
        )

    async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self.sent += 1
            return await asyncio.to_thread(self._generate, messages, params)


_HF_NAME = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_KINDS = {"openai": OpenAITeacher, "transformers": TransformersTeacher}


def make_teacher(
    spec: Teacher | dict[str, Any] | str,
    *,
    model: str | None = None,
    max_concurrency: int | None = None,
    api_key_env: str | None = None,
) -> Teacher:
    """A teacher from a spec dict (``{"type": "openai", "base_url": ..., "model": ...}``), a base URL, a
    local model folder, or itself.

    ``model``, ``max_concurrency`` and ``api_key_env`` fill what a URL or a spec dict leaves out (a
    teacher given as itself keeps its own); a local model takes neither the key nor the concurrency.
    """
    if isinstance(spec, Teacher):
        return spec
    if isinstance(spec, str):
        if not spec.startswith(("http://", "https://")):
            return TransformersTeacher(model=spec)
        spec = {"type": "openai", "base_url": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"teacher must be a dict, a URL or a local model path, got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("type", "openai")
    if kind not in _KINDS:
        raise ConfigError(f"unknown teacher type {kind!r}; allowed: {', '.join(sorted(_KINDS))}")
    given = (
        {"model": model}
        if kind == "transformers"
        else {"model": model, "max_concurrency": max_concurrency, "api_key_env": api_key_env}
    )
    for key, value in given.items():
        if value is not None:
            spec.setdefault(key, value)
    if kind == "openai" and not spec.get("model"):
        raise ConfigError("an OpenAI-compatible teacher needs a model name (model=)")
    try:
        return _KINDS[kind](**spec)
    except TypeError as exc:
        raise ConfigError(f"bad {kind} teacher parameters: {exc}") from None
