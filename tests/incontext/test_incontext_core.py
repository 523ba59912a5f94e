import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.errors import ConfigError, InputError
from datamill.incontext import (
    FewShotSelector,
    build_index,
    chunk_document,
    flag_contaminated,
    load_index,
    pack_prompt,
    retrieve_and_pack,
    score_run,
)
from datamill.records import Document, Example, Provenance

MD = """# Datamill guide
Datamill cleans data for language models.

## Install
Run pip install datamill. It needs Python 3.11.

## Use
### Fine-tuning
Validate your file before you pay for training. Then clean it.

### Retrieval
Build an index and search it. Pack the best passages into a prompt.
"""


@pytest.mark.parametrize("method", ["tokens", "sentences", "paragraphs", "markdown", "code"])
def test_chunks_point_back_into_their_document(method):
    doc = Document(
        text=MD * 3,
        metadata={"url": "https://x/guide", "title": "Guide"},
        provenance=Provenance(source="site.warc.gz", offset=77),
    )
    chunks = chunk_document(doc, method=method, max_tokens=24, overlap=4)
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert c.text == doc.text[c.metadata["start"] : c.metadata["end"]]
        assert c.metadata["doc_id"] == doc.id and c.metadata["chunk_index"] == i
        assert c.provenance.parents == [doc.id] and c.provenance.offset == 77
        assert c.metadata["url"] == "https://x/guide"
    covered = set()
    for c in chunks:
        covered |= set(range(c.metadata["start"], c.metadata["end"]))
    assert {i for i, ch in enumerate(doc.text) if not ch.isspace()} <= covered


def test_markdown_chunks_keep_heading_paths():
    chunks = chunk_document(Document(text=MD), method="markdown", max_tokens=64)
    paths = [tuple(c.metadata["heading_path"]) for c in chunks]
    assert ("Datamill guide", "Use", "Retrieval") in paths
    assert ("Datamill guide", "Install") in paths


def test_html_chunks_drop_boilerplate():
    html = (
        "<html><head><script>alert(1)</script></head><body><nav>Home | About</nav><h1>Refunds</h1>"
        "<p>You can return items within 30 days.</p><h2>Exceptions</h2><p>Sale items are final.</p>"
        "<footer>(c) shop</footer></body></html>"
    )
    chunks = chunk_document(Document(text=html), method="html", max_tokens=64)
    text = " ".join(c.text for c in chunks)
    assert "30 days" in text and "alert" not in text and "Home | About" not in text
    assert chunks[-1].metadata["heading_path"] == ["Refunds", "Exceptions"]


def test_bad_chunk_parameters_and_empty_documents():
    with pytest.raises(ConfigError, match="method must be one of"):
        chunk_document(Document(text="x"), method="words")
    with pytest.raises(ConfigError, match="overlap must be"):
        chunk_document(Document(text="x"), max_tokens=16, overlap=16)
    assert chunk_document(Document(text="   \n  ")) == []


DOCS = [
    Document(text=t, metadata={"lang": lang})
    for t, lang in [
        ("The cat sat on the warm mat all afternoon.", "en"),
        ("Dogs love to chase cats around the park.", "en"),
        ("Install the package with pip, then run the quickstart.", "en"),
        ("Paris is the capital and largest city of France.", "en"),
        ("Le chat dort sur le tapis.", "fr"),
    ]
]


@pytest.mark.parametrize("kind", ["bm25", "dense", "hybrid"])
def test_index_save_load_search_filter_and_add(tmp_path, kind):
    build_index(DOCS, tmp_path / "ix", kind=kind)
    idx = load_index(tmp_path / "ix")
    assert idx.search("What is the capital of France?", k=1)[0].chunk.text.startswith("Paris")
    hits = idx.search("le chat", k=5, filters={"lang": "fr"})
    assert hits and all(h.chunk.metadata["lang"] == "fr" for h in hits)
    idx.add([Document(text="Berlin is the capital of Germany.", metadata={"lang": "en"})])
    assert idx.search("capital of Germany", k=1)[0].chunk.text.startswith("Berlin")
    idx.save(tmp_path / "ix2")
    assert len(load_index(tmp_path / "ix2")) == 6


