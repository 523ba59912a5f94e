"""Typed records shared by every stage.

Every record has an ``id``, free-form ``metadata`` and a :class:`Provenance` saying where it
came from. Records round-trip losslessly through :meth:`Record.to_dict` / :func:`from_dict`
(and JSON), tagged by a ``"type"`` key so mixed streams can be read back.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import orjson
import xxhash

__all__ = [
    "Conversation",
    "Document",
    "Example",
    "Judgement",
    "Message",
    "Preference",
    "Provenance",
    "Record",
    "RecordT",
    "from_dict",
    "from_json",
    "record_types",
    "stable_id",
]

RecordT = TypeVar("RecordT", bound="Record")
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def stable_id(*parts: Any) -> str:
    """A short deterministic id from any JSON-able parts (xxh3-128, hex)."""
    h = xxhash.xxh3_128()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
        h.update(b"\x1f")
    return h.hexdigest()[:24]


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass field names of ``cls``, in order (``dataclasses.fields`` is slow on hot paths)."""
    return tuple(f.name for f in fields(cls))


@functools.cache
def _field_set(cls: type) -> frozenset[str]:
    return frozenset(_field_names(cls))


def _known_keys(cls: type, data: Any, what: str) -> dict[str, Any]:
    """``data`` if it is a dict holding only fields of dataclass ``cls``; else ValueError saying why."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be an object, got {type(data).__name__}")
    known = _field_set(cls)
    if known.issuperset(data):
        return data
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what} keys {sorted(unknown)}; allowed: {sorted(known)}")
    return data


@dataclass(slots=True, kw_only=True)
class Provenance:
    """Where a record came from: source file/URL and position, and who or what produced it."""

    source: str | None = None
    line: int | None = None
    offset: int | None = None
    step: str | None = None
    model: str | None = None
    annotator: str | None = None
    parents: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):  # type: ignore[arg-type]  # mypy: a slots dataclass class is hashable
            value = getattr(self, name)
            if value is not None and value != [] and value != {}:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Provenance:
        if data is None:
            return cls()
        return cls(**_known_keys(cls, data, "provenance"))

    def child(self, *, step: str, parents: list[str], **kw: Any) -> Provenance:
        """Provenance for a record derived from records with ids ``parents`` by ``step``."""
        return Provenance(
            source=self.source, line=self.line, offset=self.offset, step=step, parents=parents, **kw
        )


@dataclass(slots=True, kw_only=True)
class Message:
    """One chat message (OpenAI-style roles); tool and function calls kept as given."""

    role: str
    content: str | list[Any] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    function_call: dict[str, Any] | None = None
    weight: int | None = None

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"unknown message role {self.role!r}; allowed: {', '.join(_ROLES)}")

    @property
    def text(self) -> str:
        """The message's text: ``content``, or the text parts of a list of content parts ("" for none)."""
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if isinstance(p, dict))
        return self.content or ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        for name in _field_names(Message)[1:]:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Message:
        _known_keys(cls, data, "message")
        if "role" not in data:
            raise ValueError("message has no 'role'")
        return cls(**data)


def _messages(value: Any, what: str) -> list[Message]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list of messages, got {type(value).__name__}")
    return [m if isinstance(m, Message) else Message.from_dict(m) for m in value]


def _text_or_messages(value: Any, what: str) -> str | list[Message]:
    if isinstance(value, str):
        return value
    return _messages(value, what)


def _dump(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, list) and value and isinstance(value[0], Message):
        return [m.to_dict() for m in value]
    return value


_TYPES: dict[str, type[Record]] = {}


@functools.cache
def _content_field_names(cls: type) -> tuple[str, ...]:
    return tuple(n for n in _field_names(cls) if n not in ("id", "metadata", "provenance"))


