"""``datamill incontext serve INDEX``: search and prompt packing over HTTP (FastAPI, OpenAPI at /docs)."""

# no "from __future__ import annotations": FastAPI must see the request models defined in create_app

import os
from typing import Any

from datamill.errors import DatamillError, require

__all__ = ["create_app"]


def create_app(index_dir: str | os.PathLike[str]):  # noqa: ANN201
    """A FastAPI app serving one index folder."""
    fastapi = require("fastapi", extra="incontext", purpose="the search server")
    from pydantic import BaseModel, Field

    from datamill.incontext.index import load_index, parse_filters
    from datamill.incontext.pack import retrieve_and_pack

    index = load_index(index_dir)
    app = fastapi.FastAPI(
        title="datamill incontext",
        version="1",
        description=f"Search and prompt packing over the {index.kind} index at {os.fspath(index_dir)}.",
    )

    class SearchRequest(BaseModel):
        query: str = Field(min_length=1, max_length=20_000)
        k: int = Field(default=5, ge=1, le=1000)
        filters: dict[str, Any] | None = None

    class PackRequest(BaseModel):
        question: str = Field(min_length=1, max_length=20_000)
        k: int = Field(default=5, ge=1, le=100)
        budget: int = Field(default=2048, ge=16, le=1_000_000)
        system: str | None = Field(default=None, max_length=20_000)
        template: str = Field(default="plain", pattern="^(plain|chat)$")
        filters: dict[str, Any] | None = None

    @app.exception_handler(DatamillError)
    async def _err(request, exc: DatamillError):  # type: ignore[no-untyped-def]
        return fastapi.responses.JSONResponse({"error": str(exc), "status": 400}, status_code=400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "kind": index.kind, "chunks": len(index)}

    @app.post("/search")
    def search(req: SearchRequest) -> dict[str, Any]:
        hits = index.search(req.query, req.k, filters=req.filters)
        return {"query": req.query, "hits": [h.to_dict() for h in hits]}

    @app.get("/search")
    def search_get(
        q: str = fastapi.Query(min_length=1, max_length=20_000),
        k: int = fastapi.Query(5, ge=1, le=1000),
        filter: list[str] = fastapi.Query([], description="key=value; repeat"),
    ) -> dict[str, Any]:  # noqa: A002
        hits = index.search(q, k, filters=parse_filters(filter) or None)
        return {"query": q, "hits": [h.to_dict() for h in hits]}

    @app.post("/pack")
    def pack(req: PackRequest) -> dict[str, Any]:
        return retrieve_and_pack(
            index,
            req.question,
            k=req.k,
            filters=req.filters,
            system=req.system,
            budget=req.budget,
            template=req.template,  # type: ignore[arg-type]
        ).to_dict()

    return app
