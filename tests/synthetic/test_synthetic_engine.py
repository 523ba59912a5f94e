"""Teacher client, cache and engine against the fake server: retries, Retry-After, no double billing,
cache hits on rerun, invalid output counted, re-asked and quarantined, failures retried on resume."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest

from datamill.errors import ConfigError, TeacherError
from datamill.synthetic import (
    FakeServer,
    InvalidOutput,
    Job,
    OpenAITeacher,
    RequestCache,
    Runner,
    make_teacher,
    parse_json,
    price_of,
)


def _jobs(n, **params):
    return [
        Job(
            messages=[{"role": "user", "content": f"Tell me about item {i}"}],
            params={"max_tokens": 64, **params},
        )
        for i in range(n)
    ]


def test_fake_server_speaks_openai(fake_server):
    r = httpx.post(
        f"{fake_server.url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "Explain tides"}]},
    )
    data = r.json()
    assert r.status_code == 200 and data["choices"][0]["finish_reason"] == "stop"
    assert (
        data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    )
    again = httpx.post(
        f"{fake_server.url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "Explain tides"}]},
    ).json()
    assert again["choices"][0]["message"] == data["choices"][0]["message"]  # deterministic
    assert httpx.get(f"{fake_server.url}/models").json()["data"][0]["id"] == "fake-teacher"
    assert httpx.post(f"{fake_server.url}/chat/completions", content=b"{").status_code == 400
    assert fake_server.requests == 4


def test_retries_429_and_500_without_double_billing(fake_server, teacher, cache_path):
    fake_server.rates.update(rate_limit_rate=0.2, error_rate=0.1, malformed_rate=0.05)
    runner = Runner(teacher, cache=cache_path)
    results = runner.run(_jobs(120))
    assert all(r.ok for r in results)
    st = fake_server.stats
    assert st.by_status[429] > 0 and st.by_status[500] > 0
    assert runner.usage.retries["http_429"] == st.by_status[429]
    assert runner.usage.retries["http_500"] == st.by_status[500]
    # every prompt was answered (billed) once, except the ones whose body came back malformed
    assert sum(st.completed.values()) == 120 + runner.usage.retries["malformed_body"]
    assert runner.usage.requests == 120 and runner.usage.done == 120


def test_retry_after_is_honoured_then_gives_up(fake_server):
    fake_server.rates["rate_limit_rate"] = 1.0
    fake_server.retry_after = 0.2
    t = OpenAITeacher(
        base_url=fake_server.url, model="m", max_retries=2, backoff_base=0.001, backoff_max=0.001
    )
    runner = Runner(t, cache=None)
    t0 = time.perf_counter()
    [res] = runner.run(_jobs(1))
    assert time.perf_counter() - t0 >= 0.4  # two waits of Retry-After, not the 1 ms backoff
    assert res.error == "teacher_error" and "gave up after 3 attempts" in res.value
    assert fake_server.requests == 3 and runner.usage.failed == 1


def test_connection_errors_are_retried():
    t = OpenAITeacher(base_url="http://127.0.0.1:9/v1", model="m", max_retries=2, backoff_base=0.001)
    [res] = Runner(t, cache=None).run(_jobs(1))
    assert res.error == "teacher_error" and t.retries["connection"] == 2


def test_client_errors_are_not_retried(fake_server):
    t = OpenAITeacher(base_url=fake_server.url.replace("/v1", "/nope"), model="m")
    [res] = Runner(t, cache=None).run(_jobs(1))
    assert res.error == "teacher_error" and "HTTP 404" in res.value and fake_server.requests == 1


def test_cache_rerun_sends_nothing_and_failures_are_retried(fake_server, teacher, cache_path):
    first = Runner(teacher, cache=cache_path).run(_jobs(50))
    assert fake_server.requests == 50
    fake_server.reset_stats()
    rerun = Runner(teacher, cache=cache_path)
    again = rerun.run(_jobs(50))
    assert fake_server.requests == 0 and rerun.usage.cache_hits == 50
    assert [r.value for r in again] == [r.value for r in first]
    # a failed request is stored as failed and asked again by the next run
    fake_server.rates["error_rate"] = 1.0
    bad = OpenAITeacher(base_url=fake_server.url, model="fake-teacher", max_retries=0)
    [res] = Runner(bad, cache=cache_path).run(_jobs(1, temperature=0.5))
    assert res.error == "teacher_error"
    assert RequestCache(cache_path).counts() == {"ok": 50, "failed": 1}
    fake_server.rates["error_rate"] = 0.0
    [res] = Runner(teacher, cache=cache_path).run(_jobs(1, temperature=0.5))
    assert res.ok and RequestCache(cache_path).counts() == {"ok": 51}


def test_identical_requests_in_flight_are_sent_once(fake_server, teacher):
    fake_server.latency = 0.05
    jobs = _jobs(1) * 10
    results = Runner(teacher, cache=None).run(jobs)
    assert len({r.value for r in results}) == 1 and fake_server.requests == 1


def test_invalid_output_counted_reasked_and_quarantined(fake_server, teacher, cache_path):
    def need_json(text):
        return parse_json(text, required=["answer"])

    fake_server.rates.update(bad_json_rate=0.3, truncate_rate=0.2)
    runner = Runner(teacher, cache=cache_path, max_reasks=3)
    jobs = [
        Job(
            messages=j.messages,
            params={**j.params, "response_format": {"type": "json_object"}},
            parse=need_json,
        )
        for j in _jobs(80)
    ]
    results = runner.run(jobs)
    u = runner.usage
    assert u.invalid["not_json"] > 0 and u.invalid["truncated"] > 0
    for r in results:  # nothing invalid is ever kept
        assert (r.ok and isinstance(r.value, dict) and "answer" in r.value) or r.error in u.quarantined
    assert sum(r.ok for r in results) + sum(u.quarantined.values()) == 80
    # with every answer broken, all are quarantined by reason, none kept
    fake_server.rates.update(bad_json_rate=1.0, truncate_rate=0.0)
    runner = Runner(teacher, cache=None, max_reasks=1)
    results = runner.run(
        [
            Job(
                messages=[{"role": "user", "content": "x y z"}],
                params={"response_format": {"type": "json_object"}},
                parse=need_json,
            )
        ]
    )
    assert results[0].error == "not_json" and runner.usage.quarantined == {"not_json": 1}
    assert runner.usage.invalid["not_json"] == 2  # first answer + one re-ask


def test_parse_json_and_prices():
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(InvalidOutput) as exc:
        parse_json('{"a": 1}', required=["b"])
    assert exc.value.reason == "schema"
    assert price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("openai/gpt-4o") == (2.50, 10.00)
    with pytest.warns(UserWarning, match="no price known for model 'llama-3-8b'"):
        assert price_of("llama-3-8b") is None  # not priced at $0 without a word
    assert price_of("llama-3-8b", warn=False) is None
    assert price_of("my-model", {"my-model": [1, 2]}) == (1.0, 2.0)


def test_cost_and_token_accounting(fake_server, cache_path):
    t = OpenAITeacher(base_url=fake_server.url, model="gpt-4o-mini")
    runner = Runner(t, cache=cache_path)
    runner.run(_jobs(10))
    u = runner.usage
    assert (
        u.prompt_tokens == fake_server.stats.prompt_tokens
        and u.completion_tokens == fake_server.stats.completion_tokens
    )
    assert u.cost == pytest.approx((u.prompt_tokens * 0.15 + u.completion_tokens * 0.60) / 1e6)
    assert json.dumps(u.to_dict())


def test_teacher_specs():
    assert make_teacher({"type": "openai", "base_url": "http://x/v1", "model": "m"}).spec()["model"] == "m"
    assert make_teacher("http://x/v1", model="m").model == "m"
    with pytest.raises(ConfigError, match="allowed: openai, transformers"):
        make_teacher({"type": "nope"})
    with pytest.raises(ConfigError, match="http"):
        OpenAITeacher(base_url="localhost:8000", model="m")
    with pytest.raises(ValueError, match="error_rate"):
        FakeServer(error_rate=2)


def test_teacher_and_output_errors_are_datamill_errors():
    from datamill import errors

    assert issubclass(TeacherError, errors.DatamillError)
    assert InvalidOutput is errors.InvalidOutput and issubclass(InvalidOutput, errors.DatamillError)
    exc = InvalidOutput("schema", "missing keys", params="json_schema")
    assert (exc.reason, exc.detail, exc.params, str(exc)) == (
        "schema",
        "missing keys",
        ("json_schema",),
        "schema: missing keys",
    )


def test_slow_responses_time_out_and_are_retried(fake_server):
    fake_server.rates["slow_rate"] = 1.0
    fake_server.slow_seconds = 1.0
    t = OpenAITeacher(base_url=fake_server.url, model="m", timeout=0.2, max_retries=1, backoff_base=0.001)
    [res] = Runner(t, cache=None).run(_jobs(1))
    assert res.error == "teacher_error" and "ReadTimeout" in res.value and t.retries["connection"] == 1
    fake_server.rates["slow_rate"] = 0.3
    t = OpenAITeacher(base_url=fake_server.url, model="m", timeout=0.3, max_retries=8, backoff_base=0.001)
    runner = Runner(t, cache=None)
    results = runner.run(_jobs(20))
    assert all(r.ok for r in results) and t.retries["connection"] > 0


def test_reask_message_fits_the_reason():
    """A bad verdict is re-asked for the format, bad JSON for JSON; the fake server answers a re-ask again."""
    from datamill.synthetic import Completion, Teacher

    class Scripted(Teacher):
        model = "scripted"

        def __init__(self, answers):
            self.answers, self.seen, self.sent = list(answers), [], 0
            self.retries = Counter()

        def spec(self):
            return {}

        async def complete(self, messages, params):
            self.seen.append(messages)
            self.sent += 1
            return Completion(text=self.answers.pop(0), prompt_tokens=1, completion_tokens=1)

    def verdict(text):
        if "[[A]]" not in text:
            raise InvalidOutput("no_verdict", "expected [[A]], [[B]] or [[C]]")
        return "A"

    t = Scripted(["I think the first one.", "[[A]]"])
    [res] = Runner(t, cache=None).run([Job(messages=[{"role": "user", "content": "judge"}], parse=verdict)])
    assert res.ok and res.value == "A" and res.reasks == ["no_verdict"]
    reask = t.seen[1][-1]["content"]
    assert "no_verdict: expected [[A]]" in reask and "JSON" not in reask
    t = Scripted(["not json", '{"a": 1}'])
    [res] = Runner(t, cache=None).run([Job(messages=[{"role": "user", "content": "x"}], parse=parse_json)])
    assert res.ok and "only valid JSON" in t.seen[1][-1]["content"]
    from datamill.synthetic import fake_answer

    judge_prompt = "[The Start of Assistant A's Answer]\nlong answer\n[The End of Assistant A's Answer]"
    again = fake_answer(
        [
            {"role": "user", "content": judge_prompt},
            {"role": "assistant", "content": "?"},
            {"role": "user", "content": "Your previous answer could not be used (x)."},
        ]
    )
    assert again == fake_answer([{"role": "user", "content": judge_prompt}])


def test_an_unpriced_remote_model_has_an_unknown_cost_not_zero(tmp_path):
    import warnings

    from datamill.synthetic import OpenAITeacher, Runner

    remote = OpenAITeacher(base_url="https://api.example.com/v1", model="mystery-70b")
    with pytest.warns(UserWarning, match="mystery-70b"):
        usage = Runner(remote, cache=str(tmp_path / "c.db")).usage
    assert not usage.priced and usage.to_dict()["cost_usd"] is None
    local = OpenAITeacher(base_url="http://127.0.0.1:8001/v1", model="mystery-local")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model on this machine costs nothing: no warning
        usage = Runner(local, cache=str(tmp_path / "c.db")).usage
    assert usage.priced and usage.to_dict()["cost_usd"] == 0.0
