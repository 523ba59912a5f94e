"""Tasks as steps against the fake server: self-instruct on the 175 real seed tasks, qa-from-docs,
judge with position swapping, evol-instruct, respond with k samples, rewrite/critique, recipes."""

from __future__ import annotations

import re

import pytest

from datamill.errors import ConfigError
from datamill.pipeline import Pipeline
from datamill.recipes import parse_recipe
from datamill.records import Document, Example, Preference
from datamill.synthetic import (
    Critique,
    EvolInstruct,
    Judge,
    JudgeScoreFilter,
    QAFromDocs,
    Respond,
    Rewrite,
    RougeIndex,
    SelfInstruct,
    evol_eliminate,
    judge_pairs,
    load_seed_tasks,
    qa_from_docs,
    respond,
    rouge_l,
    self_instruct_filter,
)


@pytest.fixture
def seeds(sample_data):
    return load_seed_tasks(str(sample_data / "finetune" / "self_instruct_seed_tasks.jsonl"))


def test_self_instruct_filters_match_the_paper():
    assert self_instruct_filter("Give three tips for staying healthy.") is None
    assert self_instruct_filter("List it now.") == "too_short"  # 3 words
    assert self_instruct_filter("word " * 151) == "too_long"
    assert self_instruct_filter("Draw a picture of a house please.") == "blacklisted_word"
    assert self_instruct_filter("Please go to the shop and buy milk.") == "blacklisted_word"
    assert self_instruct_filter("Summarise the attached files for me.") == "blacklisted_word"
    assert self_instruct_filter("Explain how mapping software works.") is None  # whole words only
    assert self_instruct_filter("Write a program that adds two numbers.") == "write_a_program"
    assert self_instruct_filter("- Explain how tides work today.") == "starts_with_punctuation"
    assert self_instruct_filter("Éxplain how tides work today.") == "starts_non_ascii"


def test_self_instruct_on_real_seed_tasks(seeds, teacher, cache_path, fake_server):
    assert len(seeds) == 175
    step = SelfInstruct(teacher=teacher, num_instructions=25, requests_per_round=6, cache=cache_path, seed=3)
    out = list(step(seeds))
    assert len(out) == 25
    st = step.stats
    for reason in ("blacklisted_word", "rouge_similar"):
        assert st.dropped[reason] > 0, st.dropped
    pool = RougeIndex([s.input for s in seeds])
    for ex in out:  # every kept instruction passes the paper's filters and is novel vs seeds and earlier ones
        assert self_instruct_filter(ex.input) is None
        assert pool.max_score(ex.input)[0] <= 0.7
        pool.add(ex.input)
        assert ex.provenance.step == "synthetic.self_instruct" and ex.provenance.model == "fake-teacher"
        assert len(ex.provenance.parents) == 8 and ex.provenance.extra["template_hash"]
    # rerun from cache: same instructions, no request sent
    sent = fake_server.requests
    again = list(
        SelfInstruct(teacher=teacher, num_instructions=25, requests_per_round=6, cache=cache_path, seed=3)(
            seeds
        )
    )
    assert [e.input for e in again] == [e.input for e in out] and fake_server.requests == sent


def _paper_keep(inst: str) -> bool:
    """Self-Instruct's post_process_gpt3_response filters (yizhongw/self-instruct, bootstrap_instructions.py),
    written out independently of datamill: length, blacklist (whole words), "Write a program", first char."""
    import string as _string

    inst = re.sub(r"\s+", " ", inst).strip()
    if not inst or len(inst.split()) <= 3 or len(inst.split()) > 150:
        return False
    blacklist = [
        "image",
        "images",
        "graph",
        "graphs",
        "picture",
        "pictures",
        "file",
        "files",
        "map",
        "maps",
        "draw",
        "plot",
        "go to",
    ]
    if any(re.search(rf"\b({w})\b", inst, flags=re.IGNORECASE) for w in blacklist):
        return False
    return not (inst.startswith("Write a program") or inst[0] in _string.punctuation or not inst[0].isascii())