def test_index_folder_errors(tmp_path):
    with pytest.raises(InputError, match="not a datamill index folder"):
        load_index(tmp_path)
    build_index(DOCS, tmp_path / "ix", kind="bm25")
    meta = json.loads((tmp_path / "ix" / "index.json").read_text())
    meta["datamill_index"] = 99
    (tmp_path / "ix" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="index format 99 .* rebuild the index"):
        load_index(tmp_path / "ix")
    with pytest.raises(ConfigError, match="the query is empty"):
        build_index(DOCS, kind="bm25").search("  ")


def test_long_queries_are_truncated_by_the_model_not_an_error():
    idx = build_index(DOCS, kind="dense")
    assert idx.search("capital of France " * 2000, k=1)[0].chunk.text.startswith("Paris")


def test_bm25_matches_bm25s_directly():
    import bm25s
    import Stemmer

    texts = [d.text for d in DOCS]
    ref = bm25s.BM25()
    stem = Stemmer.Stemmer("english")
    ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
    q = bm25s.tokenize(["cats in the park"], stopwords="en", stemmer=stem, show_progress=False)
    docs, scores = ref.retrieve(q, k=2, show_progress=False)
    ours = build_index(DOCS, kind="bm25").search("cats in the park", k=2)
    assert [h.chunk.text for h in ours] == [texts[i] for i in docs[0]]
    assert [round(h.score, 5) for h in ours] == [round(float(s), 5) for s in scores[0]]


POOL = [
    Example(input=f"Review: {w}. Sentiment?", output=lab, label=lab)
    for w, lab in [
        ("great phone, love it", "positive"),
        ("terrible battery", "negative"),
        ("works fine", "positive"),
        ("broke after a day", "negative"),
        ("superb camera", "positive"),
        ("awful screen", "negative"),
        ("decent value", "positive"),
        ("returned it", "negative"),
    ]
]


@pytest.mark.parametrize("strategy", ["random", "knn", "mmr", "balanced"])
def test_selection_is_deterministic(strategy):
    sel = FewShotSelector(POOL)
    a = sel.select("Review: love the camera. Sentiment?", 4, strategy=strategy, seed=3)
    b = FewShotSelector(POOL).select("Review: love the camera. Sentiment?", 4, strategy=strategy, seed=3)
    assert [e.id for e in a] == [e.id for e in b] and len(a) == 4
    if strategy == "balanced":
        assert sorted(e.label for e in a) == ["negative", "negative", "positive", "positive"]
    if strategy == "knn":
        assert a[0].input.startswith("Review: superb camera")


def test_length_aware_selection_respects_the_budget():
    sel = FewShotSelector(POOL)
    chosen = sel.select("Review: nice. Sentiment?", 8, strategy="length", token_budget=30)
    assert sum(sel.lengths[POOL.index(e)] for e in chosen) <= 30 and chosen


passage = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    question=st.text(min_size=1, max_size=80),
    passages=st.lists(passage, max_size=8),
    n_shots=st.integers(0, 4),
    budget=st.integers(40, 600),
    template=st.sampled_from(["plain", "chat"]),
    priority=st.sampled_from(["passages", "examples"]),
)
def test_packing_never_exceeds_the_budget(question, passages, n_shots, budget, template, priority):
    try:
        packed = pack_prompt(
            question,
            system="Answer briefly.",
            examples=POOL[:n_shots],
            passages=passages,
            budget=budget,
            template=template,
            priority=priority,
        )
    except ConfigError as exc:
        assert "alone take" in str(exc)
        return
    assert packed.tokens <= budget
    from datamill.tokens import get_tokenizer

    tok = get_tokenizer()
    if template == "plain":
        assert tok.count(packed.text) == packed.tokens
    assert len(packed.included) + len(packed.dropped) == len(passages) + n_shots


