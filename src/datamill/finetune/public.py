"""The best-known public LLM datasets, in the shapes they are published in, as datamill records.

| format | dataset | one row |
|---|---|---|
| ``hh_rlhf`` | Anthropic/hh-rlhf | ``{"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": …}``: two transcripts sharing all but the last assistant turn |
| ``ultrafeedback`` | openbmb/UltraFeedback | ``{"instruction", "completions": [{"model", "response", "annotations": {aspect: {"Rating"}}, "overall_score"}]}`` |
| ``shp`` | stanfordnlp/SHP | ``{"history", "human_ref_A", "human_ref_B", "labels": 1 if A is preferred, "score_A", "score_B"}`` |
| ``helpsteer2`` | nvidia/HelpSteer2 | ``{"prompt", "response", "helpfulness", "correctness", "coherence", "complexity", "verbosity"}`` |
| ``helpsteer2_preference`` | nvidia/HelpSteer2 (preference) | ``{"prompt", "response_1", "response_2", "preference_strength": -3…3}`` (negative: response_1 better) |
| ``helpsteer3`` | nvidia/HelpSteer3 (preference) | ``{"context": [messages], "response1", "response2", "overall_preference": -3…3}`` (negative: response1 better) |
| ``chatbot_arena`` | lmsys/chatbot_arena_conversations | ``{"conversation_a": [messages], "conversation_b": [...], "winner": model_a/model_b/tie, "model_a", "model_b"}`` |
| ``pku_saferlhf`` | PKU-Alignment/PKU-SafeRLHF | ``{"prompt", "response_0", "response_1", "better_response_id", "safer_response_id"}`` |
| ``nectar`` | berkeley-nest/Nectar | ``{"prompt": "\\n\\nHuman: …\\n\\nAssistant:", "answers": [{"answer", "model", "rank"}]}`` (rank 1 is best) |
| ``dolly`` | databricks/databricks-dolly-15k | ``{"instruction", "context", "response", "category"}`` |
| ``oasst1`` | OpenAssistant/oasst1 | message rows ``{"message_id", "parent_id", "role": prompter/assistant, "text", "rank", "message_tree_id"}``, or tree rows ``{"message_tree_id", "prompt": {…, "replies": [...]}}`` |
| ``chat_text`` | ChatML / Llama / Gemma / Zephyr / guanaco rendered text | ``{"text": "<|im_start|>user\\n…"}`` |

Preference rows become :class:`~datamill.records.Preference` with the prompt as messages and the final
turns as ``chosen``/``rejected``. Rows with more than two rated answers (UltraFeedback, Nectar) keep all
of them best first in ``metadata["ranking"]`` (``response``, ``score``/``rank``, ``model``); the pair is
the best against the worst. Rated single answers (HelpSteer2) become Examples with
``metadata["scores"]``: :func:`datamill.finetune.grouped.pair_by_prompt` makes preferences of the answers to one prompt.
"""

from __future__ import annotations

import re
from typing import Any

from datamill.finetune.chat_text import parse_chat_text, parse_hh
from datamill.records import Example, Message, Preference, Provenance, Record

__all__ = [
    "GROUPED",
    "NO_PREFERENCE",
    "PUBLIC_FORMATS",
    "PUBLIC_PREFERENCE",
    "detect_public",
    "public_from_row",
]

PUBLIC_FORMATS = (
    "hh_rlhf",
    "ultrafeedback",
    "shp",
    "helpsteer2",
    "helpsteer2_preference",
    "helpsteer3",
    "chatbot_arena",
    "pku_saferlhf",
    "nectar",
    "dolly",
    "oasst1",
    "chat_text",
)
PUBLIC_PREFERENCE = (
    "hh_rlhf",
    "ultrafeedback",
    "shp",
    "helpsteer2_preference",
    "helpsteer3",
    "chatbot_arena",
    "pku_saferlhf",
    "nectar",
)
GROUPED = ("oasst1",)
# metadata key of a pair whose source states no preference (a tie): annotators can still judge it, but it is no
# training pair, so read_examples leaves it out (counted as "no_preference") unless asked to keep ties
NO_PREFERENCE = "no_preference"  # formats whose records span several rows (read whole, then assembled)
HELPSTEER_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
_UF_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
_EXTRA_ID = re.compile(r"\n?<extra_id_1>(User|Assistant)\n")
# keys each format consumes; every other top-level key is kept (see formats.from_row)
CONSUMED: dict[str, tuple[str, ...]] = {
    "hh_rlhf": ("chosen", "rejected"),
    "ultrafeedback": ("instruction", "completions", "models"),
    "shp": ("history", "human_ref_A", "human_ref_B", "labels", "score_A", "score_B"),
    "helpsteer2": ("prompt", "response", *HELPSTEER_ATTRIBUTES),
    "helpsteer2_preference": ("prompt", "response_1", "response_2", "preference_strength"),
    "helpsteer3": ("context", "response1", "response2", "overall_preference"),
    "chatbot_arena": ("conversation_a", "conversation_b", "winner"),
    "pku_saferlhf": ("prompt", "response_0", "response_1", "better_response_id"),
    "nectar": ("prompt", "answers"),
    "dolly": ("instruction", "context", "response"),
    "oasst1": (),
    "chat_text": ("text",),
}


