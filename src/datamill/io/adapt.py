"""Turn rows from any file into datamill records (and back)."""

from __future__ import annotations

from typing import Any

from datamill.errors import ConfigError
from datamill.records import Document, Provenance, Record, record_types

_TYPES = record_types()

__all__ = ["RECORD_TYPES", "to_record"]

RECORD_TYPES = ("auto", "document", "conversation", "example", "preference", "judgement")


def check_record_type(record_type: str) -> str:
    if record_type not in RECORD_TYPES:
        raise ConfigError(f"record_type must be one of {', '.join(RECORD_TYPES)}, got {record_type!r}")
    return record_type


def to_record(
    obj: Any,
    *,
    record_type: str = "auto",
    text_field: str = "text",
    id_field: str = "id",
    source: str | None = None,
    line: int | None = None,
    offset: int | None = None,
) -> Record:
    """One row as a record; raises ValueError with the reason when the row does not fit.

    ``auto``: a row carrying a datamill ``"type"`` tag is rebuilt exactly; any other row becomes a
    :class:`Document` from ``text_field`` (id from ``id_field`` when present, other keys to metadata; a
    nested ``metadata`` object is merged into it when none of its keys clash with the row's own).
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    tagged = obj.get("type") in _TYPES
    if record_type == "auto":
        record_type = obj["type"] if tagged else "document"
    if tagged or record_type != "document":
        row = dict(obj)
        row.setdefault("type", record_type)
        rec = Record.from_dict(row)
        if rec.type_name != record_type:
            raise ValueError(f"expected a {record_type} record, got type {rec.type_name!r}")
    else:
        if text_field not in obj:
            raise ValueError(
                f"row has no {text_field!r} field (keys: {', '.join(sorted(obj)) or 'none'}); "
                "set text_field to the field holding the text"
            )
        text = obj[text_field]
        if not isinstance(text, str):
            raise ValueError(f"field {text_field!r} must be a string, got {type(text).__name__}")
        rid = obj.get(id_field)
        meta = {k: v for k, v in obj.items() if k != text_field and k != id_field}
        nested = meta.get("metadata")
        if isinstance(nested, dict) and not (set(nested) & set(meta)):
            # Dolma-style {"text", "metadata": {...}}: one flat metadata, so filters and steps see its keys
            del meta["metadata"]
            meta.update(nested)
        return Document(
            id="" if rid is None else str(rid),
            text=text,
            metadata=meta,
            provenance=Provenance(source=source, line=line, offset=offset),
        )
    if source is not None and rec.provenance.source is None:
        rec.provenance = Provenance(
            source=source,
            line=line,
            offset=offset,
            step=rec.provenance.step,
            model=rec.provenance.model,
            annotator=rec.provenance.annotator,
            parents=rec.provenance.parents,
            extra=rec.provenance.extra,
        )
    return rec
