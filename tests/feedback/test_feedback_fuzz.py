"""Schemathesis over the OpenAPI spec: generated requests (valid and not) never produce a 5xx."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, settings

from datamill.feedback import service as svc


def test_openapi_fuzz_no_server_errors(tmp_path) -> None:  # noqa: ANN001
    schemathesis = pytest.importorskip("schemathesis")
    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database

    db = Database(f"sqlite:///{tmp_path / 'fuzz.db'}")
    admin = svc.create_user(db, "admin", "admin-password", role="admin")
    ann = svc.create_user(db, "ann", "ann-password")
    tokens = [svc.create_api_token(db, admin["id"]), svc.create_api_token(db, ann["id"]), "dmf_wrong"]
    for tt in ("pairwise", "ranking", "rubric"):
        p = svc.create_project(db, f"p-{tt}", task_type=tt, overlap=2)
        svc.add_tasks(
            db,
            p["id"],
            enumerate(
                [
                    {
                        "id": f"t{i}",
                        "prompt": "q",
                        "responses": ["a", "b", "c"][: 2 if tt == "pairwise" else 3],
                    }
                    for i in range(5)
                ],
                1,
            ),
        )
        svc.add_member(db, p["id"], ann["id"])
        svc.next_task(db, ann["id"], p["id"])
    app = create_app(db)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 15
    seen: dict[str, set[int]] = {}

    def make_check(op, i):  # noqa: ANN001, ANN202
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def check(case) -> None:  # noqa: ANN001
            token = tokens[zlib.crc32(repr((case.method, case.path, case.body)).encode()) % 3 if i % 2 else 0]
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                case.body,
                response.text[:500],
            )

        return check

    for i, op in enumerate(ops):
        make_check(op, i)()
    # the fuzzer reached the real logic, not only validation errors
    assert any(code < 300 for codes in seen.values() for code in codes)
    assert any(400 <= code < 500 for codes in seen.values() for code in codes)
    db.dispose()
