"""Chat transcripts flattened into one text: parse them back into messages, and write ChatML.

Many public SFT sets ship conversations already rendered with a chat template's special tokens
(``{"text": "<|im_start|>user\\n...<|im_end|>..."}``) or as a plain transcript with speaker tags
(Anthropic HH-RLHF's ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``). :func:`parse_chat_text` recognises:

| template | looks like |
|---|---|
| ``chatml`` | ``<|im_start|>user\\nHi<|im_end|>`` (Qwen, OpenHermes, Dolphin) |
| ``llama3`` | ``<|start_header_id|>user<|end_header_id|>\\n\\nHi<|eot_id|>`` |
| ``llama2`` | ``<s>[INST] <<SYS>>\\nsys\\n<</SYS>>\\n\\nHi [/INST] Hello </s>`` (also Mistral's ``[INST]``) |
| ``gemma`` | ``<start_of_turn>user\\nHi<end_of_turn>`` (``model`` is the assistant) |
| ``zephyr`` | ``<|user|>\\nHi</s>\\n<|assistant|>\\nHello</s>`` (also Tulu, without ``</s>``) |
| ``hh`` | ``\\n\\nHuman: Hi\\n\\nAssistant: Hello`` (Anthropic HH-RLHF, Nectar prompts) |
| ``guanaco`` | ``### Human: Hi### Assistant: Hello`` (openassistant-guanaco) |

A transcript may end with an open assistant header (a generation prompt): it is dropped.
"""

from __future__ import annotations

import re

from datamill.records import Message

__all__ = ["TEMPLATES", "detect_template", "parse_chat_text", "parse_hh", "render_chatml"]

TEMPLATES = ("chatml", "llama3", "llama2", "gemma", "zephyr", "hh", "guanaco")

_CHATML = re.compile(r"<\|im_start\|>\s*(\w+)\n?(.*?)(?:<\|im_end\|>|(?=<\|im_start\|>)|\Z)", re.S)
_LLAMA3 = re.compile(
    r"<\|start_header_id\|>\s*(\w+)\s*<\|end_header_id\|>\n*(.*?)(?:<\|eot_id\|>|"
    r"(?=<\|start_header_id\|>)|\Z)",
    re.S,
)
_GEMMA = re.compile(r"<start_of_turn>\s*(\w+)\n?(.*?)(?:<end_of_turn>|(?=<start_of_turn>)|\Z)", re.S)
_ZEPHYR = re.compile(r"<\|(system|user|assistant)\|>\n?(.*?)(?=<\|(?:system|user|assistant)\|>|\Z)", re.S)
_HH = re.compile(r"(?:^|\n\n)(Human|Assistant):[ ]?")
_GUANACO = re.compile(r"(?:^|\s*)### (Human|Assistant):[ ]?")
_INST = re.compile(r"\[INST\](.*?)\[/INST\]", re.S)
_SYS = re.compile(r"<<SYS>>\n?(.*?)\n?<</SYS>>\s*", re.S)
_ROLE = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "model": "assistant",
    "gpt": "assistant",
    "tool": "tool",
    "ipython": "tool",
    "developer": "developer",
}


def detect_template(text: str) -> str | None:
    """The chat template ``text`` is rendered with, or None for plain text."""
    if "<|im_start|>" in text:
        return "chatml"
    if "<|start_header_id|>" in text:
        return "llama3"
    if "<start_of_turn>" in text:
        return "gemma"
    if "[INST]" in text and "[/INST]" in text:
        return "llama2"
    if re.search(r"<\|(user|assistant)\|>", text):
        return "zephyr"
    if re.search(r"(?:^|\n\n)Human:", text) and "\n\nAssistant:" in text:
        return "hh"
    if "### Human:" in text and "### Assistant:" in text:
        return "guanaco"
    return None


def _clean(s: str) -> str:
    return s.replace("<|end_of_text|>", "").replace("<|begin_of_text|>", "").strip()


def _tagged(pattern: re.Pattern[str], text: str) -> list[Message]:
    out = []
    for role, body in pattern.findall(text):
        r = _ROLE.get(role.lower())
        if r is None:
            raise ValueError(f"unknown role {role!r} in the chat text")
        out.append(Message(role=r, content=_clean(body.replace("</s>", ""))))
    return out


def _speakers(pattern: re.Pattern[str], text: str) -> list[Message]:
    parts = pattern.split(text)
    if parts[0].strip():
        raise ValueError(f"text before the first speaker tag: {parts[0][:60]!r}")
    return [
        Message(role="user" if who == "Human" else "assistant", content=body.strip())
        for who, body in zip(parts[1::2], parts[2::2], strict=True)
    ]


def parse_hh(text: str) -> list[Message]:
    """An Anthropic-style ``\\n\\nHuman: … \\n\\nAssistant: …`` transcript as messages (kept as written,
    including a final empty assistant turn: HH-RLHF has a few)."""
    return _speakers(_HH, text)


def _llama2(text: str) -> list[Message]:
    out: list[Message] = []
    pos = 0
    for m in _INST.finditer(text):
        before = _clean(text[pos : m.start()].replace("<s>", "").replace("</s>", ""))
        if before:
            if not out:
                raise ValueError(f"text before the first [INST]: {before[:60]!r}")
            out.append(Message(role="assistant", content=before))
        user = m.group(1)
        sys_m = _SYS.search(user)
        if sys_m:
            out.append(Message(role="system", content=sys_m.group(1).strip()))
            user = user[: sys_m.start()] + user[sys_m.end() :]
        out.append(Message(role="user", content=user.strip()))
        pos = m.end()
    tail = _clean(text[pos:].replace("<s>", "").replace("</s>", ""))
    if tail:
        out.append(Message(role="assistant", content=tail))
    return out


def parse_chat_text(text: str, template: str | None = None) -> tuple[str, list[Message]]:
    """``(template, messages)`` of a rendered chat; ValueError when no template fits or no turn is found."""
    tpl = template or detect_template(text)
    if tpl is None:
        raise ValueError(
            "no chat template recognised in the text (ChatML, Llama 2/3, Gemma, Zephyr, "
            "Human:/Assistant: transcripts)"
        )
    if tpl == "chatml":
        msgs = _tagged(_CHATML, text)
    elif tpl == "llama3":
        msgs = _tagged(_LLAMA3, text)
    elif tpl == "gemma":
        msgs = _tagged(_GEMMA, text)
    elif tpl == "zephyr":
        msgs = _tagged(_ZEPHYR, text)
    elif tpl == "llama2":
        msgs = _llama2(text)
    elif tpl == "hh":
        msgs = parse_hh(text)
    elif tpl == "guanaco":
        msgs = _speakers(_GUANACO, text)
    else:
        raise ValueError(f"template must be one of {', '.join(TEMPLATES)}, got {tpl!r}")
    while msgs and msgs[-1].role == "assistant" and not msgs[-1].content and tpl != "hh":
        msgs.pop()  # an open generation prompt
    if not msgs:
        raise ValueError(f"no turns found in the {tpl} text")
    return tpl, msgs


def render_chatml(messages: list[Message]) -> str:
    """Messages as ChatML text (what :func:`parse_chat_text` reads back)."""
    return "\n".join(f"<|im_start|>{m.role}\n{m.text}<|im_end|>" for m in messages)
