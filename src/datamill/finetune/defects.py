"""The content rules of :func:`datamill.finetune.clean`: what an example's instruction and output show.

An example is split into its instruction (the user turns and the system prompt) and its output (the
final assistant turn); :func:`find_defects` names each rule the pair breaks (``empty_output``,
``refusal``, ``merged_instruction``, ``truncated_output``, ``hallucinated_url``, ``hallucinated_image``,
``wrong_math``) with a short reason.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable

from datamill.errors import ConfigError
from datamill.records import Example, Preference, Record

__all__ = ["find_defects", "rejected_text", "split_example"]

_PLACEHOLDER = re.compile(r"^\s*(<\s*no\s*output\s*>|<\s*noinput\s*>|n/?a|none|null|-+|\.+|\?+)\s*$", re.I)
_REFUSAL = re.compile(
    r"\b(as an? (ai|artificial intelligence)( language)? model|as a language model|i am an ai\b|i'm an ai\b|"
    r"i('m| am) (sorry|afraid),? (but )?i (can(no|')t|am unable|'m unable|do not|don't)|"
    r"i (can(no|')t|am unable to|'m unable to|am not able to) (provide|fulfill|help(?! but)|assist|answer|comply|"
    r"create|generate|browse|access|perform)|"
    r"i do(n't| not) have (the ability|personal (opinions|experiences|feelings)|access to)|"
    r"my (knowledge|training) (cutoff|data))",
    re.I,
)
_MERGED = re.compile(r"(^|\n)\s*(output|answer|response|solution)\s*:\s*\S", re.I)
_DANGLING = re.compile(
    r"(\b(the|a|an|and|or|of|to|with|in|for|that|which|is|are|but|because|by|as|from|on|at)"
    r"|[,:(\[{\-–]|\.\.\.|…)\s*$",
    re.I,
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s)>\]\"']+", re.I)
_QUOTED = re.compile(r"(['\"])(.*?)\1")
_IMAGE = re.compile(
    r"!\[[^\]]*\]\([^)]*\)|<img\b|\[image[^\]]*\]|\b(here is|here's|see|below is|attached is) "
    r"(the |an? )?(image|picture|photo|drawing|diagram)\b",
    re.I,
)
_IMAGE_IN = re.compile(r"\b(image|picture|photo|drawing|diagram|draw|sketch)\b|<img|!\[", re.I)
_ARITH = re.compile(
    r"(?<![\w.])(-?\d+(?:\.\d+)?(?:\s*[-+*/×x÷]\s*-?\d+(?:\.\d+)?)+)\s*=\s*(-?\d+(?:,\d{3})*(?:\.\d+)?)(?!\w)(?!\.\d)"
)
_QUESTION_ARITH = re.compile(
    r"^\s*(?:what is|what's|calculate|compute|evaluate|solve)?\s*:?\s*"
    r"(-?\d+(?:\.\d+)?(?:\s*[-+*/×x÷]\s*-?\d+(?:\.\d+)?)+)\s*[?=.]?\s*$",
    re.I,
)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_OPS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _eval_arith(expr: str) -> float | None:
    """Evaluate + - * / arithmetic safely (no names, no calls); None when it is not plain arithmetic."""
    expr = expr.replace("×", "*").replace("÷", "/").replace("x", "*")

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.operand))
        raise ValueError("not arithmetic")

    try:
        return ev(ast.parse(expr, mode="eval").body)
    except (ValueError, SyntaxError, ZeroDivisionError, RecursionError):
        return None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a)) or round(a, 2) == round(b, 2)


def split_example(rec: Record) -> tuple[str, str]:
    """(instruction, output) of an example: user/system turns, and the final assistant turn."""
    if isinstance(rec, Example) and rec.messages:
        last = max((i for i, m in enumerate(rec.messages) if m.role == "assistant"), default=None)
        out = rec.messages[last].text if last is not None else (rec.output or "")
        ins = "\n".join(m.text for m in rec.messages[:last] if m.role in ("system", "user", "developer"))
        return ins, out
    if isinstance(rec, Example):
        return rec.input or "", rec.output or ""
    if isinstance(rec, Preference):  # a pair is judged by its prompt and its chosen answer
        prompt = (
            rec.prompt
            if isinstance(rec.prompt, str)
            else "\n".join(m.text for m in rec.prompt if m.role in ("system", "user", "developer"))
        )
        return prompt, rec.chosen if isinstance(rec.chosen, str) else "\n".join(m.text for m in rec.chosen)
    raise ConfigError(f"cleaning works on examples and preference pairs, got a {rec.type_name} record")


def rejected_text(rec: Record) -> str:
    """The rejected answer of a preference pair as text; empty for anything else."""
    if not isinstance(rec, Preference):
        return ""
    return rec.rejected if isinstance(rec.rejected, str) else "\n".join(m.text for m in rec.rejected)


def _math_problem(instruction: str, output: str) -> str | None:
    for m in _ARITH.finditer(output):
        value = _eval_arith(m.group(1))
        stated = float(m.group(2).replace(",", ""))
        if value is not None and not _close(value, stated):
            return f"{m.group(1)} = {m.group(2)} (should be {value:g})"
    q = _QUESTION_ARITH.match(instruction.strip().splitlines()[-1] if instruction.strip() else "")
    if q:
        value = _eval_arith(q.group(1))
        nums = _NUMBER.findall(output)
        if (
            value is not None
            and nums
            and not any(_close(value, float(n.replace(",", ""))) for n in nums[-3:])
        ):
            return f"{q.group(1)} is {value:g}, the answer says {nums[-1]}"
    return None


def find_defects(instruction: str, output: str) -> list[tuple[str, str]]:
    """The content rules an (instruction, output) pair breaks, with a short reason each."""
    found: list[tuple[str, str]] = []
    if not output.strip() or _PLACEHOLDER.match(output):
        return [("empty_output", f"output is {output.strip()[:20]!r}")]
    if m := _REFUSAL.search(output):
        found.append(("refusal", m.group(0)))
    stripped = output.strip()
    if _MERGED.search(instruction) or (len(stripped) >= 12 and stripped in instruction):
        found.append(("merged_instruction", "the instruction already contains the answer"))
    if (
        len(stripped) >= 40
        and not stripped.endswith(("```", "}", "]", ")"))
        and (m := _DANGLING.search(stripped))
    ):
        found.append(("truncated_output", f"ends with {m.group(0).strip()!r}"))
    quoted = {q.group(2) for q in _QUOTED.finditer(output)}  # string literals in code are not citations
    urls = [u.rstrip(".,;") for u in _URL.findall(output) if not any(u in q for q in quoted)]
    new_urls = [u for u in urls if u not in instruction]
    if new_urls:
        found.append(("hallucinated_url", new_urls[0]))
    if _IMAGE.search(output) and not _IMAGE_IN.search(instruction):
        found.append(("hallucinated_image", _IMAGE.search(output).group(0)))  # type: ignore[union-attr]
    if problem := _math_problem(instruction, output):
        found.append(("wrong_math", problem))
    return found
