"""A local fake OpenAI-compatible chat server for tests, demos and the offline quickstart.

It runs in-process on ``127.0.0.1`` (a random free port) in a background thread with its own
asyncio loop, speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for httpx, the
``openai`` SDK and distilabel, and answers ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /v1/_stats`` (its counters).

Answers are deterministic functions of the prompt (and, for rewrites, the seed), shaped so the
synthetic tasks get plausible, parseable output a person can read:

* qa-from-docs: a question a sentence of the passage answers, turned from that sentence by rules on
  its opening noun phrase and verb ("Thunder is the sound made by lightning." → "What is thunder?"),
  and the sentence itself, quoted, as the answer;
* a question asked without a passage: a fluent, general answer that draws on no source (what a
  teacher without the document says), so a grounded answer has something to beat;
* pairwise judges: when the question carries a ``<passage>``, the answer more of whose words the
  passage contains wins (both positions give the same verdict); otherwise the more complete answer,
  ties broken by position (which swapping exposes); ``[[score]]`` ratings for rubric judges;
* RAG judging (statements, faithfulness verdicts, generated questions, context usefulness and recall) and
  contradiction verdicts: word-level readings in :mod:`datamill.synthetic.fake_rag`;
* a question rewritten "in other words": the same question as another user would type it;
* rubric scores for ``datamill pretrain annotate`` that follow the document's own features (see
  :mod:`datamill.synthetic.fake_rubrics`);
* numbered instruction lists for self-instruct, a rewritten prompt for evol-instruct, and a short
  answer otherwise.

Faults are injected at configurable rates (seeded, so runs repeat): 429 with ``Retry-After``,
500, a malformed JSON body, non-JSON content where JSON was asked, an empty answer, a truncated
answer with ``finish_reason="length"``, slow responses. Every request is counted.

It is one idea, a teacher that is not there, and stays one module past the house's ~450 lines: the answers a
task gets and the transport that delivers them with faults are tested together; its English (word lists,
question rules) lives in :mod:`datamill.synthetic.fake_english`.

    >>> with FakeServer(latency=0.0) as server:
    ...     url = server.url          # "http://127.0.0.1:<port>/v1"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import xxhash

from datamill.synthetic.fake_english import (
    INSTRUCTION_VERBS,
    WORD,
    answer_text,
    keywords,
    passage_of,
    read_passage,
    rephrase,
    word_hash,
)
from datamill.synthetic.fake_rag import rag_answer
from datamill.synthetic.fake_rubrics import rubric_answer

__all__ = ["FakeServer", "FakeServerStats", "fake_answer"]

_OBJECTS = [
    "a weekly budget for a student",
    "the causes of inflation",
    "a polite email declining a meeting",
    "three ways to reduce stress at work",
    "the plot of a famous novel",
    "a recipe using only five items",
    "the difference between weather and climate",
    "a cover letter for a junior developer",
    "how vaccines train the immune system",
    "a short poem about autumn rain",
    "a tweet announcing a sale",
    "the pros and cons of remote work",
    "a workout plan for beginners",
    "how to brew green tea properly",
    "the rules of chess for a child",
    "a travel itinerary for two days in Rome",
    "an argument for public libraries",
    "the main idea of a news paragraph",
    "a slogan for a bakery",
    "a bug report for a crashing app",
    "the steps to change a flat tyre",
    "a toast for a wedding",
    "a lesson plan about fractions",
    "the sentiment of a product review",
    "a name for a pet turtle",
]

# Some generations break the paper's filters on purpose, so the filters have something to remove.
_BAD = [
    "Draw a picture of a cat.",
    "Plot a graph of the stock price.",
    "Write a program to sort numbers.",
    "Go to the store.",
    "List it.",
    "Summarise the attached file for me.",
    "Décrivez la tour Eiffel en détail.",
    "1. Answer this.",
    "Écrivez un court poème sur la mer.",
    "- Explain the water cycle to a ten year old.",
    "Explain " + " ".join(["why"] + ["the sky and the sea look blue on a clear summer day"] * 15) + ".",
]


def _support(answer: str, passage: str) -> float:
    """Share of the answer's words that occur in the passage."""
    words = [w.lower() for w in WORD.findall(answer)]
    if not words:
        return 0.0
    src = {w.lower() for w in WORD.findall(passage)}
    return sum(w in src for w in words) / len(words)