def _plain_rouge_l(a: str, b: str) -> float:
    """rouge_score's ROUGE-L F1 (no stemming) with the textbook O(n*m) LCS table."""
    x = re.sub(r"[^a-z0-9]+", " ", a.lower()).split()
    y = re.sub(r"[^a-z0-9]+", " ", b.lower()).split()
    if not x or not y:
        return 0.0
    prev = [0] * (len(y) + 1)
    for xi in x:
        cur = [0]
        for j, yj in enumerate(y):
            cur.append(prev[j] + 1 if xi == yj else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    p, r = lcs / len(x), lcs / len(y)
    return 2 * p * r / (p + r)


def test_self_instruct_matches_an_independent_reference(seeds, teacher):
    """Every candidate line the fake teacher wrote, filtered by a from-scratch copy of the paper's rules
    (length <= 3 or > 150 words, blacklist, "Write a program", punctuation / non-ASCII start, then ROUGE-L
    > 0.7 against seeds and earlier kept ones): the kept list is exactly datamill's, in order."""
    step = SelfInstruct(teacher=teacher, num_instructions=40, requests_per_round=8, cache=None, seed=11)
    answers: list[str] = []
    run_jobs = step.run_jobs

    def spy(jobs):
        results = run_jobs(jobs)
        answers.extend(str(r.value) for r in results if r.ok)
        return results

    step.run_jobs = spy
    out = [ex.input for ex in step(seeds)]
    assert len(out) == 40
    pool = [s.input for s in seeds]
    kept: list[str] = []
    for text in answers:
        for line in text.splitlines():
            m = re.match(r"^\s*\d+\s*[.):]\s*(.+?)\s*$", line)
            if not m or len(kept) >= 40:
                continue
            cand = m.group(1)
            if _paper_keep(cand) and max(_plain_rouge_l(cand, p) for p in pool) <= 0.7:
                kept.append(cand)
                pool.append(cand)
    assert kept == out
    st = step.stats.dropped
    for reason in (
        "too_short",
        "too_long",
        "blacklisted_word",
        "write_a_program",
        "starts_with_punctuation",
        "starts_non_ascii",
        "rouge_similar",
    ):
        assert st[reason] > 0, (reason, dict(st))


def test_qa_from_docs_grounded_with_chunk_provenance(teacher, fake_server):
    chunks = [
        Document(id=f"doc1#c{i}", text=t, metadata={"doc_id": "doc1"})
        for i, t in enumerate(
            [
                "The Amazon river carries more water than any other river. It flows through Brazil, Peru and Colombia.",
                "Photosynthesis turns light energy into chemical energy. Plants store that energy as glucose in leaves.",
                "Too short.",
            ]
        )
    ]
    out = qa_from_docs(chunks, teacher, n_per_chunk=2, cache=None)
    assert len(out) == 4
    for ex in out:
        parent = ex.provenance.parents[0]
        assert parent in ("doc1#c0", "doc1#c1") and ex.metadata["chunk_id"] == parent
        chunk = next(c for c in chunks if c.id == parent)
        assert ex.output in chunk.text and ex.input.endswith("?") and ex.metadata["grounding"] == 1.0
        assert ex.metadata["doc_id"] == "doc1"


def test_qa_invalid_json_is_reasked_and_quarantined(teacher, fake_server):
    chunk = Document(id="c", text="Water boils at one hundred degrees Celsius at sea level pressure.")
    fake_server.rates["bad_json_rate"] = 1.0
    step = QAFromDocs(teacher=teacher, cache=None, max_reasks=2)
    assert list(step([chunk])) == []
    assert step.stats.dropped["not_json"] == 1 and step.stats.counters["invalid_not_json"] == 3
    fake_server.rates["bad_json_rate"] = 0.0
    fake_server.rates["truncate_rate"] = 1.0
    step = QAFromDocs(teacher=teacher, cache=None, max_reasks=1)
    assert list(step([chunk])) == [] and step.stats.dropped["truncated"] == 1


def test_judge_pairwise_swaps_positions(teacher, fake_server):
    long = (
        "Tides are caused by the gravitational pull of the moon and the sun on the oceans, as Earth rotates."
    )
    short = "The moon."
    prefs = judge_pairs(
        ["Why are there tides?", "Why are there tides?"], [short, long], [long, short], teacher, cache=None
    )
    assert len(prefs) == 2 and all(p.chosen == long and p.rejected == short for p in prefs)
    # each pair is judged in both orders; the second pair is the first one swapped, so its two requests are
    # the same two requests and are sent once
    assert fake_server.requests == 2
    assert prefs[0].metadata["judge_verdicts"] == ["B", "B"] and prefs[0].provenance.step == "synthetic.judge"
    # the fake judge breaks ties by position: swapping exposes it, so the pair is dropped, not kept
    step = Judge(teacher=teacher, cache=None)
    assert list(step([Preference(prompt="q", chosen="same length", rejected="equal lengt")])) == []
    assert step.stats.dropped["position_inconsistent"] == 1
    # without swapping the same position bias slips through
    assert (
        len(
            list(
                Judge(teacher=teacher, cache=None, swap=False)(
                    [Preference(prompt="q", chosen="same length", rejected="equal lengt")]
                )
            )
        )
        == 1
    )


def test_judge_rubric_and_score_filter(teacher):
    exs = [
        Example(input="Explain tides.", output="Moon."),
        Example(input="Explain tides.", output=" ".join(["The moon pulls the sea toward it."] * 8)),
    ]
    scored = list(Judge(teacher=teacher, mode="rubric", cache=None)(exs))
    assert [e.id for e in scored] == [e.id for e in exs]
    assert scored[0].metadata["judge_score"] < scored[1].metadata["judge_score"]
    kept = list(JudgeScoreFilter(min_score=5)(scored))
    assert [e.id for e in kept] == [exs[1].id]
    with pytest.raises(ConfigError, match="pairwise"):
        Judge(teacher=teacher, mode="elo")


def test_respond_k_samples_with_provenance(teacher, fake_server):
    prompts = [Example(id="p1", input="Explain rainbows to a child."), "Name three prime numbers."]
    out = respond(prompts, teacher, k=3, cache=None, seed=7)
    assert len(out) == 6 and fake_server.requests == 6
    first = out[0]
    assert first.input == "Explain rainbows to a child." and first.output
    assert first.provenance.parents == ["p1"] and first.provenance.model == "fake-teacher"
    assert [o.provenance.extra["seed"] for o in out[:3]] == [7, 8, 9]
    assert first.provenance.extra["params"]["temperature"] == 0.7


def test_evol_instruct_with_elimination(teacher, seeds):
    step = EvolInstruct(teacher=teacher, rounds=2, cache=None)
    out = list(step(seeds[:40]))
    assert out and step.stats.dropped.get("no_information_gain", 0) > 0
    for ex in out:
        assert ex.output and ex.metadata["evol_method"] in (
            "constraints",
            "deepen",
            "concretize",
            "reasoning",
            "breadth",
        )
        assert evol_eliminate("x", ex.input, ex.output) is None
    second = [e for e in out if e.metadata["evol_round"] == 2]
    ids = {e.id for e in out}
    assert second and all(e.provenance.parents[0] in ids for e in second)
    assert evol_eliminate("Explain tides.", "Explain tides.") == "no_information_gain"
    assert evol_eliminate("a", "Rewrite the #Given Prompt# more deeply") == "prompt_leak"
    assert evol_eliminate("a", "Explain tides in depth", "Sorry, I cannot.") == "response_refusal"
    assert evol_eliminate("a", "Explain tides in depth", "the, and a.") == "response_empty"
    assert rouge_l("Explain tides.", "Explain tides. Use a table.") < 0.9


def test_rewrite_and_critique(teacher):
    ex = Example(input="Explain tides.", output="Tides are caused by the moon.")
    [rw] = list(Rewrite(teacher=teacher, cache=None)([ex]))
    assert rw.metadata["original_output"] == ex.output and rw.id != ex.id and rw.provenance.parents == [ex.id]
    [cr] = list(Critique(teacher=teacher, cache=None)([ex]))
    assert cr.metadata["critique"] and cr.metadata["critique_score"] == 6


def test_steps_round_trip_through_a_recipe(tmp_path, fake_server, cache_path):
    src = tmp_path / "prompts.jsonl"
    from datamill.io import write_records

    write_records([Example(input=f"Explain topic number {i}.") for i in range(30)], src)
    recipe = parse_recipe(
        {
            "reader": {"type": "read.jsonl", "paths": str(src)},
            "steps": [
                {
                    "type": "synthetic.respond",
                    "teacher": {"type": "openai", "base_url": fake_server.url, "model": "fake-teacher"},
                    "cache": cache_path,
                },
                {"type": "synthetic.refusal"},
                {"type": "synthetic.near_dedup", "field": "output"},
            ],
            "writer": {"type": "write", "format": "jsonl"},
        }
    )
    res = recipe.run(output=str(tmp_path / "out"), workers=1)
    assert res.records_out > 0 and res.records_out + res.steps[2].dropped_total == 30
    assert fake_server.requests == 30
    assert res.steps[0].counters["requests"] == 30
    again = recipe.run(output=str(tmp_path / "out2"), workers=1)
    assert fake_server.requests == 30 and again.records_out == res.records_out
    assert isinstance(Pipeline.from_config(recipe.pipeline.to_config()).steps[0], Respond)


def test_qa_from_incontext_chunks(teacher):
    """The journey: shipped sample docs -> datamill.incontext chunks -> grounded Q&A with the chunk as parent."""
    incontext = pytest.importorskip("datamill.incontext")
    from pathlib import Path

    import datamill
    from datamill.io import read_records

    folder = Path(datamill.__file__).parent / "data" / "sample_docs"
    docs = [d for d in read_records(str(folder / "part-0.jsonl.gz")) if isinstance(d, Document)][:5]
    chunks = list(incontext.chunk_documents(docs, method="paragraphs", max_tokens=128))
    qa = qa_from_docs(chunks, teacher, cache=None)
    by_id = {c.id: c for c in chunks}
    assert qa and all(ex.provenance.parents[0] in by_id for ex in qa)
    assert all(ex.output in by_id[ex.provenance.parents[0]].text for ex in qa)


def test_outputs_flow_into_finetune_formats(teacher, tmp_path):
    """Judged pairs export as DPO rows, generated Q&A as chat fine-tuning rows (datamill.finetune)."""
    formats = pytest.importorskip("datamill.finetune.formats")
    prefs = judge_pairs(
        ["Why is the sky blue?"],
        ["Because."],
        ["Air scatters blue light more than red."],
        teacher,
        cache=None,
    )
    dpo = formats.to_row(prefs[0], "openai_dpo")
    assert dpo["preferred_output"][0]["content"] == "Air scatters blue light more than red."
    qa = qa_from_docs(
        [Document(id="c", text="The Nile is the longest river in Africa. It flows north.")],
        teacher,
        cache=None,
    )
    row = formats.to_row(qa[0], "openai")
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert row["messages"][1]["content"] == qa[0].output
    [resp] = respond(["Name a planet."], teacher, cache=None)
    assert formats.to_row(resp, "sharegpt")


def test_task_module_layout_and_hooks():
    """One module per task family behind datamill.synthetic.tasks; a task missing its hooks fails when defined."""
    import datamill.synthetic.tasks as tasks
    from datamill.synthetic import Teacher, TeacherStep
    from datamill.synthetic.tasks.base import PerRecordTeacherStep

    families = {
        "Respond": "distill",
        "Rewrite": "distill",
        "Judge": "judge",
        "Critique": "judge",
        "SelfInstruct": "selfinstruct",
        "EvolInstruct": "evol",
        "QAFromDocs": "docqa",
    }
    for name, module in families.items():
        cls = getattr(tasks, name)
        assert cls.__module__ == f"datamill.synthetic.tasks.{module}" and issubclass(cls, TeacherStep)
    with pytest.raises(TypeError, match=r"NoOutputs \('synthetic.test_no_outputs'\) must implement outputs"):

        class NoOutputs(PerRecordTeacherStep):
            name = "synthetic.test_no_outputs"

            def jobs(self, rec):
                return []

    with pytest.raises(TypeError, match="generate"):

        class NoGenerate(TeacherStep):
            name = "synthetic.test_no_generate"

    class NoSpec(Teacher):
        async def complete(self, messages, params):
            raise AssertionError

    with pytest.raises(TypeError, match="spec"):
        NoSpec()