def _is_hh(value: Any) -> bool:
    return (
        isinstance(value, str)
        and "\n\nAssistant:" in value
        and bool(re.match(r"\s*Human:", value.lstrip("\n")) or "\n\nHuman:" in value)
    )


# the keys that tell a shape apart, tried in order
_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (fmt, frozenset(keys))
    for fmt, keys in (
        ("shp", ("human_ref_A", "human_ref_B", "history")),
        ("helpsteer2_preference", ("response_1", "response_2", "preference_strength")),
        ("helpsteer3", ("response1", "response2", "overall_preference")),
        ("chatbot_arena", ("conversation_a", "conversation_b", "winner")),
        ("pku_saferlhf", ("response_0", "response_1", "better_response_id")),
        ("helpsteer2", ("prompt", "response", "helpfulness")),
    )
)


def detect_public(row: dict[str, Any]) -> str | None:
    """Which public shape a row has (before the generic fine-tuning formats are tried), or None."""
    keys = row.keys()
    if "chosen" in keys and "rejected" in keys and _is_hh(row["chosen"]) and _is_hh(row["rejected"]):
        return "hh_rlhf"
    if "completions" in keys and "instruction" in keys and isinstance(row["completions"], list):
        return "ultrafeedback"
    for fmt, needed in _SIGNATURES:
        if needed <= keys:
            return fmt
    if "answers" in keys and "prompt" in keys and isinstance(row["answers"], list):
        return "nectar"
    if "instruction" in keys and "response" in keys and "output" not in keys:
        return "dolly"
    if ("message_id" in keys and "role" in keys and "text" in keys and "parent_id" in keys) or (
        "message_tree_id" in keys and isinstance(row.get("prompt"), dict)
    ):
        return "oasst1"
    return None


