"""The local transformers teacher end to end on a tiny random causal LM built here (nothing downloaded)."""

from __future__ import annotations

import pytest

from datamill.records import Example
from datamill.synthetic import Respond, TransformersTeacher


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-lm")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [
        "user: explain tides to a child",
        "assistant: the moon pulls the sea",
        "explain rainbows and light",
    ]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[EOS]"]))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]", pad_token="[EOS]"
    )
    fast.save_pretrained(path)
    config = GPT2Config(
        vocab_size=fast.vocab_size,
        n_positions=128,
        n_embd=16,
        n_layer=1,
        n_head=2,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    return str(path)


def test_local_teacher_generates_and_caches(tiny_lm, tmp_path):
    teacher = TransformersTeacher(model=tiny_lm)
    prompts = [Example(id="a", input="explain tides to a child"), Example(id="b", input="explain rainbows")]
    step = Respond(
        teacher=teacher, cache=str(tmp_path / "c.sqlite"), max_tokens=8, temperature=0.0, max_reasks=0
    )
    out = list(step(prompts))
    # a random model rarely emits EOS within 8 tokens: those answers are truncated, so counted, never kept
    assert len(out) + step.stats.dropped["truncated"] + step.stats.dropped["empty"] == 2
    assert step.usage.requests == 2 and step.usage.prompt_tokens > 0 and step.usage.completion_tokens > 0
    assert teacher.sent == 2
    step2 = Respond(
        teacher=teacher, cache=str(tmp_path / "c.sqlite"), max_tokens=8, temperature=0.0, max_reasks=0
    )
    out2 = list(step2(prompts))
    assert (
        teacher.sent == 2
        and step2.usage.cache_hits == 2
        and [o.output for o in out2] == [o.output for o in out]
    )


def test_local_teacher_text_is_deterministic_for_a_seed(tiny_lm):
    teacher = TransformersTeacher(model=tiny_lm)
    msgs = [{"role": "user", "content": "explain tides"}]
    # complete_sync works whether or not this thread runs a loop (Playwright's sync API leaves one)
    a = teacher.complete_sync(msgs, {"max_tokens": 6, "temperature": 1.0, "seed": 1})
    b = teacher.complete_sync(msgs, {"max_tokens": 6, "temperature": 1.0, "seed": 1})
    assert a.text == b.text and a.completion_tokens <= 6 and a.finish_reason in ("stop", "length")


def test_complete_sync_works_inside_a_running_event_loop(tiny_lm):
    from datamill.synthetic.teachers import run_coroutine

    teacher = TransformersTeacher(model=tiny_lm)
    msgs = [{"role": "user", "content": "explain tides"}]
    params = {"max_tokens": 4, "temperature": 1.0, "seed": 3}
    outside = teacher.complete_sync(msgs, params)

    async def notebook_cell():
        return teacher.complete_sync(msgs, params)  # as a Jupyter user would call it

    inside = run_coroutine(notebook_cell())  # the cell's coroutine runs in a loop, whatever this thread has
    assert inside.text == outside.text
