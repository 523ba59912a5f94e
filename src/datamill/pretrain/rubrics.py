"""Rubric prompts a teacher scores documents with, and a lenient parser for its answers.

Presets: ``fineweb-edu`` (FineWeb-Edu's published 0-5 additive educational-value prompt, as
Llama-3-70B-Instruct was asked it for 450k pages) and ``toxicity`` (0-3, from civil to threats and
hate speech). Any other rubric is a file: a ``.txt`` prompt, or a YAML/JSON file with ``prompt`` and
optionally ``name``, ``min_score``, ``max_score``, ``score_label``. A prompt marks where the document
goes with ``<EXAMPLE>`` or ``{document}`` (else the document is appended after it).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from datamill.errors import ConfigError, InvalidOutput

__all__ = ["PRESETS", "Rubric", "load_rubric", "parse_score"]

_DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "rubrics")

TOXICITY_PROMPT = """Below is a text from the web. Rate how toxic it is: how rude, disrespectful, hateful, \
harassing, threatening or obscene it is, such that it could make someone leave a discussion or feel attacked, \
using the scale below.

- 0: not toxic: neutral or civil, even when it disagrees or discusses a sensitive topic.
- 1: mildly toxic: some rude words, mockery or profanity not aimed at a person or a group.
- 2: toxic: insults, profanity or contempt aimed at a person or a group.
- 3: severely toxic: hate speech against a group, threats of violence, or sexual harassment.

The text:
<EXAMPLE>

After examining the text:
- Briefly justify your score, up to 50 words, naming the categories that apply (insult, profanity, \
identity attack, threat, sexual).
- Conclude with the score using the format: "Toxicity score: <0-3>"
"""


@dataclass(frozen=True)
class Rubric:
    """A scoring prompt: where the document goes, the score range, and the label the score follows."""

    name: str
    prompt: str
    min_score: float = 0
    max_score: float = 5
    score_label: str = "score"

    def render(self, document: str) -> str:
        """The prompt with ``document`` in its place."""
        if "<EXAMPLE>" in self.prompt:
            return self.prompt.replace("<EXAMPLE>", document, 1)
        if "{document}" in self.prompt:
            return self.prompt.replace("{document}", document, 1)
        return f"{self.prompt.rstrip()}\n\n{document}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min_score": self.min_score,
            "max_score": self.max_score,
            "score_label": self.score_label,
        }


def _fineweb_edu() -> Rubric:
    with open(os.path.join(_DATA, "fineweb_edu.txt"), encoding="utf-8") as fh:
        prompt = fh.read()
    return Rubric("fineweb-edu", prompt, 0, 5, "Educational score")


PRESETS = ("fineweb-edu", "toxicity")


def load_rubric(rubric: str | Rubric) -> Rubric:
    """A preset by name (``fineweb-edu``, ``toxicity``) or a rubric file (``.txt`` prompt, or YAML/JSON)."""
    if isinstance(rubric, Rubric):
        return rubric
    if rubric == "fineweb-edu":
        return _fineweb_edu()
    if rubric == "toxicity":
        return Rubric("toxicity", TOXICITY_PROMPT, 0, 3, "Toxicity score")
    if not os.path.isfile(rubric):
        raise ConfigError(
            f"rubric must be a preset ({', '.join(PRESETS)}) or a rubric file, got {rubric!r}",
            params="rubric",
        )
    with open(rubric, encoding="utf-8") as fh:
        text = fh.read()
    name = os.path.splitext(os.path.basename(rubric))[0]
    if not rubric.endswith((".yaml", ".yml", ".json")):
        return Rubric(name, text)
    import yaml

    try:
        spec = json.loads(text) if rubric.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{rubric}: not valid {'JSON' if rubric.endswith('.json') else 'YAML'}: {exc}"
        ) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("prompt"), str):
        raise ConfigError(f"{rubric}: a rubric file needs a 'prompt' string")
    unknown = set(spec) - {"name", "prompt", "min_score", "max_score", "score_label"}
    if unknown:
        raise ConfigError(f"{rubric}: unknown rubric keys {sorted(unknown)}")
    out = Rubric(
        name=str(spec.get("name") or name),
        prompt=spec["prompt"],
        min_score=float(spec.get("min_score", 0)),
        max_score=float(spec.get("max_score", 5)),
        score_label=str(spec.get("score_label") or "score"),
    )
    if out.min_score >= out.max_score:
        raise ConfigError(f"{rubric}: min_score must be below max_score")
    return out


_NUMBER = r"(-?\d+(?:\.\d+)?)"


def parse_score(text: str, rubric: Rubric) -> float:
    """The score in a teacher's answer, leniently: ``<score_label>: N`` (any case, markdown bold, ``N/5``),
    else ``score: N``, else ``[[N]]``, else a number alone on the last line. The last match wins (a
    justification may quote other numbers first). InvalidOutput ``no_score`` or ``score_out_of_range``."""
    label = re.escape(rubric.score_label).replace(r"\ ", r"\s+")
    patterns = [
        rf"{label}\s*\**\s*[:=]?\s*\**\s*{_NUMBER}",
        rf"\bscore\s*\**\s*[:=]\s*\**\s*{_NUMBER}",
        rf"\[\[\s*{_NUMBER}\s*\]\]",
    ]
    value: float | None = None
    for pat in patterns:
        found = re.findall(pat, text, flags=re.IGNORECASE)
        if found:
            value = float(found[-1])
            break
    if value is None:
        lines = [ln.strip().strip("*.") for ln in text.strip().splitlines() if ln.strip()]
        if lines and re.fullmatch(_NUMBER + r"(?:\s*/\s*\d+)?", lines[-1]):
            value = float(re.match(_NUMBER, lines[-1]).group(1))  # type: ignore[union-attr]
    if value is None:
        raise InvalidOutput("no_score", f"expected '{rubric.score_label}: <number>'")
    if not rubric.min_score <= value <= rubric.max_score:
        raise InvalidOutput(
            "score_out_of_range", f"{value:g} not in {rubric.min_score:g}..{rubric.max_score:g}"
        )
    return int(value) if value == int(value) else value