@dataclass(slots=True, kw_only=True)
class Record:
    """Base of all records: ``id``, ``metadata``, ``provenance``.

    An empty ``id`` is filled with a stable hash of the record's content.
    """

    type_name: ClassVar[str] = "record"
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise ValueError(f"id must be a string, got {type(self.id).__name__}")
        if not isinstance(self.metadata, dict):
            raise ValueError(f"metadata must be an object, got {type(self.metadata).__name__}")
        if isinstance(self.provenance, dict):
            self.provenance = Provenance.from_dict(self.provenance)
        self._check()
        if not self.id:
            self.id = stable_id(self.type_name, *(_dump(getattr(self, n)) for n in self._content_fields()))

    def _check(self) -> None:
        """Validate and coerce the subclass fields (raise ValueError with the reason)."""

    @classmethod
    def _content_fields(cls) -> tuple[str, ...]:
        return _content_field_names(cls)  # type: ignore[arg-type]  # mypy: a slots dataclass class is hashable

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict tagged with ``"type"``; :func:`from_dict` reverses it exactly."""
        out: dict[str, Any] = {"type": self.type_name, "id": self.id}
        for name in self._content_fields():
            out[name] = _dump(getattr(self, name))
        out["metadata"] = self.metadata
        out["provenance"] = self.provenance.to_dict()
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_dict(cls: type[RecordT], data: dict[str, Any]) -> RecordT:
        """Build a record from :meth:`to_dict` output; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"a record must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        tname = data.pop("type", None)
        target: type[Record] = cls
        if tname is not None:
            if tname not in _TYPES:
                raise ValueError(f"unknown record type {tname!r}; allowed: {', '.join(sorted(_TYPES))}")
            target = _TYPES[tname]
            if not issubclass(target, cls):
                raise ValueError(f"expected a {cls.type_name} record, got type {tname!r}")
        elif cls is Record:
            raise ValueError("record has no 'type' key")
        _known_keys(target, data, target.type_name)
        try:
            return target(**data)  # type: ignore[return-value]
        except TypeError as exc:  # missing required field
            raise ValueError(f"bad {target.type_name} record: {exc}") from None


@dataclass(slots=True, kw_only=True)
class Document(Record):
    """A text document (pre-training, RAG corpora)."""

    type_name: ClassVar[str] = "document"
    text: str

    def _check(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError(f"document text must be a string, got {type(self.text).__name__}")


@dataclass(slots=True, kw_only=True)
class Conversation(Record):
    """A multi-turn chat."""

    type_name: ClassVar[str] = "conversation"
    messages: list[Message]

    def _check(self) -> None:
        self.messages = _messages(self.messages, "conversation messages")


@dataclass(slots=True, kw_only=True)
class Example(Record):
    """A fine-tuning or in-context example: ``input`` or ``messages``, an ``output``, a ``label``, a ``split``."""

    type_name: ClassVar[str] = "example"
    input: str | None = None
    messages: list[Message] | None = None
    output: str | None = None
    label: Any = None
    split: str | None = None

    def _check(self) -> None:
        if self.input is not None and not isinstance(self.input, str):
            raise ValueError(f"example input must be a string, got {type(self.input).__name__}")
        if self.output is not None and not isinstance(self.output, str):
            raise ValueError(f"example output must be a string, got {type(self.output).__name__}")
        if self.messages is not None:
            self.messages = _messages(self.messages, "example messages")
        if self.input is None and self.messages is None:
            raise ValueError("an example needs 'input' or 'messages'")


@dataclass(slots=True, kw_only=True)
class Preference(Record):
    """A preference pair: ``chosen`` preferred over ``rejected`` for ``prompt``."""

    type_name: ClassVar[str] = "preference"
    prompt: str | list[Message]
    chosen: str | list[Message]
    rejected: str | list[Message]
    scores: dict[str, float] = field(default_factory=dict)

    def _check(self) -> None:
        self.prompt = _text_or_messages(self.prompt, "preference prompt")
        self.chosen = _text_or_messages(self.chosen, "preference chosen")
        self.rejected = _text_or_messages(self.rejected, "preference rejected")
        if not isinstance(self.scores, dict):
            raise ValueError(f"preference scores must be an object, got {type(self.scores).__name__}")


@dataclass(slots=True, kw_only=True)
class Judgement(Record):
    """One human or model judgement of a task: who judged, what, and the value given."""

    type_name: ClassVar[str] = "judgement"
    annotator: str
    task: str
    value: Any

    def _check(self) -> None:
        if not isinstance(self.annotator, str) or not isinstance(self.task, str):
            raise ValueError("judgement annotator and task must be strings")


for _cls in (Document, Conversation, Example, Preference, Judgement):
    _TYPES[_cls.type_name] = _cls


def record_types() -> dict[str, type[Record]]:
    """The registered record types by their ``type`` tag."""
    return dict(_TYPES)


def from_dict(data: dict[str, Any]) -> Record:
    """Any record from its ``to_dict`` form (dispatching on ``"type"``)."""
    return Record.from_dict(data)


def from_json(data: bytes | str) -> Record:
    return Record.from_dict(orjson.loads(data))
