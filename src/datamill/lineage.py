"""Follow a record's provenance back to its source: ``datamill lineage RECORD_ID --in DIR``.

Every stage writes ``provenance.parents`` (the ids a record was made from) and, at the roots,
``provenance.source`` with a line or byte offset. :func:`trace` indexes the record files under a
folder (JSONL/Parquet written by datamill; run state and quarantine folders are skipped) and walks
those links, so a fine-tune example can be followed to the human judgement, the teacher
generation, the chunk and the crawled page it came from.

A document kept by a classifier filter also links to the model that selected it
(``provenance.extra["selected_by"]``), and the model's record to the labelled rows it learned from.

Lineage is a graph, not a tree: three annotators' judgements share one judged pair, whose answers
share one chunk. Each record is one :class:`LineageNode` however many records it fed, and
:func:`lineage_tree` prints it once, referring back to it ("see above") where it recurs.
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

__all__ = ["LineageIndex", "LineageNode", "lineage_tree", "trace"]

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
        """This node and every ancestor, each once (depth first, parents in order)."""
        seen: set[int] = set()
        stack: list[LineageNode] = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            stack.extend(reversed(node.parents))

    def complete(self) -> bool:
        """Every link resolves, every root names its source, and there is a root (a cycle has none)."""
        nodes = list(self.walk())
        return any(n.is_root for n in nodes) and all(
            not n.missing and (not n.is_root or bool(n.record and n.record.provenance.source)) for n in nodes
        )

    def to_dict(self, _shown: set[int] | None = None) -> dict[str, Any]:
        """Nested parents; an ancestor already given higher up is ``{"id": ..., "see_above": true}``."""
        shown = set() if _shown is None else _shown
        if id(self) in shown:
            return {"id": self.id, "see_above": True}
        shown.add(id(self))
        return {
            "id": self.id,
            "record": self.record.to_dict() if self.record else None,
            "file": self.file,
            "line": self.line,
            "parents": [p.to_dict(shown) for p in self.parents],
        }


class LineageIndex:
    """Every datamill record under a folder, by id (first occurrence wins; a later copy adds the models
    that selected it)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise InputError("no such folder", path=self.root)
        self.records: dict[str, tuple[Record, str, int]] = {}
        self.files = 0
        types = record_types()
        for path in sorted(self._files()):
            self.files += 1
            rows = (
                iter_parquet(path)
                if path.endswith(".parquet")
                else ((n, obj) for n, _, obj in iter_jsonl(path))
            )
            try:
                for n, obj in rows:
                    if isinstance(obj, dict) and obj.get("type") in types and "id" in obj:
                        try:
                            rec = Record.from_dict(obj)
                        except ValueError:
                            continue
                        first = self.records.setdefault(rec.id, (rec, os.path.relpath(path, self.root), n))[0]
                        if first is not rec:  # the same document before and after a classifier filter
                            _add_selectors(first, rec)
            except InputError:
                continue  # not a record file (or an empty one): lineage only reads what it can

    def _files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                if f.endswith(_SUFFIXES):
                    yield str(Path(dirpath) / f)

    def node(self, record_id: str) -> LineageNode:
        """The lineage of ``record_id``; a record reached along several paths is one shared node."""
        return self._node(record_id, {})

    def _node(self, record_id: str, made: dict[str, LineageNode]) -> LineageNode:
        if record_id in made:
            return made[record_id]
        hit = self.records.get(record_id)
        if hit is None:
            made[record_id] = LineageNode(id=record_id, record=None)
            return made[record_id]
        rec, file, line = hit
        node = made[record_id] = LineageNode(id=record_id, record=rec, file=file, line=line)
        # registered before its parents, so a provenance cycle (a bug upstream) ends here instead of looping
        node.parents = [self._node(p, made) for p in _parent_ids(rec)]
        return node


def _add_selectors(first: Record, later: Record) -> None:
    """Give the copy of a record that is indexed the models that selected a later copy of it."""
    extra = later.provenance.extra.get("selected_by") or []
    if extra:
        mine = first.provenance.extra.setdefault("selected_by", [])
        mine.extend(s for s in extra if s not in mine)


def _parent_ids(rec: Record) -> list[str]:
    """The records ``rec`` was made from, then the models that selected it (a classifier filter names
    itself in ``provenance.extra["selected_by"]``; the model's record names the labels it learned from)."""
    selected = rec.provenance.extra.get("selected_by") or []
    ids = list(rec.provenance.parents)
    return ids + [s for s in selected if isinstance(s, str) and s not in ids]


def lineage_tree(node: LineageNode) -> Any:
    """A ``rich`` Tree of the lineage: each record printed once, later occurrences say "(see above)";
    missing links in red, sources in green."""
    from rich.markup import escape
    from rich.tree import Tree

    shown: set[int] = {id(node)}

    def add(tree: Tree, at: LineageNode) -> None:
        for parent in at.parents:
            if id(parent) in shown:
                kind = parent.record.type_name if parent.record is not None else "record"
                tree.add(f"[dim]{escape(f'{kind} {parent.id}')}  (see above)[/]")
                continue
            shown.add(id(parent))
            style = "red" if parent.missing else ("green" if parent.is_root else "")
            label = escape(parent.label())
            if at.record is not None and parent.id in (at.record.provenance.extra.get("selected_by") or []):
                label = "selected by: " + label
            add(tree.add(f"[{style}]{label}[/]" if style else label), parent)

    tree = Tree(f"[bold]{escape(node.label())}[/]")
    add(tree, node)
    return tree


def trace(record_id: str, root: str | os.PathLike[str]) -> LineageNode:
    """The lineage tree of ``record_id`` from the records under ``root``."""
    index = LineageIndex(root)
    if record_id not in index.records:
        raise InputError(
            f"no record with id {record_id!r} among {len(index.records):,} records in {index.files} files",
            path=index.root,
        )
    return index.node(record_id)
