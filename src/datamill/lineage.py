"""Follow a record's provenance back to its source: ``datamill lineage RECORD_ID --in DIR``.

Every stage writes ``provenance.parents`` (the ids a record was made from) and, at the roots,
``provenance.source`` with a line or byte offset. :func:`trace` indexes the record files under a
folder (JSONL/Parquet written by datamill; run state and quarantine folders are skipped) and walks
those links, so a fine-tune example can be followed to the human judgement, the teacher
generation, the chunk and the crawled page it came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.errors import InputError
from datamill.io import iter_jsonl, iter_parquet
from datamill.records import Record, record_types

__all__ = ["LineageIndex", "LineageNode", "trace"]

_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
_SKIP_DIRS = {".datamill", "quarantine", "__pycache__"}


@dataclass
class LineageNode:
    """One record in a lineage chain, with where it is stored and the nodes it was made from."""

    id: str
    record: Record | None
    file: str | None = None
    line: int | None = None
    parents: list[LineageNode] = field(default_factory=list)

    @property
    def missing(self) -> bool:
        """True when a parent id names a record that is not under the folder."""
        return self.record is None

    @property
    def is_root(self) -> bool:
        return self.record is not None and not self.record.provenance.parents

    def label(self) -> str:
        if self.record is None:
            return f"{self.id}  [missing: no record with this id under the folder]"
        rec, prov = self.record, self.record.provenance
        bits = [f"{rec.type_name} {rec.id}"]
        if prov.step:
            bits.append(f"step={prov.step}")
        if prov.model:
            bits.append(f"model={prov.model}")
        if prov.annotator:
            bits.append(f"annotator={prov.annotator}")
        if self.is_root:
            where = prov.source or "?"
            if prov.offset is not None:
                where += f" @ byte {prov.offset}"
            elif prov.line is not None:
                where += f":{prov.line}"
            url = rec.metadata.get("url")
            bits.append(f"source={where}" + (f" url={url}" if url else ""))
        if self.file:
            bits.append(f"[{self.file}:{self.line}]")
        return "  ".join(bits)

    def walk(self) -> Iterator[LineageNode]:
        yield self
        for p in self.parents:
            yield from p.walk()

    def complete(self) -> bool:
        """Every link resolves and every root names its source."""
        return all(not n.missing and (not n.is_root or bool(n.record and n.record.provenance.source))
                   for n in self.walk())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "record": self.record.to_dict() if self.record else None, "file": self.file,
                "line": self.line, "parents": [p.to_dict() for p in self.parents]}


class LineageIndex:
    """Every datamill record under a folder, by id (first occurrence wins; duplicates are counted)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise InputError("no such folder", path=self.root)
        self.records: dict[str, tuple[Record, str, int]] = {}
        self.files = 0
        types = record_types()
        for path in sorted(self._files()):
            self.files += 1
            rows = iter_parquet(path) if path.endswith(".parquet") else (
                (n, obj) for n, _, obj in iter_jsonl(path))
            try:
                for n, obj in rows:
                    if isinstance(obj, dict) and obj.get("type") in types and "id" in obj:
                        try:
                            rec = Record.from_dict(obj)
                        except ValueError:
                            continue
                        self.records.setdefault(rec.id, (rec, os.path.relpath(path, self.root), n))
            except InputError:
                continue  # not a record file (or an empty one): lineage only reads what it can

    def _files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                if f.endswith(_SUFFIXES):
                    yield str(Path(dirpath) / f)

    def node(self, record_id: str, _seen: frozenset[str] = frozenset()) -> LineageNode:
        hit = self.records.get(record_id)
        if hit is None:
            return LineageNode(id=record_id, record=None)
        rec, file, line = hit
        node = LineageNode(id=record_id, record=rec, file=file, line=line)
        if record_id not in _seen:  # provenance cycles would be a bug upstream; never loop on them
            node.parents = [self.node(p, _seen | {record_id}) for p in rec.provenance.parents]
        return node


def trace(record_id: str, root: str | os.PathLike[str]) -> LineageNode:
    """The lineage tree of ``record_id`` from the records under ``root``."""
    index = LineageIndex(root)
    if record_id not in index.records:
        raise InputError(f"no record with id {record_id!r} among {len(index.records):,} records in "
                         f"{index.files} files", path=index.root)
    return index.node(record_id)
