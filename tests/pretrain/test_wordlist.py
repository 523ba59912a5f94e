"""filter.word_list: your word lists, whole-word and phrase matches, drops named by category, counts per
category for kept documents too, and the flag action."""

from __future__ import annotations

import pytest

from datamill.errors import ConfigError
from datamill.pipeline import Pipeline, build
from datamill.pretrain import WordListFilter
from datamill.records import Document


@pytest.fixture()
def lists(tmp_path):
    (tmp_path / "insults.txt").write_text("# mild insults\nidiot\nmoron\nshut up\n")
    (tmp_path / "mixed.csv").write_text("kill,threat\nbomb,threat\ndarn,\n")
    return [str(tmp_path / "insults.txt"), str(tmp_path / "mixed.csv")]


def docs() -> list[Document]:
    return [
        Document(id="a", text="What an idiot. Shut up, you moron!"),
        Document(id="b", text="The idiotic plan of killers with skills."),  # no whole-word hit
        Document(id="c", text="They threatened to kill everyone with a bomb, darn it, idiot."),
        Document(id="d", text="A calm note about the weather."),
    ]


def test_drops_are_named_by_the_most_frequent_category_and_every_category_is_counted(lists):
    step = WordListFilter(paths=lists)
    kept = [d.id for d in step(docs())]
    assert kept == ["b", "d"]
    st = step.stats
    assert st.dropped == {"word_list:insults": 1, "word_list:threat": 1}
    assert (
        st.counters["category:insults"] == 2 and st.counters["words:insults"] == 4
    )  # shut up is one phrase hit
    assert st.counters["category:threat"] == 1 and st.counters["words:threat"] == 2
    assert st.counters["category:mixed"] == 1  # a CSV row without a category takes the file's name


def test_thresholds_flagging_and_recipes(lists):
    step = WordListFilter(paths=lists, min_matches=4)
    assert [d.id for d in step(docs())] == ["a", "b", "d"]  # 3 hits in a, 4 in c
    flag = WordListFilter(paths=lists, action="flag")
    out = list(flag(docs()))
    assert len(out) == 4 and out[2].metadata["word_list"] == {"threat": 2, "mixed": 1, "insults": 1}
    ratio = WordListFilter(paths=lists, max_ratio=0.4)
    assert [d.id for d in ratio(docs())] == ["b", "c", "d"]  # 3 of 7 words in a; 4 of 11 in c
    again = build(Pipeline([WordListFilter(paths=lists)]).steps[0].to_config())
    assert again.to_config()["type"] == "filter.word_list"
    with pytest.raises(ConfigError, match="action"):
        WordListFilter(paths=lists, action="erase")
    with pytest.raises(ConfigError, match="cannot read"):
        list(WordListFilter(paths=["/no/such.txt"])(docs()))
