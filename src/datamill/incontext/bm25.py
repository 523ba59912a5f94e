"""Okapi BM25 through bm25s: an index kind."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from datamill.errors import require
from datamill.incontext._base import Index, _search_text
from datamill.records import Document

__all__ = ["BM25Index"]


class BM25Index(Index):
    """Okapi BM25 (Lucene variant) via bm25s, English stop words and Snowball stemming by default."""

    kind = "bm25"

    def __init__(
        self,
        chunks: Sequence[Document] = (),
        *,
        k1: float = 1.5,
        b: float = 0.75,
        stopwords: str | None = "en",
        stemmer: str | None = "english",
        method: str = "lucene",
    ) -> None:
        super().__init__(chunks, k1=k1, b=b, stopwords=stopwords, stemmer=stemmer, method=method)
        self._retriever = None
        if self.chunks:
            self._build()

    def _stem(self):  # noqa: ANN202
        name = self.params["stemmer"]
        if not name:
            return None
        stemmer_mod = require("Stemmer", extra="incontext", purpose="BM25 stemming", package="PyStemmer")
        return stemmer_mod.Stemmer(name)

    def _tokenize(self, texts: list[str]):  # noqa: ANN202
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        return bm25s.tokenize(
            texts, stopwords=self.params["stopwords"] or [], stemmer=self._stem(), show_progress=False
        )

    def _build(self) -> None:
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        retriever = bm25s.BM25(k1=self.params["k1"], b=self.params["b"], method=self.params["method"])
        retriever.index(self._tokenize([_search_text(c) for c in self.chunks]), show_progress=False)
        self._retriever = retriever

    def _grow(self, new: list[Document]) -> None:
        self._build()  # BM25's idf and average length are corpus-wide: rebuild

    def _shrink(self, keep: np.ndarray) -> None:
        self._build() if self.chunks else setattr(self, "_retriever", None)

    def _scores(self, query: str, k: int) -> list[tuple[int, float]]:
        return self._scores_batch([query], k)[0]

    def _scores_batch(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        assert self._retriever is not None
        q = self._tokenize(list(queries))
        nonempty = [i for i, ids in enumerate(q.ids) if ids]
        out: list[list[tuple[int, float]]] = [[] for _ in queries]
        if not nonempty:
            return out
        sub = type(q)(ids=[q.ids[i] for i in nonempty], vocab=q.vocab)
        docs, scores = self._retriever.retrieve(sub, k=min(k, len(self.chunks)), show_progress=False)
        for row, i in enumerate(nonempty):
            out[i] = [(int(d), float(sc)) for d, sc in zip(docs[row], scores[row], strict=True) if sc > 0]
        return out

    def score_all(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query``."""
        assert self._retriever is not None
        q = self._tokenize([query])
        if not q.ids or not q.ids[0]:
            return np.zeros(len(self.chunks), np.float32)
        vocab = {v: k for k, v in q.vocab.items()}
        return np.asarray(self._retriever.get_scores([vocab[i] for i in q.ids[0]]), dtype=np.float32)

    def _save_parts(self, out: str) -> None:
        if self._retriever is not None:
            self._retriever.save(os.path.join(out, "bm25"))

    @classmethod
    def _load_parts(cls, path: str, chunks: list[Document], params: dict[str, Any]) -> BM25Index:
        bm25s = require("bm25s", extra="incontext", purpose="BM25 indexes")
        idx = cls(**params)
        idx.chunks = chunks
        if chunks:
            idx._retriever = bm25s.BM25.load(os.path.join(path, "bm25"), mmap=True, show_progress=False)
        return idx
