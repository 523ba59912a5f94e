"""Base classes with hooks: a missing override is an error, at definition for a registered component."""

from __future__ import annotations

import pytest

from datamill.pipeline import Filter, GlobalStep, Mapper, Reader
from datamill.pipeline.registry import registered
from datamill.recipes import Finisher


def test_a_named_step_without_its_hook_fails_when_defined():
    with pytest.raises(TypeError, match=r"NoKeep \('test.no_keep'\) must implement keep"):

        class NoKeep(Filter):
            name = "test.no_keep"

    with pytest.raises(TypeError, match="must implement apply, collect, reduce"):

        class HalfGlobal(GlobalStep):
            name = "test.half_global"

            def __call__(self, records):
                return iter(records)

    assert "test.no_keep" not in registered() and "test.half_global" not in registered()


def test_an_unnamed_base_without_its_hook_cannot_be_built():
    class NoApply(Mapper):
        pass

    with pytest.raises(TypeError, match="abstract method 'apply'|abstract methods? .*apply"):
        NoApply()

    class NoRead(Reader):
        pass

    with pytest.raises(TypeError, match="read_shard"):
        NoRead(paths=["x.jsonl"])

    class NoFinish(Finisher):
        pass

    with pytest.raises(TypeError, match="finish"):
        NoFinish()


def test_a_filled_hook_works():
    class Short(Filter):
        def keep(self, rec):
            return len(rec) < 3 or "long"

    step = Short()
    assert list(step(["ab", "abcd"])) == ["ab"] and step.stats.dropped == {"long": 1}
