"""Schemathesis on SQLite and PostgreSQL, with an admin's and an annotator's token: every operation on its own,
then sequences of calls chained by the links schemathesis infers from the OpenAPI schema (a created project's
id into its task upload, a claimed task's id into a judgement). No answer may be a 5xx, and both databases
answer the same kinds of input alike (the per-operation runs are derandomized: the same cases on both).

The default run is small (about a minute per database); ``-m slow`` runs the larger one.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test

from datamill.feedback import service as svc


def _tokens(db) -> dict[str, str]:  # noqa: ANN001
    """Fresh tokens of the admin and the annotator, both active in their roles again: a fuzzed call may have
    revoked a token (DELETE /api/tokens/1) or demoted or deactivated a user (PATCH /api/users/1)."""
    from sqlalchemy import update

    from datamill.feedback.models import User

    with db.write() as s:
        for name, role in (("admin", "admin"), ("ann", "annotator")):
            s.execute(update(User).where(User.username == name).values(role=role, active=True))
    db.cache.clear()
    return {
        "admin": svc.create_api_token(db, svc.user_by_name(db, "admin").id),
        "annotator": svc.create_api_token(db, svc.user_by_name(db, "ann").id),
    }


def _site(db) -> None:  # noqa: ANN001
    svc.create_user(db, "admin", "admin-password", role="admin")
    ann = svc.create_user(db, "ann", "ann-password")
    for tt in ("pairwise", "ranking", "rubric"):
        p = svc.create_project(db, f"p-{tt}", task_type=tt, overlap=2)
        n = 2 if tt == "pairwise" else 3
        rows = [{"id": f"t{i}", "prompt": "q", "responses": ["a", "b", "c"][:n]} for i in range(5)]
        svc.add_tasks(db, p["id"], enumerate(rows, 1))
        svc.add_member(db, p["id"], ann["id"])
        svc.next_task(db, ann["id"], p["id"])


def _fuzz(db_url: str, examples: int, steps: int) -> dict[str, set[int]]:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.specs.openapi.stateful import collect_transitions

    from datamill.feedback.app import create_app
    from datamill.feedback.db import Database
    from datamill.feedback.limits import LoginLimits

    db = Database(db_url)
    _site(db)
    # the fuzzer logs in thousands of times from one address: the throttle is tested elsewhere
    app = create_app(db, login_limits=LoginLimits(per_address=None, per_account=None, bad_tokens=None))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 15
    seen: dict[str, set[int]] = {}
    fuzz_settings = settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    def check(op, token: str) -> None:  # noqa: ANN001
        @fuzz_settings
        @given(case=op.as_strategy())
        def run(case) -> None:  # noqa: ANN001
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                case.body,
                response.text[:500],
            )

        run()

    try:
        for op in ops:
            for who in ("admin", "annotator"):
                check(op, _tokens(db)[who])
        machine = schema.as_state_machine()
        n_links = sum(len(t.outgoing) for t in collect_transitions(ops).operations.values())
        for who in ("admin", "annotator"):
            run_state_machine_as_test(
                _as(machine, who, _tokens(db)[who], seen),
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
    finally:
        db.dispose()
    seen["links"] = {n_links}
    return seen


def _as(machine, who: str, token: str, seen: dict[str, set[int]]):  # noqa: ANN001, ANN202
    """The state machine calling as ``who`` with ``token``, noting every status it gets."""

    class Stateful(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case):  # noqa: ANN001, ANN202
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response, case, **kwargs):  # noqa: ANN001, ANN003, ANN202
            seen.setdefault(f"stateful {who} {case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (who, case.method, case.formatted_path, response.text[:500])

    return Stateful


def _assert_reached_the_logic(seen: dict[str, set[int]]) -> None:
    codes = [c for k, v in seen.items() if k != "links" for c in v]
    assert any(c < 300 for c in codes) and any(400 <= c < 500 for c in codes)
    assert min(seen["links"]) >= 20  # links inferred from the schema chain the stateful calls
    for who in ("admin", "annotator"):  # each role's call sequences reached the logic, not only refusals
        assert any(k.startswith(f"stateful {who}") and any(c < 300 for c in v) for k, v in seen.items())


def test_openapi_fuzz_both_roles_both_databases(db_url) -> None:  # noqa: ANN001
    seen = _fuzz(db_url, examples=4, steps=6)
    _assert_reached_the_logic(seen)


@pytest.mark.slow
def test_openapi_fuzz_large(db_url) -> None:  # noqa: ANN001
    seen = _fuzz(db_url, examples=40, steps=20)
    _assert_reached_the_logic(seen)
