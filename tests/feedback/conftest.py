"""Feedback fixtures: a fresh database per test on SQLite and (marked postgres) on a fresh PostgreSQL schema."""

from __future__ import annotations

from typing import Any

import pytest
from feedback_helpers import LiveServer, backend_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Any:  # noqa: ANN001
    """A URL of an empty database: SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    with backend_url(request, tmp_path, "feedback.db") as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Any:
    """Cheaper argon2 in tests (still real argon2id hashes): users are created by the dozen."""
    from datamill.feedback import service

    service.ARGON2_PARAMS.update(time_cost=1, memory_cost=1024, parallelism=1)  # the hasher follows at once
    yield
    service.ARGON2_PARAMS.clear()


@pytest.fixture
def app_db(db_url: str):  # noqa: ANN201
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(db_url)
    app = create_app(db)
    yield app, db
    db.dispose()


@pytest.fixture
def live(tmp_path):  # noqa: ANN001, ANN201
    """A live app on a fresh SQLite database: (server, db)."""
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(f"sqlite:///{tmp_path / 'live.db'}")
    server = LiveServer(create_app(db))
    yield server, db
    server.stop()
    db.dispose()
