"""A small text classifier a pipeline can afford to run on every document.

:class:`HashedNgrams` turns texts into the presence of hashed word n-grams (fastText's input:
lowercased ``\\w+`` words, uni- and bigrams by default, hashed into ``2**20`` buckets); a linear head on
top (logistic regression for labels, ridge regression for scores) is :class:`TextClassifier`. It is the
model class of fastText and DCLM's quality filter with a full-rank weight matrix instead of fastText's
low-rank embedding, and scores thousands of documents a second on one core. ``features="embedding"``
puts the same head on sentence embeddings (the shipped MiniLM, :mod:`datamill.embed`) instead: slower,
better on paraphrase-heavy labels.

A saved model is a folder of plain files (no pickle): ``model.json`` (features, task, classes, what
it was trained on), ``weights.npz``, ``model_card.md`` and ``lineage.jsonl`` (the model as a record
whose parents are the labelled rows it learned from, for ``datamill lineage``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import xxhash

from datamill.errors import ConfigError, InputError, require

__all__ = [
    "FEATURES",
    "HashedNgrams",
    "TASKS",
    "TextClassifier",
    "load_classifier",
]

FEATURES = ("ngrams", "embedding")
TASKS = ("classification", "regression")
FORMAT_VERSION = 1
_WORD = re.compile(r"\w+")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier: combines word hashes into n-gram hashes
_CACHE_LIMIT = 2_000_000


class HashedNgrams:
    """Texts -> a CSR matrix of the presence (0/1) of hashed word 1..``ngrams``-grams.

    Words are ``\\w+`` runs of the lowercased text, hashed with xxh32 (the same on every machine and
    process, so a saved model scores the same everywhere); an n-gram's bucket mixes its words' hashes.
    """

    def __init__(self, *, n_features: int = 2**20, ngrams: int = 2) -> None:
        if not 2**10 <= n_features <= 2**26:
            raise ConfigError(f"n_features must be in 2**10..2**26, got {n_features!r}", params="n_features")
        if ngrams not in (1, 2, 3):
            raise ConfigError(f"ngrams must be 1, 2 or 3, got {ngrams!r}", params="ngrams")
        self.n_features, self.ngrams = int(n_features), int(ngrams)
        self._hashes: dict[str, int] = {}

    def _word_hashes(self, text: str) -> list[int]:
        words = _WORD.findall(text.lower())
        get = self._hashes.get
        out = [get(w) for w in words]
        if None in out:
            if len(self._hashes) > _CACHE_LIMIT:
                self._hashes.clear()
            for w in words:
                if w not in self._hashes:
                    self._hashes[w] = xxhash.xxh32_intdigest(w.encode("utf-8", "surrogatepass"))
            out = [self._hashes[w] for w in words]
        return out  # type: ignore[return-value]

    def transform(self, texts: Sequence[str]) -> Any:
        """A ``len(texts) x n_features`` float32 CSR matrix (a text without words is an empty row)."""
        import scipy.sparse as sp

        hashes: list[int] = []
        lens: list[int] = []
        for text in texts:
            words = self._word_hashes(text)
            hashes.extend(words)
            lens.append(len(words))
        n = len(texts)
        h = np.array(hashes, dtype=np.uint64)
        doc = np.repeat(np.arange(n, dtype=np.int64), lens)
        parts, rows = [h], [doc]
        gram, same = h, np.ones(len(h), dtype=bool)
        for k in range(1, self.ngrams):  # an n-gram stays inside its document
            if len(h) <= k:
                break
            same = same[:-1] & (doc[k:] == doc[:-k])
            gram = gram[:-1] * _MIX + h[k:]
            parts.append(gram[same])
            rows.append(doc[:-k][same])
        idx = (np.concatenate(parts) % np.uint64(self.n_features)).astype(np.int64)
        row = np.concatenate(rows)
        x = sp.csr_matrix(
            (np.ones(len(idx), dtype=np.float32), (row, idx)), shape=(n, self.n_features), dtype=np.float32
        )
        x.sum_duplicates()
        x.data[:] = 1.0  # presence, not counts: better than l2-normalised counts on the shipped tweets
        return x

    def config(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "ngrams": self.ngrams}


class TextClassifier:
    """A linear head over hashed n-grams (or embeddings): scores, labels, save and load.

    ``score`` is what a filter thresholds: the predicted value for a regression model (clipped to the
    label range), the probability of ``positive`` for a label model (binary: the larger label unless
    ``positive`` names one), or, for several numeric labels, their expected value under the model.
    """

    def __init__(
        self,
        *,
        task: str,
        features: str,
        weights: np.ndarray,
        bias: np.ndarray,
        classes: list[Any] | None = None,
        positive: Any = None,
        label_range: tuple[float, float] | None = None,
        n_features: int = 2**20,
        ngrams: int = 2,
        embedding_model: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}", params="task")
        if features not in FEATURES:
            raise ConfigError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")
        self.task, self.features = task, features
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32).reshape(-1)
        self.classes = list(classes or [])
        self.positive = positive
        self.label_range = label_range
        self.embedding_model = embedding_model
        self.info: dict[str, Any] = dict(info or {})
        self._ngrams = HashedNgrams(n_features=n_features, ngrams=ngrams) if features == "ngrams" else None
        self._embedder: Any = None
        if task == "classification" and len(self.classes) < 2:
            raise ConfigError("a classification model needs at least two classes")
        if task == "classification" and len(self.classes) > 2 and positive is None and not self._numeric:
            raise ConfigError(
                f"labels {self.classes} are neither two nor numbers: name the positive label (positive=)",
                params="positive",
            )

    @property
    def _numeric(self) -> bool:
        return all(isinstance(c, int | float) and not isinstance(c, bool) for c in self.classes)

    # -- scoring ---------------------------------------------------------------------------------
    def featurize(self, texts: Sequence[str]) -> Any:
        """The model's input for ``texts`` (a CSR matrix, or an embedding array)."""
        if self._ngrams is not None:
            return self._ngrams.transform(texts)
        if self._embedder is None:
            from datamill.embed import get_embedder

            self._embedder = get_embedder(self.embedding_model or "all-MiniLM-L6-v2")
        return self._embedder.encode(list(texts))

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear outputs, ``(len(texts), k)``."""
        x = self.featurize(texts)
        return np.asarray(x @ self.weights) + self.bias

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``(len(texts), len(classes))`` of a classification model."""
        if self.task != "classification":
            raise ConfigError("a regression model has no class probabilities")
        return _probabilities(self.decision(texts))

    def scores_from_decision(self, z: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            s = z[:, 0]
            if self.label_range is not None:
                s = np.clip(s, *self.label_range)
            return s.astype(np.float64)
        p = _probabilities(z)
        if self.positive is not None:
            return p[:, self.classes.index(self.positive)].astype(np.float64)
        if len(self.classes) == 2:
            return p[:, 1].astype(np.float64)
        return (p @ np.asarray(self.classes, dtype=np.float64)).astype(np.float64)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """One float per text: what a filter keeps above (or below) a threshold."""
        if len(texts) == 0:
            return np.zeros(0)
        return self.scores_from_decision(self.decision(texts))

    def predict(self, texts: Sequence[str]) -> list[Any]:
        """A label per text (classification) or the predicted value (regression)."""
        z = self.decision(texts)
        if self.task == "regression":
            return self.scores_from_decision(z).tolist()
        return (
            [self.classes[i] for i in z.argmax(axis=1)]
            if z.shape[1] > 1
            else [self.classes[int(v > 0)] for v in z[:, 0]]
        )

    # -- storage ---------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "datamill_classifier": FORMAT_VERSION,
            "task": self.task,
            "features": self.features,
            "classes": self.classes,
            "positive": self.positive,
            "label_range": list(self.label_range) if self.label_range else None,
            "embedding_model": self.embedding_model,
        }
        if self._ngrams is not None:
            cfg.update(self._ngrams.config())
        return {**cfg, **{k: v for k, v in self.info.items() if k not in cfg}}

    def save(self, path: str | os.PathLike[str], *, weights: bool = True) -> str:
        """Write ``model.json`` and (unless ``weights`` is false) ``weights.npz`` into the folder ``path``."""
        folder = os.fspath(path)
        os.makedirs(folder, exist_ok=True)
        if weights:
            self._save_weights(folder)
        with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as fh:
            json.dump(self.config(), fh, indent=2, default=str)
        return folder

    def _save_weights(self, folder: str) -> None:
        rows, cols = np.nonzero(self.weights)
        np.savez_compressed(
            os.path.join(folder, "weights.npz"),
            shape=np.asarray(self.weights.shape, dtype=np.int64),
            rows=rows.astype(np.int64),
            cols=cols.astype(np.int64),
            values=self.weights[rows, cols],
            bias=self.bias,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextClassifier:
        """A model saved by :meth:`save` (a folder holding ``model.json`` and ``weights.npz``)."""
        folder = os.fspath(path)
        cfg_path = os.path.join(folder, "model.json")
        if not os.path.isfile(cfg_path):
            raise InputError("not a datamill classifier folder (no model.json)", path=folder)
        with open(cfg_path, encoding="utf-8") as fh:
            cfg = json.load(fh)
        if cfg.get("datamill_classifier") != FORMAT_VERSION:
            raise InputError(f"unknown classifier format {cfg.get('datamill_classifier')!r}", path=cfg_path)
        with np.load(os.path.join(folder, "weights.npz")) as npz:
            w = np.zeros(tuple(npz["shape"]), dtype=np.float32)
            w[npz["rows"], npz["cols"]] = npz["values"]
            bias = npz["bias"]
        known = {"datamill_classifier", "task", "features", "classes", "positive", "label_range"}
        known |= {"embedding_model", "n_features", "ngrams"}
        lr = cfg.get("label_range")
        return cls(
            task=cfg["task"],
            features=cfg["features"],
            weights=w,
            bias=bias,
            classes=cfg.get("classes"),
            positive=cfg.get("positive"),
            label_range=(float(lr[0]), float(lr[1])) if lr else None,
            n_features=int(cfg.get("n_features") or 2**20),
            ngrams=int(cfg.get("ngrams") or 2),
            embedding_model=cfg.get("embedding_model"),
            info={k: v for k, v in cfg.items() if k not in known},
        )

    # -- training --------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[Any],
        *,
        task: str,
        features: str = "ngrams",
        n_features: int = 2**20,
        ngrams: int = 2,
        embedding_model: str = "all-MiniLM-L6-v2",
        regularization: float = 1.0,
        balanced: bool = True,
        positive: Any = None,
        seed: int = 0,
    ) -> TextClassifier:
        """Train on ``texts`` and ``labels``: logistic regression (lbfgs) for labels, ridge for scores.

        ``regularization`` is the inverse strength for logistic regression (scikit-learn's ``C``) and
        the strength for ridge (its ``alpha``); ``balanced`` weights classes by inverse frequency.
        """
        require("sklearn", extra="pretrain", purpose="training a classifier", package="scikit-learn")
        if task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}", params="task")
        if regularization <= 0:
            raise ConfigError(f"regularization must be > 0, got {regularization!r}", params="regularization")
        model = cls(
            task="regression",
            features=features,
            weights=np.zeros((1, 1)),
            bias=np.zeros(1),
            n_features=n_features,
            ngrams=ngrams,
            embedding_model=embedding_model if features == "embedding" else None,
        )
        x = model.featurize(texts)
        if task == "regression":
            from sklearn.linear_model import Ridge

            y = np.asarray(labels, dtype=np.float64)
            reg = Ridge(alpha=regularization, random_state=seed).fit(x, y)
            weights, bias = np.asarray(reg.coef_).reshape(-1, 1), np.atleast_1d(reg.intercept_)
            classes: list[Any] = []
            label_range: tuple[float, float] | None = (float(y.min()), float(y.max()))
        else:
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(
                C=regularization,
                max_iter=2000,
                class_weight="balanced" if balanced else None,
                random_state=seed,
            ).fit(x, list(labels))
            weights, bias = np.asarray(clf.coef_).T, np.asarray(clf.intercept_)
            classes = [c.item() if hasattr(c, "item") else c for c in clf.classes_]
            label_range = None
        positive = next((c for c in classes if str(c) == str(positive)), positive)  # "1" on the command line
        if positive is not None and positive not in classes:
            raise ConfigError(f"positive={positive!r} is not one of the labels {classes}", params="positive")
        return cls(
            task=task,
            features=features,
            weights=weights,
            bias=bias,
            classes=classes,
            positive=positive,
            label_range=label_range,
            n_features=n_features,
            ngrams=ngrams,
            embedding_model=model.embedding_model,
        )


def _probabilities(z: np.ndarray) -> np.ndarray:
    if z.shape[1] == 1:  # binary logistic regression: one column, the second class's log-odds
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def load_classifier(path: str | os.PathLike[str]) -> TextClassifier:
    """The classifier saved in the folder ``path`` (see :meth:`TextClassifier.save`)."""
    return TextClassifier.load(path)
