"""What runs once over a finished pre-training run: fixed-size token shards and the HTML report.

:class:`Shards` and :class:`Report` are the recipe's finishers (``datamill pretrain run`` ends with
both); :func:`finish_run` applies them to a :class:`~datamill.pipeline.RunResult` built elsewhere.
"""

from __future__ import annotations

from typing import Any

from datamill.errors import ConfigError
from datamill.io import storage
from datamill.pipeline import RunResult
from datamill.pretrain.tokenize import shard_corpus
from datamill.recipes import Finisher, run_finishers

__all__ = ["Report", "Shards", "finish_run"]


class Shards(Finisher):
    """Re-split a finished run's documents into shards of about ``tokens_per_shard`` tokens under
    ``<output>/shards`` (``token_ids``: also uint32 token-id shards); the summary goes to the manifest."""

    name = "pretrain.shards"
    key = "shards"

    def __init__(
        self, *, tokenizer: str = "cl100k_base", tokens_per_shard: int = 100_000_000, token_ids: bool = False
    ) -> None:
        if tokens_per_shard < 1:
            raise ConfigError(
                f"tokens_per_shard must be >= 1, got {tokens_per_shard!r}", params="tokens_per_shard"
            )
        self.tokenizer, self.tokens_per_shard, self.token_ids = tokenizer, tokens_per_shard, token_ids

    def finish(self, result: RunResult) -> dict[str, Any]:
        out = result.output
        summary = shard_corpus(
            [storage.join(out, f) for f in result.files],
            storage.join(out, "shards"),
            tokens_per_shard=self.tokens_per_shard,
            tokenizer=self.tokenizer,
            token_ids=self.token_ids,
        )
        return {**{k: v for k, v in summary.items() if k != "shards"}, "files": len(summary["shards"])}

    def summary(self, value: Any) -> str:
        return (
            f"{value['tokens']:,} tokens ({value['tokenizer']}) in {value['files']} shard(s) "
            f"under {value['folder']}"
        )


class Report(Finisher):
    """Write the run's self-contained HTML report (``<output>/report.html``, or ``path``)."""

    name = "pretrain.report"
    key = "report"

    def __init__(self, *, path: str | None = None) -> None:
        self.path = path

    def finish(self, result: RunResult) -> str:
        from datamill.pretrain.report import write_report

        return write_report(result.output, self.path)


def finish_run(
    result: RunResult,
    *,
    tokenizer: str = "cl100k_base",
    tokens_per_shard: int = 100_000_000,
    token_ids: bool = False,
    report: bool = True,
) -> dict[str, Any]:
    """Shard a finished run's documents into ``<output>/shards`` and write ``<output>/report.html``.

    The shard summary (documents, token total, tokenizer, shard files) and the report path are added
    to ``result.manifest`` and to ``<output>/manifest.json``, and returned (``{"shards": ..., "report": ...}``).
    """
    finish: list[Finisher] = [
        Shards(tokenizer=tokenizer, tokens_per_shard=tokens_per_shard, token_ids=token_ids)
    ]
    if report:
        finish.append(Report())
    run_finishers(result, finish)
    return {f.key: result.manifest[f.key] for f in finish}
