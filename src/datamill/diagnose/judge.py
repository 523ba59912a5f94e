"""The judge detector over any datamill.synthetic teacher: batched, cached, resumable and costed."""

from __future__ import annotations

from typing import Any

from datamill.diagnose.contradictions import _JUDGE_PROMPT
from datamill.errors import InvalidOutput

__all__ = ["TeacherJudge"]


def _verdict(text: str) -> bool:
    word = text.strip().lower().lstrip("*\"' ").split(maxsplit=1)
    if word and word[0].rstrip(".,!:") in ("yes", "no"):
        return word[0].startswith("yes")
    raise InvalidOutput("no_verdict", "expected an answer starting with yes or no")


class TeacherJudge:
    """``judge(a, b) -> bool`` asking a teacher whether two statements contradict each other.

    Every pair goes through the :class:`~datamill.synthetic.Runner` of the teacher: answers are cached
    (a rerun costs nothing and resumes where a failed run stopped), unusable answers are re-asked,
    tokens and cost are counted in :attr:`usage`. :meth:`many` judges a batch concurrently.

    Args:
        teacher: a :class:`~datamill.synthetic.Teacher`, a spec dict, a base URL or a local model folder.
        model: the model name for a URL teacher.
        cache: SQLite cache path; ``"default"`` is datamill.synthetic's; None disables caching.
        prices: ``{model_prefix: [input, output]}`` USD per 1M tokens.
        progress: show the runner's progress bar.
    """

    def __init__(
        self,
        teacher: Any,
        *,
        model: str | None = None,
        cache: str | None = "default",
        prices: dict[str, Any] | None = None,
        progress: bool = False,
    ) -> None:
        from datamill.synthetic.cache import default_cache_path
        from datamill.synthetic.engine import Runner
        from datamill.synthetic.teachers import make_teacher

        self.teacher = make_teacher(teacher, model=model)
        path = default_cache_path() if cache == "default" else cache
        self.runner = Runner(self.teacher, cache=path, prices=prices, progress=progress)

    @property
    def usage(self) -> Any:
        """Requests, cache hits, tokens and cost so far (:class:`~datamill.synthetic.Usage`)."""
        return self.runner.usage

    def many(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Verdicts for ``pairs`` (a pair whose answer stayed unusable counts as no contradiction)."""
        from datamill.synthetic.engine import Job

        jobs = [
            Job(
                messages=[{"role": "user", "content": _JUDGE_PROMPT.format(a=a, b=b)}],
                params={"temperature": 0.0, "max_tokens": 8},
                parse=_verdict,
            )
            for a, b in pairs
        ]
        results = self.runner.run(jobs)
        self.runner.check_failures()
        self.runner.close()
        return [bool(r.ok and r.value) for r in results]

    def __call__(self, a: str, b: str) -> bool:
        return self.many([(a, b)])[0]