def test_retrieve_and_pack_gives_length_chosen_examples_half_the_budget(tmp_path):
    build_index(DOCS, tmp_path / "ix", kind="bm25")
    sel = FewShotSelector(POOL)
    budget = 2 * sum(sel.lengths[:4])  # all eight examples would fit the whole budget, four fit half of it
    packed = retrieve_and_pack(
        tmp_path / "ix",
        "Where do cats sleep?",
        k=2,
        pool=POOL,
        shots=8,
        strategy="length",
        budget=budget,
        priority="examples",
    )
    shots = [i for i in packed.included if i["kind"] == "example"]
    assert 0 < sum(sel.lengths[[e.id for e in POOL].index(i["id"])] for i in shots) <= budget // 2
    assert len(shots) < 8 and "passage" in [i["kind"] for i in packed.included]
    assert (
        retrieve_and_pack(load_index(tmp_path / "ix"), "Where do cats sleep?", k=2).to_dict()
        == pack_prompt(
            "Where do cats sleep?",
            passages=[h.chunk for h in load_index(tmp_path / "ix").search("Where do cats sleep?", 2)],
            budget=2048,
        ).to_dict()
    )


def test_cli_pack_takes_a_preference_set_as_its_examples(tmp_path):
    """A preference pair is its prompt and chosen answer, in `pack --examples` as in `select`."""
    from typer.testing import CliRunner

    from datamill.cli.main import app

    build_index(DOCS, tmp_path / "ix", kind="bm25")
    pool = tmp_path / "prefs.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"prompt": f"Is {w} good?", "chosen": "Yes.", "rejected": "No."}) + "\n"
            for w in ("tea", "rain", "snow")
        )
    )
    res = CliRunner().invoke(
        app,
        [
            "incontext",
            "pack",
            str(tmp_path / "ix"),
            "Where do cats sleep?",
            "--examples",
            str(pool),
            "--shots",
            "2",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert [i["kind"] for i in json.loads(res.output)["included"]].count("example") == 2


def test_packing_reports_and_dedups():
    packed = pack_prompt(
        "Where is Paris?", passages=["Paris is in France.", "Paris is in France!", "x " * 3000], budget=100
    )
    reasons = [d["reason"] for d in packed.dropped]
    assert reasons == ["near-duplicate of a packed passage", "over budget"]
    assert "[1] Paris is in France." in packed.text


def test_metrics_match_hand_computed_values():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 2, "d": 1}}
    run = {"q1": ["x", "a", "y", "b"], "q2": ["d", "c"]}
    mean, per = score_run(run, qrels, ks=(1, 2, 10))
    assert per["q1"]["recall@1"] == 0 and per["q1"]["recall@2"] == 0.5 and per["q1"]["mrr@10"] == 0.5
    assert per["q1"]["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    import math

    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert per["q2"]["ndcg@10"] == pytest.approx(dcg / idcg)
    assert mean["recall@10"] == 1.0


def test_contaminated_chunks_are_flagged():
    chunks = [
        Document(text="The answer to the quiz is forty two, as everyone who read the guide knows."),
        Document(text="Unrelated passage about gardening and tomatoes."),
    ]
    flagged = flag_contaminated(chunks, ["quiz is forty two"], ngram=13)
    assert list(flagged) == [chunks[0].id]


def test_index_load_is_fast(tmp_path):
    import time

    docs = [Document(text=f"document {i} about topic {i % 97} and subject {i % 13}") for i in range(5000)]
    build_index(docs, tmp_path / "ix", kind="bm25")
    t0 = time.perf_counter()
    idx = load_index(tmp_path / "ix")
    assert len(idx) == 5000 and time.perf_counter() - t0 < 5  # generous: the benchmark measures 100k
    assert os.path.exists(tmp_path / "ix" / "bm25")


def test_cli_chunk_quarantines_malformed_lines(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "docs.jsonl"
    src.write_text(
        json.dumps({"text": "Tides rise twice a day. The moon pulls the sea."})
        + "\n{broken\n"
        + json.dumps({"text": "Rainbows need sun and rain."})
        + "\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "datamill.cli.main",
        "incontext",
        "chunk",
        str(src),
        "-o",
        str(tmp_path / "c.jsonl"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "docs.jsonl:2:" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*cmd, "--on-error", "quarantine"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 2
    (entry,) = [json.loads(x) for x in (tmp_path / "c.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert entry["line"] == 2 and entry["kind"] == "invalid_json"