def _rewrite(prompt: str, seed: int) -> str | None:
    """A rewritten question (asked again in other words); None for other rewrites."""
    text = re.search(r"<text>\s*(.*?)\s*</text>", prompt, re.S)
    if not text or not text.group(1).rstrip().endswith("?") or "\n" in text.group(1).strip():
        return None
    return rephrase(text.group(1), word_hash(text.group(1)) + seed)


def _self_instruct(prompt: str) -> str:
    m = re.search(r"(\d+)\s+new tasks", prompt)
    n = int(m.group(1)) if m else 8
    h = word_hash(prompt)
    out = []
    for i in range(n):
        k = (h >> (i % 16)) + i * 7919
        if k % 9 == 0:
            text = _BAD[(k // 9) % len(_BAD)]
        else:
            text = f"{INSTRUCTION_VERBS[k % len(INSTRUCTION_VERBS)]} {_OBJECTS[(k // 7) % len(_OBJECTS)]}"
            text += "." if k % 4 else f" in about {50 + k % 200} words."
        out.append(f"{i + 1}. {text}")
    return "\n".join(out)


def _qa(prompt: str) -> str:
    m = re.search(r"(\d+)\s+question", prompt)
    n = int(m.group(1)) if m else 1
    passage = passage_of(prompt)
    part = re.search(r"pair (\d+) of (\d+) for this passage", prompt)
    k, of = (int(part.group(1)) - 1, max(1, int(part.group(2)))) if part else (0, 1)
    found = read_passage(passage, part=(k, of)) or [
        ("What is the passage about?", passage.strip() or "The passage is empty.")
    ]
    pairs = [{"question": q, "answer": a} for q, a in found[:n]]
    for i in range(n - len(pairs)):  # a short passage: the same question again, in other words
        q, a = found[i % len(found)]
        pairs.append({"question": rephrase(q, i), "answer": a})
    return json.dumps({"pairs": pairs})


def _pairwise(prompt: str) -> str:
    q = re.search(r"\[User Question\]\s*(.*?)\s*\[The Start of Assistant A's Answer\]", prompt, re.S)
    a = re.search(
        r"\[The Start of Assistant A's Answer\]\s*(.*?)\s*\[The End of Assistant A's Answer\]", prompt, re.S
    )
    b = re.search(
        r"\[The Start of Assistant B's Answer\]\s*(.*?)\s*\[The End of Assistant B's Answer\]", prompt, re.S
    )
    ta, tb = a.group(1) if a else "", b.group(1) if b else ""
    question = q.group(1) if q else ""
    src = re.search(r"<passage>\s*(.*?)\s*</passage>", question, re.S)
    if src:  # a grounded question: the answer the passage supports wins (share of its words found there)
        ga, gb = _support(ta, src.group(1)), _support(tb, src.group(1))
        if abs(ga - gb) >= 0.15:
            verdict = "A" if ga > gb else "B"
            return (
                f"Assistant A's answer is {'' if ga >= 0.6 else 'not '}supported by the passage ({ga:.0%} of its "
                f"words occur there); Assistant B's is {'' if gb >= 0.6 else 'not '}({gb:.0%}). [[{verdict}]]"
            )
    # no passage (or both equally supported): the more complete answer wins, ties broken by position (which
    # swapping exposes)
    verdict = "A" if len(ta) > len(tb) else "B" if len(tb) > len(ta) else "A"
    return f"Assistant {verdict} gives the more complete and helpful answer. [[{verdict}]]"


def _rubric(prompt: str) -> str:
    m = re.search(r"\[The Start of Answer\]\s*(.*?)\s*\[The End of Answer\]", prompt, re.S)
    ans = m.group(1) if m else ""
    score = max(1, min(10, 1 + len(ans.split()) // 6))
    return f"The answer is {'detailed' if score > 5 else 'brief'}. Rating: [[{score}]]"


def _evol(prompt: str) -> str:
    m = re.search(r"#The Given Prompt#:\s*(.*?)\s*#(?:Rewritten|Created) Prompt#:", prompt, re.S)
    given = (m.group(1) if m else prompt).strip()
    h = word_hash(prompt)
    if h % 11 == 0:
        return given  # unchanged: an evolution the elimination rules must catch
    adds = [
        "Answer in no more than five sentences.",
        "Include one concrete example.",
        "Explain your reasoning step by step.",
        "Consider the case of a beginner and of an expert.",
        "Use a table to compare the options.",
    ]
    if "#Created Prompt#" in prompt:
        kws = keywords(given, 2) or ["topic"]
        return f"{INSTRUCTION_VERBS[h % len(INSTRUCTION_VERBS)]} how {kws[0]} relates to {_OBJECTS[h % len(_OBJECTS)]}."
    return f"{given.rstrip('.')}. {adds[h % len(adds)]}"


def fake_answer(messages: list[dict[str, Any]], *, json_mode: bool = False, seed: int | None = None) -> str:
    """The deterministic answer the fake server gives to ``messages`` (``seed`` varies rewrites, as a sampled
    teacher would)."""
    prompt = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") in ("system", "user"))
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    last = users[-1] if users else prompt
    if last.startswith("Your previous answer could not be used") and len(users) > 1:
        last = users[-2]  # a re-ask: answer the task again
    if (
        scored := rubric_answer(last)
    ) is not None:  # pretrain annotate's rubrics (a document may read like any task)
        return scored
    if (judged := rag_answer(last)) is not None:  # RAG judging and contradiction verdicts
        return judged
    if last.startswith("Rewrite the following text") and (rewritten := _rewrite(last, seed or 0)) is not None:
        return rewritten
    if "new tasks" in last and "Come up with" in last:
        return _self_instruct(last)
    if "question-answer pair" in last:
        return _qa(last)
    if "[The Start of Assistant A's Answer]" in last:
        return _pairwise(last)
    if "[The Start of Answer]" in last:
        return _rubric(last)
    if "#Rewritten Prompt#" in last or "#Created Prompt#" in last:
        return _evol(last)
    if "Critique" in last and "<response>" in last:
        return json.dumps({"critique": "The response is relevant but could be more specific.", "score": 6})
    if json_mode:
        return json.dumps({"answer": answer_text(prompt)})
    return answer_text(prompt)


@dataclass
class FakeServerStats:
    """What the server saw: requests by path and status, and completions by prompt hash."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)  # prompt-hash -> successful (billed) answers
    prompt_tokens: int = 0
    completion_tokens: int = 0


class FakeServer:
    """An OpenAI-compatible fake chat server; use as a context manager or ``start()``/``stop()``.

    Args:
        latency: seconds each answer takes (the event loop is not blocked, so concurrency is real).
        rate_limit_rate, error_rate, malformed_rate, bad_json_rate, empty_rate, truncate_rate, slow_rate:
            fractions of requests answered with 429 (``Retry-After: retry_after``), 500, a broken JSON body,
            non-JSON content in JSON mode, empty content, a truncated answer (``finish_reason="length"``),
            or ``slow_seconds`` delay.
        seed: seeds the fault injection so runs repeat.
        model: the model name reported by ``/v1/models``.
        port: 0 picks a free port.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        rate_limit_rate: float = 0.0,
        retry_after: float = 0.05,
        error_rate: float = 0.0,
        malformed_rate: float = 0.0,
        bad_json_rate: float = 0.0,
        empty_rate: float = 0.0,
        truncate_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 2.0,
        seed: int = 0,
        model: str = "fake-teacher",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        rates = dict(
            rate_limit_rate=rate_limit_rate,
            error_rate=error_rate,
            malformed_rate=malformed_rate,
            bad_json_rate=bad_json_rate,
            empty_rate=empty_rate,
            truncate_rate=truncate_rate,
            slow_rate=slow_rate,
        )
        for k, v in rates.items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{k} must be within [0, 1], got {v!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency!r}")
        self.latency, self.retry_after, self.slow_seconds = latency, retry_after, slow_seconds
        self.rates = rates
        self.model, self.host, self.port = model, host, port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = FakeServerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> int:
        return self.stats.requests

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="datamill-fake-server", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            self._thread = None
            raise error[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None

    def serve_forever(self) -> None:
        """Start and block until interrupted (for ``datamill synthetic fake-server``)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def teacher(self, **kw: Any) -> Any:
        """An :class:`~datamill.synthetic.OpenAITeacher` pointed at this server (keyword options passed on)."""
        from datamill.synthetic.teachers import OpenAITeacher

        return OpenAITeacher(base_url=self.url, model=kw.pop("model", self.model), **kw)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = FakeServerStats()

    # -- HTTP ----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    method, path, _ = line.decode("latin-1").split(" ", 2)
                except ValueError:
                    break
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                try:
                    status, extra, payload = await self._respond(method, path.split("?")[0], body)
                except Exception as exc:  # noqa: BLE001 - a bug here must surface as a 500, not a hang
                    status, extra, payload = self._count(500, {}, {"error": {"message": repr(exc)}})
                head = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(payload)}",
                    "Connection: keep-alive",
                ]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # loop already closing
                writer.close()

    def _draw(self) -> str | None:
        with self._lock:
            r = self._rng.random()
        acc = 0.0
        for fault in (
            "rate_limit_rate",
            "error_rate",
            "malformed_rate",
            "bad_json_rate",
            "empty_rate",
            "truncate_rate",
            "slow_rate",
        ):
            acc += self.rates.get(fault, 0.0)
            if r < acc:
                return fault
        return None

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = path.rstrip("/")
        if method == "GET" and path in (
            "/v1/_stats",
            "/_stats",
        ):  # counters for a server in another process (not counted)
            st = self.stats
            return (
                200,
                {},
                json.dumps(
                    {
                        "requests": st.requests,
                        "by_status": {str(k): v for k, v in st.by_status.items()},
                        "completed": sum(st.completed.values()),
                        "prompt_tokens": st.prompt_tokens,
                        "completion_tokens": st.completion_tokens,
                    }
                ).encode(),
            )
        with self._lock:
            self.stats.requests += 1
        if method == "GET" and path in ("/v1/models", "/models"):
            return self._count(200, {}, {"object": "list", "data": [{"id": self.model, "object": "model"}]})
        if method != "POST" or path not in ("/v1/chat/completions", "/chat/completions"):
            return self._count(404, {}, {"error": {"message": f"no route {method} {path}"}})
        try:
            req = json.loads(body)
            messages = req["messages"]
        except (ValueError, KeyError, TypeError):
            return self._count(400, {}, {"error": {"message": "body must be JSON with 'messages'"}})
        fault = self._draw()
        if fault == "rate_limit_rate":
            return self._count(
                429, {"Retry-After": f"{self.retry_after:g}"}, {"error": {"message": "rate limited"}}
            )
        if fault == "error_rate":
            return self._count(500, {}, {"error": {"message": "internal error"}})
        delay = self.latency + (self.slow_seconds if fault == "slow_rate" else 0.0)
        if delay:
            await asyncio.sleep(delay)
        json_mode = (req.get("response_format") or {}).get("type") in ("json_object", "json_schema")
        text = fake_answer(messages, json_mode=json_mode, seed=req.get("seed"))
        finish = "stop"
        if fault == "bad_json_rate" and json_mode:
            text = "Sure! Here is the JSON you asked for: {"
        if fault == "empty_rate":
            text = ""
        if fault == "truncate_rate":
            text, finish = text[: max(1, len(text) // 3)], "length"
        n = max(1, int(req.get("n") or 1))
        ptoks = sum(len(str(m.get("content") or "").split()) + 4 for m in messages)
        ctoks = len(text.split()) * n
        key = xxhash.xxh64_hexdigest(body)
        with self._lock:
            self.stats.completed[key] += 1
            self.stats.prompt_tokens += ptoks
            self.stats.completion_tokens += ctoks
        out = {
            "id": f"chatcmpl-{key}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", self.model),
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": {"prompt_tokens": ptoks, "completion_tokens": ctoks, "total_tokens": ptoks + ctoks},
        }
        if fault == "malformed_rate":
            return self._count(200, {}, None, raw=json.dumps(out)[:-7].encode())
        return self._count(200, {}, out)

    def _count(
        self,
        status: int,
        extra: dict[str, str],
        data: Any,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.stats.by_status[status] += 1
        return status, extra, raw if raw is not None else json.dumps(data).encode()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
