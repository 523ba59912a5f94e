"""Fixtures for the synthetic stage: a fake OpenAI-compatible server and a teacher pointed at it."""

from __future__ import annotations

import pytest

from datamill.synthetic import FakeServer, OpenAITeacher


@pytest.fixture
def fake_server():
    """A fresh fault-free fake server on a random port; tests may change its ``rates``/``latency``."""
    with FakeServer(latency=0.0) as server:
        yield server


@pytest.fixture
def teacher(fake_server):
    return OpenAITeacher(
        base_url=fake_server.url,
        model="fake-teacher",
        max_concurrency=16,
        backoff_base=0.01,
        backoff_max=0.05,
        timeout=10,
    )


@pytest.fixture
def cache_path(tmp_path):
    return str(tmp_path / "cache.sqlite")
