"""`datamill incontext`: In-context learning and RAG: chunk, index, retrieve, select few-shot examples, pack prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from datamill.cli._common import (
    OUTPUT,
    JsonOpt,
    OnErrorOpt,
    OptionBlock,
    QuarantineOpt,
    TextFieldOpt,
    console,
    err_console,
    print_json,
)

app = typer.Typer(
    help="In-context learning and RAG: chunk, index, retrieve, select few-shot examples, pack prompts.",
    no_args_is_help=True,
)

DocsArg = Annotated[
    list[str], typer.Argument(help="Documents or chunks (JSONL/Parquet files, folders, globs).")
]
IndexArg = Annotated[Path, typer.Argument(metavar="INDEX_DIR", help="Index folder.")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help="random, knn, mmr, balanced or length.")]

#: How documents are read: the field holding their text, and what to do with a malformed line.
READ = OptionBlock(
    text_field=(TextFieldOpt, "text"), on_error=(OnErrorOpt, "raise"), quarantine=(QuarantineOpt, None)
)


def _examples(path: Path) -> list:  # type: ignore[type-arg]
    """A fine-tuning file as few-shot examples (a preference pair is its prompt and chosen answer)."""
    from datamill.finetune import as_example, read_examples

    return [as_example(r) for r in read_examples(path)]


def _docs(paths: list[str], *, text_field: str, on_error: str, quarantine: str | None, beside: object = None):  # noqa: ANN202
    from datamill.cli._common import open_quarantine, report_quarantine
    from datamill.io import read_records
    from datamill.records import Document

    q = open_quarantine(on_error, quarantine, beside=beside)
    for rec in read_records(paths, text_field=text_field, on_error=on_error, quarantine=q):  # type: ignore[arg-type]
        if not isinstance(rec, Document):
            from datamill.errors import InputError

            raise InputError(
                f"expected documents, got a {rec.type_name} record",
                path=rec.provenance.source,
                line=rec.provenance.line,
            )
        yield rec
    report_quarantine(q)


@app.command()
@READ
def chunk(
    docs: Annotated[list[str], typer.Argument(help="Document files, folders or globs (JSONL/Parquet).")],
    output: Annotated[Path, typer.Option(*OUTPUT, help="Chunks file (.jsonl/.jsonl.zst/.parquet).")],
    method: Annotated[
        str, typer.Option("--method", help="tokens, sentences, paragraphs, markdown, html or code.")
    ] = "tokens",
    max_tokens: Annotated[int, typer.Option("--max-tokens")] = 256,
    overlap: Annotated[int, typer.Option("--overlap")] = 32,
    **read: Any,
) -> None:
    """Split documents into chunks that keep their document id, offsets and heading path."""
    from datamill.incontext import chunk_documents
    from datamill.io import write_records

    chunks = chunk_documents(
        _docs(docs, beside=output, **read), method=method, max_tokens=max_tokens, overlap=overlap
    )
    console.print(f"wrote {write_records(chunks, output):,} chunks to {output}")


@app.command()
@READ
def index(
    docs: DocsArg,
    out_dir: Annotated[Path, typer.Option(*OUTPUT, help="Index folder.")],
    kind: Annotated[str, typer.Option("--kind", help="bm25, dense or hybrid.")] = "hybrid",
    bm25: Annotated[bool, typer.Option("--bm25", help="Shortcut for --kind bm25.")] = False,
    dense: Annotated[bool, typer.Option("--dense", help="Shortcut for --kind dense.")] = False,
    hybrid: Annotated[bool, typer.Option("--hybrid", help="Shortcut for --kind hybrid.")] = False,
    method: Annotated[
        str | None, typer.Option("--method", "--chunk", help="Chunk documents first with this method.")
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Chunk size (with --chunk).")] = 256,
    model: Annotated[
        str, typer.Option("--embedder", "--model", help="Embedding model: shipped MiniLM or a local folder.")
    ] = "all-MiniLM-L6-v2",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="Embeddings: auto (OpenVINO where it runs bf16, else ONNX Runtime), openvino, onnx, torch "
            "or static.",
        ),
    ] = "auto",
    quantize: Annotated[
        bool, typer.Option("--quantize", help="int8 embedding model (ONNX Runtime or OpenVINO).")
    ] = False,
    max_seq_length: Annotated[
        int | None,
        typer.Option(
            "--max-seq-length",
            help="Embed at most this many tokens of a chunk (default: the model's own limit).",
        ),
    ] = None,
    **read: Any,
) -> None:
    """Build a persisted BM25, dense or hybrid index."""
    import time

    from datamill.errors import ConfigError
    from datamill.incontext import build_index, chunk_documents

    kind = "bm25" if bm25 else "dense" if dense else "hybrid" if hybrid else kind
    items = _docs(docs, beside=out_dir, **read)
    chunks = list(chunk_documents(items, method=method, max_tokens=max_tokens) if method else items)
    embed = {"backend": backend, "quantize": quantize, "max_seq_length": max_seq_length}
    if kind == "bm25" and (backend != "auto" or quantize or max_seq_length is not None):
        raise ConfigError(
            "--backend, --quantize and --max-seq-length are for dense and hybrid indexes", params="backend"
        )
    params = {} if kind == "bm25" else {"model": model, **({"dense": embed} if kind == "hybrid" else embed)}
    t0 = time.perf_counter()
    with console.status(f"indexing {len(chunks):,} chunks ({kind})"):
        idx = build_index(chunks, out_dir, kind=kind, **params)
    console.print(f"{kind} index of {len(idx):,} chunks in {out_dir} ({time.perf_counter() - t0:.1f} s)")


@app.command()
def search(
    path: IndexArg,
    query: Annotated[str, typer.Argument(help="The query.")],
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 5,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="key=value on chunk metadata (the document's, e.g. lang=en, url=...); repeat a key "
            "for any of several values, different keys must all match.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Search an index."""
    from datamill.incontext import load_index, parse_filters

    flt = parse_filters(filters or [])
    idx = load_index(path)
    hits = idx.search(query, k, filters=flt or None)
    why = idx.unmatched_filter(flt) if not hits and flt else None
    if why:
        err_console.print(f"[yellow]warning:[/] {escape(why)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if json_out:
        print_json([h.to_dict() for h in hits])
        return
    table = Table(title=f"{query!r}", title_justify="left")
    for col in ("rank", "score", "id", "text"):
        table.add_column(col)
    for h in hits:
        table.add_row(str(h.rank), f"{h.score:.3f}", h.id, h.chunk.text[:120].replace("\n", " "))
    console.print(table)


@app.command()
def pack(
    index: Annotated[
        Path, typer.Argument(metavar="INDEX_DIR", help="Index folder to retrieve passages from.")
    ],
    question: Annotated[str, typer.Argument(help="The question.")],
    k: Annotated[int, typer.Option("-k", help="Passages to retrieve.")] = 5,
    budget: Annotated[int, typer.Option("--budget", help="Token budget of the whole prompt.")] = 2048,
    system: Annotated[str | None, typer.Option("--system")] = None,
    pool: Annotated[
        Path | None, typer.Option("--pool", "--examples", help="Few-shot pool (any fine-tuning format).")
    ] = None,
    shots: Annotated[int, typer.Option("--shots", help="Few-shot examples to select.")] = 0,
    strategy: StrategyOpt = "knn",
    template: Annotated[str, typer.Option("--template", help="plain or chat.")] = "plain",
    priority: Annotated[
        str, typer.Option("--priority", help="What fills first: passages or examples.")
    ] = "passages",
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="key=value on chunk metadata, as search takes it.")
    ] = None,
    check_contradictions: Annotated[
        bool,
        typer.Option(
            "--check-contradictions",
            help="Warn when packed passages contradict each other (rules + learned).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Retrieve passages (and few-shot examples) and pack them into a prompt within a token budget."""
    from datamill.incontext import parse_filters, retrieve_and_pack

    packed = retrieve_and_pack(
        index,
        question,
        k=k,
        filters=parse_filters(filters or []) or None,
        pool=_examples(pool) if pool is not None and shots else (),
        shots=shots,
        strategy=strategy,
        system=system,
        budget=budget,
        template=template,  # type: ignore[arg-type]
        priority=priority,  # type: ignore[arg-type]
        check_contradictions=check_contradictions,
    )
    if json_out:
        print_json(packed.to_dict())
        return
    if packed.text:
        console.print(packed.text, markup=False, highlight=False)
    else:
        print_json(packed.messages)
    console.print(
        f"[bold]{packed.tokens:,} / {packed.budget:,} tokens[/]; included {len(packed.included)}, "
        f"dropped {len(packed.dropped)}"
        + "".join(f"\n  dropped {d['kind']} {d['id']}: {d['reason']}" for d in packed.dropped)
    )
    for c in packed.contradictions:
        err_console.print(
            f"[yellow]warning: passages {c['passages'][0]} and {c['passages'][1]} contradict each other "
            f"({c['detector']}, score {c['score']:.2f}):[/] {escape(repr(c['first']))} vs "
            f"{escape(repr(c['second']))}",
            highlight=False,
        )


@app.command("eval")
def eval_(
    folder: Annotated[
        Path,
        typer.Argument(metavar="BEIR_DIR", help="BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)."),
    ],
    kinds: Annotated[
        str, typer.Option("--kinds", help="Comma-separated index kinds to compare.")
    ] = "bm25,dense,hybrid",
    split: Annotated[str, typer.Option("--split")] = "test",
    dev_split: Annotated[
        str, typer.Option("--dev-split", help="Tune the hybrid's fusion on this split's qrels when present.")
    ] = "dev",
    ann_threshold: Annotated[
        int | None, typer.Option("--ann-threshold", help="Dense: HNSW from this many vectors (0: always).")
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Without a dev split: cross-fit the fusion in this many parts.")
    ] = 2,
    per_query: Annotated[
        Path | None, typer.Option("--per-query", help="Write per-query metrics (JSONL) here.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluate retrieval (recall@k, nDCG@10, MRR@10, MAP@100) and compare index kinds in one table."""
    from datamill.incontext import evaluate_retrieval

    with console.status("indexing and searching"):
        dense = {} if ann_threshold is None else {"ann_threshold": ann_threshold}
        result = evaluate_retrieval(
            folder,
            kinds=[k.strip() for k in kinds.split(",") if k.strip()],
            split=split,
            dev_split=dev_split or None,
            index_params={"dense": dense, "hybrid": {"dense": dense}} if dense else None,
            folds=folds,
        )
    if per_query is not None:
        from datamill.io import write_jsonl

        write_jsonl(result.per_query_rows(), per_query)
    if json_out:
        print_json({k: v for k, v in result.to_dict().items() if k != "per_query"})
        return
    metrics = list(next(iter(result.table.values())).keys())
    table = Table(
        title=f"{folder}: {result.queries} queries, {result.documents:,} documents", title_justify="left"
    )
    table.add_column("index")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("index s", justify="right")
    table.add_column("query s", justify="right")
    best = {m: max(result.table[k][m] for k in result.table) for m in metrics}
    for kind, row in result.table.items():
        cells = [f"[bold green]{row[m]:.4f}[/]" if row[m] == best[m] else f"{row[m]:.4f}" for m in metrics]
        table.add_row(
            kind, *cells, f"{result.seconds[kind]['index']:.2f}", f"{result.seconds[kind]['queries']:.2f}"
        )
    console.print(table)
    for line in result.summary():
        console.print(escape(line), highlight=False)


@app.command()
def select(
    pool: Annotated[Path, typer.Argument(help="Labelled examples (any fine-tuning format).")],
    query: Annotated[str, typer.Argument(help="The query to choose examples for.")],
    k: Annotated[int, typer.Option("-k")] = 4,
    strategy: StrategyOpt = "knn",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    token_budget: Annotated[int | None, typer.Option("--token-budget")] = None,
    label_field: Annotated[
        str,
        typer.Option(
            "--label-field",
            help="Where balanced finds the label: label, or a field of the rows (e.g. category).",
        ),
    ] = "label",
    json_out: JsonOpt = False,
) -> None:
    """Choose few-shot examples for a query (a preference set's examples are its prompts and chosen answers)."""
    from datamill.incontext import FewShotSelector, example_io

    selector = FewShotSelector(_examples(pool), label_field=label_field)
    chosen = selector.select(query, k, strategy=strategy, seed=seed, token_budget=token_budget)
    rows = [
        {
            "id": e.id,
            "line": e.provenance.line,
            "input": example_io(e)[0],
            "output": example_io(e)[1],
            "label": selector.label_of(e),
        }
        for e in chosen
    ]
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"{strategy}: {len(rows)} example(s)", title_justify="left")
    for col in ("line", "label", "input", "output"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["line"]), "" if r["label"] is None else str(r["label"]), r["input"][:70], r["output"][:50]
        )
    console.print(table)


@app.command()
def serve(
    index_dir: Annotated[Path, typer.Argument(help="Index folder to serve.")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8001,
) -> None:
    """Serve search and prompt packing over HTTP (OpenAPI docs at /docs)."""
    import uvicorn

    from datamill.incontext.serve import create_app

    app_ = create_app(index_dir)
    console.print(f"serving {index_dir} on http://{host}:{port} (docs: /docs)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
def judge(
    rows: Annotated[
        Path,
        typer.Argument(
            metavar="ANSWERS",
            help="JSONL of {id?, question, answer, contexts, ground_truth?} (generated RAG answers).",
        ),
    ],
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher", "-t", help="The judge: OpenAI-compatible base URL (…/v1) or a local model."
        ),
    ],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name sent to the server.")] = None,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="Comma-separated: faithfulness, answer_relevance, context_precision, context_recall.",
        ),
    ] = "faithfulness,answer_relevance,context_precision,context_recall",
    n_questions: Annotated[
        int, typer.Option("--n-questions", help="Questions generated per answer for answer relevance.")
    ] = 3,
    unfaithful_below: Annotated[
        float, typer.Option("--unfaithful-below", help="Faithfulness under which an answer goes to diagnose.")
    ] = 0.5,
    detector: Annotated[
        str, typer.Option("--detector", help="Contradiction detector run on unfaithful answers' contexts.")
    ] = "combined",
    cache: Annotated[
        str, typer.Option("--cache", help="SQLite request cache ('default': synthetic's; 'none' disables).")
    ] = "default",
    max_failures: Annotated[
        float,
        typer.Option("--max-failures", min=0.0, max=1.0, help="Share of teacher requests that may fail."),
    ] = 0.5,
    output: Annotated[Path | None, typer.Option(*OUTPUT, help="Write every answer's scores (JSONL).")] = None,
    handoff: Annotated[
        Path | None,
        typer.Option(
            "--handoff", help="Write the unfaithful answers as `datamill diagnose report --results` rows."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Judge RAG answers: faithfulness, answer relevance, context precision/recall (ragas-style), any teacher."""
    from datamill.incontext import judge_answers

    report = judge_answers(
        rows,
        teacher,
        model=model,
        metrics=[m.strip() for m in metrics.split(",") if m.strip()],
        n_questions=n_questions,
        unfaithful_below=unfaithful_below,
        detector=detector,
        cache=None if cache == "none" else cache,
        max_failures=max_failures,
        progress=not json_out,
        output=output,
        handoff=handoff,
    )
    s = report.summary()
    if json_out:
        print_json({"summary": s, "usage": report.usage})
        return
    table = Table(title=f"{s['answers']:,} answers judged", title_justify="left")
    for col in ("metric", "mean", "answers scored"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in report.metrics:
        table.add_row(m.replace("_", " "), "-" if s[m] is None else f"{s[m]:.3f}", f"{s[m + '_scored']:,}")
    console.print(table)
    console.print(
        f"unfaithful (< {unfaithful_below:g}): [bold]{s['unfaithful']:,}[/] — contradictory context "
        f"{s['contradictory_context']:,}, never seen in the context {s['never_seen']:,}"
        + (f"; {s['errors']:,} answers with unusable judgements" if s["errors"] else "")
    )
    u = report.usage
    cost = "unknown" if u["cost_usd"] is None else f"${u['cost_usd']:.4f}"
    console.print(
        f"judge {escape(u['model'])}: {u['requests']:,} requests, {u['cache_hits']:,} cached, "
        f"{u['prompt_tokens'] + u['completion_tokens']:,} tokens, cost {cost}"
    )
    if output:
        console.print(f"scores: {escape(str(output))}")
    if handoff:
        console.print(f"diagnose: datamill diagnose report --results {escape(str(handoff))} --train TRAIN")