def _str(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _prompt_msgs(text: str) -> list[Message]:
    """A prompt that may be a Human:/Assistant: transcript ending in an open ``Assistant:`` slot."""
    if _is_hh(text) or text.lstrip().startswith("Human:"):
        msgs = parse_hh(text)
        while msgs and msgs[-1].role == "assistant" and not msgs[-1].text.strip():
            msgs.pop()
        if msgs:
            return msgs
    return [Message(role="user", content=text)]


def _helpsteer_prompt(text: str) -> list[Message]:
    """HelpSteer2's multi-turn prompts: turns joined by ``<extra_id_1>User`` / ``<extra_id_1>Assistant`` lines."""
    parts = _EXTRA_ID.split(text)
    msgs = [Message(role="user", content=parts[0].strip())]
    for who, body in zip(parts[1::2], parts[2::2], strict=True):
        msgs.append(Message(role="user" if who == "User" else "assistant", content=body.strip()))
    return msgs


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None  # "N/A" ratings


def _ranked_pair(
    prompt: list[Message],
    ranking: list[dict[str, Any]],
    what: str,
    meta: dict[str, Any],
    prov: Provenance,
    rid: str,
) -> Preference:
    """Best vs worst of ``ranking`` (best first); ValueError when they tie or there are fewer than two."""
    if len(ranking) < 2:
        raise ValueError(f"{what}: {len(ranking)} answer(s); a preference needs at least 2")
    best, worst = ranking[0], ranking[-1]
    key = "score" if "score" in best else "rank"
    if best.get(key) == worst.get(key):
        meta[NO_PREFERENCE] = f"all {len(ranking)} answers tie ({key} {best.get(key):g})"
    meta["ranking"] = ranking
    scores = {"chosen": best[key], "rejected": worst[key]} if key == "score" else {}
    return Preference(
        id=rid,
        prompt=prompt,
        chosen=[Message(role="assistant", content=best["response"])],
        rejected=[Message(role="assistant", content=worst["response"])],
        scores=scores,
        metadata=meta,
        provenance=prov,
    )


def _hh_rlhf(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    chosen, rejected = parse_hh(_str(row, "chosen")), parse_hh(_str(row, "rejected"))
    k = 0
    while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
        k += 1
    while k > 0 and chosen[k - 1].role == "assistant":  # the prompt ends with a human turn
        k -= 1
    if k == 0:
        raise ValueError("chosen and rejected share no human turn to use as the prompt")
    c, r = chosen[k:], rejected[k:]
    if not c or not r:
        raise ValueError("chosen or rejected has no assistant turn after the shared conversation")
    if len(c) > 1 or len(r) > 1:
        meta["multi_turn_completion"] = True  # the two transcripts diverge before their last turn
    return Preference(id=rid, prompt=chosen[:k], chosen=c, rejected=r, metadata=meta, provenance=prov)


def _ultrafeedback(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    ranking = []
    for i, comp in enumerate(row["completions"]):
        if not isinstance(comp, dict) or not isinstance(comp.get("response"), str):
            raise ValueError(f"completions[{i}] must be an object with a 'response' string")
        aspects: dict[str, float] = {}
        for aspect, ann in (comp.get("annotations") or {}).items():
            ann = ann[0] if isinstance(ann, list) and ann else ann
            value = _number(ann.get("Rating") if isinstance(ann, dict) else ann)
            if value is not None:
                aspects[aspect] = value
        score = (
            sum(aspects.values()) / len(aspects)
            if aspects
            else _number(comp.get("fine-grained_score"))
            if comp.get("fine-grained_score") is not None
            else _number(comp.get("overall_score"))
        )
        if score is None:
            continue  # an unrated completion cannot be ranked
        ranking.append(
            {
                "response": comp["response"],
                "score": score,
                "model": comp.get("model"),
                "aspects": aspects,
                "overall_score": _number(comp.get("overall_score")),
            }
        )
    ranking.sort(key=lambda x: -x["score"])
    return _ranked_pair(
        [Message(role="user", content=_str(row, "instruction"))], ranking, "ultrafeedback", meta, prov, rid
    )


def _shp(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    a, b, label = _str(row, "human_ref_A"), _str(row, "human_ref_B"), row.get("labels")
    if label not in (0, 1):
        raise ValueError(f"'labels' must be 1 (A preferred) or 0 (B preferred), got {label!r}")
    sa, sb = row.get("score_A"), row.get("score_B")
    chosen, rejected = (a, b) if label == 1 else (b, a)
    if not rid and all(isinstance(row.get(k), str) for k in ("post_id", "c_root_id_A", "c_root_id_B")):
        rid = f"{row['post_id']}:{row['c_root_id_A']}:{row['c_root_id_B']}"  # one post has many comment pairs
    scores = (
        {"chosen": float(sa if label == 1 else sb), "rejected": float(sb if label == 1 else sa)}
        if (isinstance(sa, (int, float)) and isinstance(sb, (int, float)))
        else {}
    )
    return Preference(
        id=rid,
        prompt=[Message(role="user", content=_str(row, "history"))],
        chosen=[Message(role="assistant", content=chosen)],
        rejected=[Message(role="assistant", content=rejected)],
        scores=scores,
        metadata=meta,
        provenance=prov,
    )


def _helpsteer2(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Example:
    scores = {}
    for attr in HELPSTEER_ATTRIBUTES:
        if attr in row:
            value = _number(row[attr])
            if value is None:
                raise ValueError(f"{attr!r} must be a number, got {row[attr]!r}")
            scores[attr] = value
    meta["scores"] = scores
    msgs = _helpsteer_prompt(_str(row, "prompt")) + [Message(role="assistant", content=_str(row, "response"))]
    return Example(id=rid, messages=msgs, metadata=meta, provenance=prov)


def _strength_pair(
    row: dict[str, Any],
    key: str,
    first: str,
    second: str,
    prompt: list[Message],
    meta: dict[str, Any],
    prov: Provenance,
    rid: str,
) -> Preference:
    """Two responses and a signed strength (HelpSteer2/3: negative means the first is better, 0 is a tie)."""
    strength = _number(row.get(key))
    if strength is None:
        raise ValueError(f"{key!r} must be a number, got {row.get(key)!r}")
    if strength == 0:
        meta[NO_PREFERENCE] = f"{key} 0: the two responses are rated equal"
    r1, r2 = _str(row, first), _str(row, second)
    chosen, rejected = (r1, r2) if strength < 0 else (r2, r1)
    meta["preference_strength"] = strength
    return Preference(
        id=rid,
        prompt=prompt,
        chosen=[Message(role="assistant", content=chosen)],
        rejected=[Message(role="assistant", content=rejected)],
        metadata=meta,
        provenance=prov,
    )


def _helpsteer2_preference(
    row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str
) -> Preference:
    return _strength_pair(
        row,
        "preference_strength",
        "response_1",
        "response_2",
        _helpsteer_prompt(_str(row, "prompt")),
        meta,
        prov,
        rid,
    )


def _messages(value: Any, what: str) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what!r} must be a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError(f"{what}[{i}] must be an object with 'role' and 'content'")
        out.append(Message(role=m["role"], content=m.get("content")))
    return out


def _helpsteer3(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    return _strength_pair(
        row,
        "overall_preference",
        "response1",
        "response2",
        _messages(row.get("context"), "context"),
        meta,
        prov,
        rid,
    )


def _chatbot_arena(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    a, b = (
        _messages(row.get("conversation_a"), "conversation_a"),
        _messages(row.get("conversation_b"), "conversation_b"),
    )
    winner = row.get("winner")
    if isinstance(winner, str) and winner.startswith("tie"):
        meta[NO_PREFERENCE] = f"winner {winner!r}"
    elif winner not in ("model_a", "model_b"):
        raise ValueError(f"'winner' must be model_a, model_b or a tie, got {winner!r}")
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k] and a[k].role != "assistant":
        k += 1
    if k == 0:
        raise ValueError("the two conversations share no opening user turn")
    chosen, rejected = (a, b) if winner == "model_a" else (b, a)
    if len(chosen) - k > 1 or len(rejected) - k > 1:
        meta["multi_turn_completion"] = True
    meta["winner_model"] = row.get(winner)
    rid = rid or str(row.get("question_id") or "")
    return Preference(
        id=rid, prompt=a[:k], chosen=chosen[k:], rejected=rejected[k:], metadata=meta, provenance=prov
    )


def _pku_saferlhf(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    better = row.get("better_response_id")
    if better not in (0, 1):
        raise ValueError(f"'better_response_id' must be 0 or 1, got {better!r}")
    answers = [_str(row, "response_0"), _str(row, "response_1")]
    return Preference(
        id=rid,
        prompt=[Message(role="user", content=_str(row, "prompt"))],
        chosen=[Message(role="assistant", content=answers[better])],
        rejected=[Message(role="assistant", content=answers[1 - better])],
        metadata=meta,
        provenance=prov,
    )


def _nectar(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Preference:
    ranking = []
    for i, ans in enumerate(row["answers"]):
        if (
            not isinstance(ans, dict)
            or not isinstance(ans.get("answer"), str)
            or _number(ans.get("rank")) is None
        ):
            raise ValueError(f"answers[{i}] must be an object with an 'answer' string and a numeric 'rank'")
        ranking.append({"response": ans["answer"], "rank": _number(ans["rank"]), "model": ans.get("model")})
    ranking.sort(key=lambda x: x["rank"])
    return _ranked_pair(_prompt_msgs(_str(row, "prompt")), ranking, "nectar", meta, prov, rid)


def _dolly(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Example:
    instruction, response = _str(row, "instruction"), _str(row, "response")
    context = row.get("context") or ""
    if not isinstance(context, str):
        raise ValueError(f"'context' must be a string, got {type(context).__name__}")
    user = instruction + ("\n\n" + context if context else "")
    meta["alpaca"] = {"instruction": instruction, "input": context}  # written back as alpaca without loss
    return Example(
        id=rid,
        messages=[Message(role="user", content=user), Message(role="assistant", content=response)],
        metadata=meta,
        provenance=prov,
    )


def _chat_text(row: dict[str, Any], meta: dict[str, Any], prov: Provenance, rid: str) -> Example:
    template, msgs = parse_chat_text(_str(row, "text"))
    meta["template"] = template
    return Example(id=rid, messages=msgs, metadata=meta, provenance=prov)


_PARSERS = {
    "hh_rlhf": _hh_rlhf,
    "ultrafeedback": _ultrafeedback,
    "shp": _shp,
    "helpsteer2": _helpsteer2,
    "helpsteer2_preference": _helpsteer2_preference,
    "helpsteer3": _helpsteer3,
    "chatbot_arena": _chatbot_arena,
    "pku_saferlhf": _pku_saferlhf,
    "nectar": _nectar,
    "dolly": _dolly,
    "chat_text": _chat_text,
}


def public_from_row(
    row: dict[str, Any], fmt: str, meta: dict[str, Any], prov: Provenance, rid: str
) -> Record:
    """One row of a public format (not a grouped one) as a record; ValueError says why it does not fit."""
    return _PARSERS[fmt](row, meta, prov, rid)
