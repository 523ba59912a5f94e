"""Labelled rows for training a classifier: teacher-made, human-made or a public labelled set.

:func:`read_labelled` reads JSONL/Parquet (datamill ``example`` records with ``input`` and ``label``, as
``datamill pretrain annotate`` writes them; documents with the label in their metadata; or plain rows with
a text and a label column) and CSV/TSV files, and gives :class:`LabelledRow` objects that keep the
id of the record each came from, so the model trained on them can name its parents in the lineage.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from datamill.errors import InputError
from datamill.io import expand_paths, iter_jsonl, iter_parquet, open_read
from datamill.records import Document, Example, Record, record_types

__all__ = ["LabelledRow", "read_labelled"]

_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz")


@dataclass(slots=True)
class LabelledRow:
    """One text with its label; ``record_id``: the datamill record it was read from (None for plain rows)."""

    text: str
    label: Any
    source: str
    line: int
    record_id: str | None = None
    #: the rubric's score range, for rows ``annotate`` made (``metadata["score_range"]``)
    score_range: tuple[float, float] | None = None


def _number(value: Any) -> Any:
    """A CSV cell as int or float when it is one (labels read from text files)."""
    if not isinstance(value, str):
        return value
    s = value.strip()
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _csv_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    delimiter = "\t" if ".tsv" in os.path.basename(path) else ","
    with open_read(path) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row


def _from_record(rec: Record, label_field: str) -> tuple[str, Any] | None:
    if isinstance(rec, Example):
        text = rec.input if rec.input is not None else "\n".join(m.text for m in rec.messages or [])
        label = rec.label if label_field == "label" else rec.metadata.get(label_field)
        return text, label
    if isinstance(rec, Document):
        return rec.text, rec.metadata.get(label_field)
    return None


def read_labelled(
    inputs: str | os.PathLike[str] | list[str],
    *,
    text_field: str = "text",
    label_field: str = "label",
    label_map: dict[str, Any] | None = None,
) -> Iterator[LabelledRow]:
    """Every labelled row of ``inputs`` (files, folders or globs); a row without a label is an InputError.

    ``label_map`` renames labels (keys compared as text: ``{"0": "hate", "1": "offensive"}``); a label
    it does not name stays as it is.
    """
    mapping = {str(k): v for k, v in (label_map or {}).items()}
    types = record_types()
    for path in expand_paths(inputs, suffixes=_SUFFIXES):
        low = path.lower()
        rows: Any
        if low.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
            rows = _csv_rows(path)
        elif low.endswith(".parquet"):
            rows = iter_parquet(path)
        else:
            rows = ((n, obj) for n, _, obj in iter_jsonl(path))
        for line, obj in rows:
            if not isinstance(obj, dict):
                raise InputError(
                    f"a labelled row must be an object, got {type(obj).__name__}", path=path, line=line
                )
            record_id, score_range = None, None
            if obj.get("type") in types and "id" in obj:
                try:
                    rec = Record.from_dict(obj)
                except ValueError as exc:
                    raise InputError(str(exc), path=path, line=line) from None
                found = _from_record(rec, label_field)
                if found is None:
                    raise InputError(f"a {rec.type_name} record holds no text to label", path=path, line=line)
                text, label = found
                record_id = rec.id
                rng = rec.metadata.get("score_range")
                score_range = (
                    (float(rng[0]), float(rng[1])) if isinstance(rng, list) and len(rng) == 2 else None
                )
            else:
                if text_field not in obj:
                    raise InputError(f"no text field {text_field!r} (use text_field=)", path=path, line=line)
                text, label = obj[text_field], obj.get(label_field)
            if label is None or label == "":
                raise InputError(
                    f"no label in field {label_field!r} (use label_field=)", path=path, line=line
                )
            label = _number(label)
            label = mapping.get(str(label), label)
            if not isinstance(text, str):
                raise InputError(f"text must be a string, got {type(text).__name__}", path=path, line=line)
            yield LabelledRow(text, label, path, line, record_id=record_id, score_range=score_range)
