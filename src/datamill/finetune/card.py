"""Hugging Face dataset cards: the README.md (with the YAML header the Hub reads) of a fine-tuning set."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datamill.errors import ConfigError
from datamill.records import Record

__all__ = ["CardResult", "dataset_card", "write_dataset_card"]


def dataset_card(
    *,
    name: str,
    splits: dict[str, int],
    formats: Sequence[str],
    token_stats: Any = None,
    sources: Sequence[str] = (),
    license: str = "unknown",
    language: Sequence[str] = ("en",),  # noqa: A002
    task: str = "text-generation",
    description: str = "",
    cleaning: dict[str, int] | None = None,
    data_files: dict[str, str] | None = None,
) -> str:
    """A Hugging Face dataset card (README.md with the YAML header the Hub reads).

    ``data_files`` maps each split to its file, relative to the card's folder; by default
    ``<split>.jsonl`` beside the card, the layout :func:`~datamill.finetune.split` and ``datamill finetune split`` write,
    so ``datasets.load_dataset(folder)`` loads every split.
    """
    import yaml

    files = {s: f"{s}.jsonl" for s in splits} | (data_files or {})
    if set(files) != set(splits):
        raise ConfigError(
            f"data_files must name the same splits as splits: {sorted(files)} vs {sorted(splits)}",
            params="data_files",
        )

    header = {
        "license": license,
        "language": list(language),
        "task_categories": [task],
        "size_categories": [_size_category(sum(splits.values()))],
        "pretty_name": name,
        "tags": ["datamill", "fine-tuning", *formats],
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": files[s]} for s in splits]}
        ],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", f"# {name}", ""]
    if description:
        lines += [description, ""]
    lines += ["## Splits", "", "| split | examples |", "|---|---|"]
    lines += [f"| {s} | {c:,} |" for s, c in splits.items()]
    lines += ["", f"Formats: {', '.join(formats)}.", ""]
    if token_stats is not None:
        lines += _tokens_section(token_stats)
    if cleaning:
        lines += ["## Cleaning", "", "| rule | removed |", "|---|---|"]
        lines += [f"| {r} | {c:,} |" for r, c in sorted(cleaning.items())]
        lines += [""]
    if sources:
        lines += ["## Sources", ""] + [f"- {s}" for s in sources] + [""]
    lines += [
        "## License",
        "",
        f"{license}",
        "",
        "Prepared with [datamill](https://pypi.org/project/datamill/).",
    ]
    return "\n".join(lines) + "\n"


def _size_category(n: int) -> str:
    """The Hub's size category of ``n`` examples."""
    for limit, label in ((1e3, "n<1K"), (1e4, "1K<n<10K"), (1e5, "10K<n<100K"), (1e6, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def _tokens_section(t: Any) -> list[str]:
    """The card's token paragraph: tokenizer, total, spread, examples over the limit, billed tokens."""
    return [
        "## Tokens",
        "",
        f"Counted with `{t.tokenizer}`: {t.total:,} tokens in {t.examples:,} examples "
        f"(mean {t.mean:.0f}, median {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max:,}); "
        f"{t.over_limit} over {t.max_tokens:,}. Training {t.epochs} epoch(s) bills {t.billed_tokens:,} tokens.",
        "",
    ]


@dataclass
class CardResult:
    """A card written for a split folder: where, the examples per split, their token statistics."""

    path: str
    splits: dict[str, int]
    tokens: Any


_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def write_dataset_card(
    data_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    name: str = "",
    license: str = "unknown",
    sources: Sequence[str] = (),  # noqa: A002
    tokenizer: str = "cl100k_base",
) -> CardResult:
    """Write the :func:`dataset_card` of a folder of ``<split>.jsonl`` files (as :func:`~datamill.finetune.split` leaves them) to
    ``output`` (default ``data_dir/README.md``), its splits in train, validation, test order and its
    ``data_files`` relative to the card, so ``datasets.load_dataset`` finds them."""
    from datamill.errors import InputError
    from datamill.finetune.formats import read_examples
    from datamill.finetune.stats import count_example_tokens, token_stats

    folder = os.fspath(data_dir)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    files = sorted(
        (f for f in names if f.endswith(".jsonl") and os.path.isfile(os.path.join(folder, f))),
        key=lambda f: (_SPLIT_ORDER.get(f[:-6], 3), f[:-6]),
    )
    if not files:
        raise InputError("no <split>.jsonl files here", path=folder)
    target = os.fspath(output) if output is not None else os.path.join(folder, "README.md")
    splits: dict[str, int] = {}
    paths: dict[str, str] = {}
    records: list[Record] = []
    formats: set[str] = set()
    for f in files:
        stem = f[:-6]
        if not re.fullmatch(r"\w+(\.\w+)*", stem):
            raise InputError(
                f"{f}: a split name is letters, digits and _ (Hugging Face datasets refuses "
                f"{stem!r}); rename the file",
                path=folder,
            )
        part = list(read_examples(os.path.join(folder, f)))
        splits[stem] = len(part)
        paths[stem] = os.path.relpath(os.path.join(folder, f), os.path.dirname(target) or ".").replace(
            os.sep, "/"
        )
        records.extend(part)
        formats |= {r.metadata.get("format", "openai") for r in part}
    stats = token_stats(count_example_tokens(records, tokenizer=tokenizer), tokenizer=tokenizer)
    text = dataset_card(
        name=name or os.path.basename(os.path.abspath(folder)),
        splits=splits,
        formats=sorted(formats),
        token_stats=stats,
        sources=list(sources),
        license=license,
        data_files=paths,
    )
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return CardResult(path=target, splits=splits, tokens=stats)
