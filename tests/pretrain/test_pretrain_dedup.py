"""MinHash signatures and clusters, URL/MinHash dedup steps, PII, decontamination, language ID, shards."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from datamill.errors import ConfigError
from datamill.pretrain import (
    Decontaminate,
    LanguageFilter,
    MinhashDedup,
    PiiRedactor,
    UrlDedup,
    detect_language,
    luhn_ok,
    minhash_signatures,
    near_duplicate_clusters,
    normalize_url,
    redact_pii,
    shard_corpus,
)
from datamill.records import Document

RNG = random.Random(3)
VOCAB = [f"w{i}" for i in range(3000)]


def text(n: int = 200) -> str:
    return " ".join(RNG.choice(VOCAB) for _ in range(n))


def test_signature_agreement_estimates_jaccard():
    a = text(400).split()
    b = list(a)
    for i in range(0, 400, 20):
        b[i] = "changed"
    sh = lambda w: {" ".join(w[i : i + 5]) for i in range(len(w) - 4)}  # noqa: E731
    true = len(sh(a) & sh(b)) / len(sh(a) | sh(b))
    sig = minhash_signatures([" ".join(a), " ".join(b)], num_perm=1024)
    assert sig.shape == (2, 1024) and sig.dtype == np.uint32
    assert abs(float((sig[0] == sig[1]).mean()) - true) < 0.05


def test_signatures_are_deterministic_and_batch_independent():
    docs = [text(RNG.randint(1, 50)) for _ in range(30)] + ["", "one"]
    whole = minhash_signatures(docs)
    parts = np.vstack([minhash_signatures(docs[:7]), minhash_signatures(docs[7:])])
    assert np.array_equal(whole, parts)
    assert not np.array_equal(minhash_signatures(docs, seed=2), whole)
    char = minhash_signatures(["abcdef", "abcdeg"], unit="char", ngram=3, num_perm=256)
    assert 0.2 < float((char[0] == char[1]).mean()) < 0.9  # 2 of 4 trigrams shared -> J = 1/3


def test_near_duplicate_clusters_one_representative():
    base = [text() for _ in range(20)]
    near = base[3].split()
    near[10] = "edited"
    docs = base + [" ".join(near), base[7]]
    cid = near_duplicate_clusters(docs, threshold=0.7)
    assert cid[20] == 3 and cid[21] == 7
    assert sorted({c for c in cid}) == list(range(20))
    assert near_duplicate_clusters(docs, bands=16, rows=8)[20] == 3
    with pytest.raises(ConfigError):
        near_duplicate_clusters(docs, bands=20, rows=8)


def test_minhash_dedup_step_in_memory_keeps_first():
    a = text()
    b = a.replace(a.split()[5], "edit", 1)
    recs = [Document(id=str(i), text=t) for i, t in enumerate([a, text(), b, text()])]
    step = MinhashDedup(threshold=0.7)
    kept = list(step(recs))
    assert [r.id for r in kept] == ["0", "1", "3"]
    assert kept[0].metadata["minhash_cluster_size"] == 2
    assert step.stats.dropped == {"near_duplicate": 1}


def test_url_normalisation_and_dedup():
    assert normalize_url("HTTP://www.Example.com:80/a?utm_source=x&b=1#frag") == "https://example.com/a?b=1"
    recs = [
        Document(id=str(i), text="t", metadata={"url": u})
        for i, u in enumerate(
            ["http://a.example/x", "https://www.a.example/x?utm_medium=m", "http://a.example/y", None]
        )
    ]
    step = UrlDedup()
    assert [r.id for r in step(recs)] == ["0", "2", "3"]


def test_luhn_and_pii_counts():
    assert luhn_ok("4111 1111 1111 1111") and not luhn_ok("4111 1111 1111 1112")
    out, counts = redact_pii(
        "Mail ann.lee@example.org or +1 (555) 201-3344. Card 4111-1111-1111-1111, "
        "not 4111 1111 1111 1112. Hosts 203.0.113.42, 2001:db8::8a2e:370:7334, "
        "local 192.168.0.1, time 12:30:45."
    )
    assert counts == {"email": 1, "phone": 1, "credit_card": 1, "ip_address": 2}
    assert "<EMAIL>" in out and "<CREDIT_CARD>" in out and "4111 1111 1111 1112" in out
    assert "192.168.0.1" in out and "12:30:45" in out
    step = PiiRedactor(types=["email"])
    d = list(step([Document(id="1", text="x@y.org and 555-201-3344")]))[0]
    assert d.text == "<EMAIL> and 555-201-3344" and d.metadata["pii"] == {"email": 1}
    with pytest.raises(ConfigError, match="unknown PII"):
        PiiRedactor(types=["ssn"])


def test_decontaminate_13_grams(tmp_path):
    eval_path = tmp_path / "eval.jsonl"
    question = "what is the boiling point of water at sea level in degrees celsius on a normal day"
    eval_path.write_text(json.dumps({"question": question, "answer": "100"}) + "\n")
    step = Decontaminate(eval_sets=[str(eval_path)])
    leak = Document(
        id="a", text="Quiz: What is the boiling point of water at sea level in degrees Celsius? ok"
    )
    twelve = Document(
        id="b", text="the boiling point of water at sea level in degrees celsius on"
    )  # 12 words
    thirteen = Document(
        id="c", text="is the boiling point of water at sea level in degrees celsius on a"
    )  # 13
    kept = [r.id for r in step([leak, twelve, thirteen])]
    assert kept == ["b"]  # 'a' holds 13 consecutive eval words; 'c' is exactly one 13-gram
    assert step.stats.counters["eval_texts_too_short"] == 1  # the answer '100'
    flag = Decontaminate(eval_sets=[str(eval_path)], action="flag")
    assert [r.metadata.get("contaminated", False) for r in flag([leak, twelve])] == [True, False]


@pytest.mark.parametrize("engine", ["fasttext", "lingua"])
def test_language_filter_labels_and_drops(engine):
    step = LanguageFilter(languages=["en"], engine=engine)
    docs = [
        Document(id="en", text="The weather was lovely and we walked along the river all afternoon."),
        Document(
            id="de",
            text="Das Wetter war schön und wir sind den ganzen Nachmittag am Fluss spazieren gegangen.",
        ),
    ]
    kept = list(step(docs))
    assert [d.id for d in kept] == ["en"] and kept[0].metadata["language"] == "en"
    assert docs[1].metadata["language"] == "de"
    assert step.stats.dropped == {"wrong_language": 1}


def test_language_filter_fasttext_engine_shipped_model():
    step = LanguageFilter(languages=["en"])
    assert step.engine == "fasttext"  # the default
    docs = [
        Document(
            id="en", text="The weather was lovely and we walked along the river all afternoon.\nThen tea."
        ),
        Document(
            id="de",
            text="Das Wetter war schön und wir sind den ganzen Nachmittag am Fluss spazieren gegangen.",
        ),
        Document(id="low", text="ok 123"),
    ]
    kept = list(step(docs))
    assert [d.id for d in kept] == ["en"] and kept[0].metadata["language_score"] >= 0.65
    assert docs[1].metadata["language"] == "de"
    assert step.stats.dropped["wrong_language"] + step.stats.dropped["low_language_score"] == 2
    with pytest.raises(ConfigError):
        LanguageFilter(engine="cld3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no such fastText model"):
        list(LanguageFilter(engine="fasttext", model="/nonexistent/lid.bin")(docs[:1]))


def test_fasttext_score_is_fasttexts_top1_probability_as_finewebs_threshold_expects(monkeypatch):
    """The score is what fastText's lid.176 gives the text with newlines as spaces (datatrove's and
    FineWeb's input), top-1 probability; the model is the shipped file and nothing is downloaded."""
    import socket

    import fasttext

    from datamill.pretrain.langid import _shipped_fasttext_model

    def no_network(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("language ID tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    path = _shipped_fasttext_model()
    assert path.endswith("lid.176.ftz") and 800_000 < os.path.getsize(path) < 1_000_000
    model = fasttext.load_model(path)
    texts = [
        "The weather was lovely.\nWe walked along the river all afternoon.",
        "Il pleuvait sur la ville.\nNous sommes restés à la maison toute la journée.",
        "12 34 56 !!",
        "Das ist ein kurzer Satz.",
    ]
    for text in texts:
        labels, probs = model.predict(text.replace("\n", " "), k=-1)
        lang, score = detect_language(text)
        assert lang == labels[0].removeprefix("__label__")
        assert score == pytest.approx(min(1.0, float(probs[0])), abs=1e-6)
    # FineWeb keeps English at >= 0.65 of fastText's probability: the clear sentence passes, the noise not
    assert detect_language(texts[0])[1] >= 0.65 > detect_language(texts[2])[1]


def test_shard_corpus_fixed_size_and_token_ids(tmp_path):
    from datamill.io import write_records
    from datamill.tokens import get_tokenizer

    docs = [Document(id=str(i), text=f"Document number {i} says hello world.") for i in range(10)]
    write_records(docs, tmp_path / "in.jsonl")
    s = shard_corpus(str(tmp_path / "in.jsonl"), str(tmp_path / "out"), tokens_per_shard=30, token_ids=True)
    tok = get_tokenizer("cl100k_base")
    per_doc = [tok.count(d.text) for d in docs]
    assert s["tokens"] == sum(per_doc) and s["documents"] == 10
    assert all(sh["tokens"] <= 30 for sh in s["shards"]) and len(s["shards"]) > 1
    first = s["shards"][0]
    ids = np.fromfile(tmp_path / "out" / first["token_file"], dtype=np.uint32)
    idx = np.load(tmp_path / "out" / first["index_file"])
    assert idx[0] == 0 and idx[-1] == len(ids) and len(idx) == first["documents"] + 1
    assert tok.decode(ids[idx[0] : idx[1] - 1].tolist()) == docs[0].text  # each doc then end-of-text
    assert ids[idx[1] - 1] == s["eos_id"]
