"""Every fenced ```bash / ```sh / ```python block of README.md and docs/*.md runs, offline, as written.

Each block is one test case named ``file:line`` (the line of its opening fence). The blocks of one page
run in order in one fresh directory, so a block may use what an earlier block of the same page wrote
(running one case alone first runs the blocks above it). Bash blocks run with ``bash -euo pipefail``,
Python blocks with this interpreter; ``datamill`` and ``python`` on the PATH are this interpreter's.

HTML comments right above a fence steer a block:

- ``<!-- skip-example: reason -->``: not run (a test checks every such mark gives its reason);
- ``<!-- slow-example: reason -->``: runs only under ``pytest -m slow``;
- ``<!-- example-file: NAME -->``: the block (e.g. a YAML recipe) is written to NAME for later blocks;
- ``<!-- example-server: URL -->``: the block starts a server; it passes once URL answers. A server
  in the foreground is then stopped; one started with ``&`` keeps running for the next blocks;
- ``<!-- example-output -->`` (on a text block): what the runnable block above it prints; each of its
  lines must be a line of that block's standard output.

A command ending in ``&`` keeps running in the background until the page is done (e.g. a fake
teacher the next blocks talk to), and what a bash block exports the next bash blocks see, as in one
terminal. ``pip install`` commands are not run: the extras they name must
exist in pyproject.toml. The files a page's examples take as the reader's own input (``train.jsonl``,
``tasks.jsonl``, ...) are made in :data:`PAGE_FILES` from the sample data shipped in the package and
in tests/data.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
RUNNABLE = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}
MARK = re.compile(
    r"^<!--\s*(skip-example|slow-example|example-file|example-server|example-output)\s*(?::(.*?))?-->\s*$"
)
BLOCK_TIMEOUT = 240  # seconds; one block (the quickstart is the longest)
SERVER_TIMEOUT = 180  # seconds for a server block's URL to answer

# Known bugs, fixed elsewhere: the block is expected to fail until then (strict: it must fail).
# Keyed by "file" and a text the block contains.
XFAIL: dict[tuple[str, str], str] = {}


@dataclass
class Block:
    page: str
    line: int
    lang: str  # bash | python | file | other
    code: str
    marks: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in ("bash", "python") and "skip-example" not in self.marks


def parse(page: str, text: str | None = None) -> list[Block]:
    """The fenced blocks of a Markdown page, with the marks in the comment lines right above each."""
    lines = (text if text is not None else (REPO / page).read_text(encoding="utf-8")).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^```\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        marks: dict[str, str] = {}
        k = start - 1
        while k >= 0 and (mm := MARK.match(lines[k].strip())):
            marks[mm.group(1)] = (mm.group(2) or "").strip()
            k -= 1
        lang = RUNNABLE.get(m.group(1).lower(), "other")
        if "example-file" in marks:
            lang = "file"
        elif "example-output" in marks:
            lang = "output"
        blocks.append(Block(page, start + 1, lang, "\n".join(lines[start + 1 : j]) + "\n", marks))
        i = j + 1
    return blocks


ALL_BLOCKS = [b for page in PAGES for b in parse(page)]

# ----------------------------------------------------------------------------------------------------
# the reader's own input files that the pages take for granted, made from shipped sample data


def _sample_docs() -> Path:
    return REPO / "src" / "datamill" / "data" / "sample_docs"


def _seed_tasks() -> list[dict]:
    path = REPO / "tests" / "data" / "finetune" / "self_instruct_seed_tasks.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _readme_files(d: Path) -> None:
    # "crawl/*.jsonl.gz": the README says to copy the shipped sample shards there
    shutil.copytree(_sample_docs(), d / "crawl")


def _diagnose_files(d: Path) -> None:
    # label-issues: given labels and out-of-sample probabilities (20 Newsgroups, from cleanlab/label-errors)
    src = REPO / "tests" / "data" / "diagnose"
    shutil.copy(src / "original_test_labels_20news_test_set_original_labels.npy", d / "labels.npy")
    shutil.copy(src / "cross_validated_predicted_probabilities_20news_test_set_pyx.npy", d / "pred_probs.npy")


def _feedback_files(d: Path) -> None:
    # pairwise tasks (a Self-Instruct answer against its first sentence), prompts without answers, guidelines
    tasks = []
    for t in _seed_tasks()[:12]:
        inst = t["instances"][0]
        prompt = t["instruction"] + (f"\n\n{inst['input']}" if inst["input"] else "")
        full = inst["output"]
        short = re.split(r"(?<=[.!?])\s", full, maxsplit=1)[0][:60]
        if short != full:
            tasks.append({"id": t["id"], "prompt": prompt, "responses": [full, short]})
    (d / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    prompts = [{"prompt": t["instruction"]} for t in _seed_tasks()[20:24]]
    (d / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    (d / "rules.md").write_text(
        "# Guidelines\n\nPrefer the answer that is correct, complete and to the point.\n"
    )


def _finetune_files(d: Path) -> None:
    # the Self-Instruct seed tasks as the reader's set: Alpaca rows (a task-kind label to stratify on),
    # the same as OpenAI chat rows; 10 of them as the evaluation set; a model folder with a chat template
    # (the shipped MiniLM tokenizer); support tickets for the mix (the diagnose stage's planted set)
    from datamill.diagnose import make_planted
    from datamill.embed import default_model_path

    seeds = _seed_tasks()
    alpaca, chat = [], []
    for t in seeds:
        inst = t["instances"][0]
        label = "classification" if t["is_classification"] else "generation"
        alpaca.append(
            {
                "instruction": t["instruction"],
                "input": inst["input"],
                "output": inst["output"],
                "label": label,
            }
        )
        user = t["instruction"] + (f"\n\n{inst['input']}" if inst["input"] else "")
        chat.append(
            {
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": inst["output"]},
                ],
                "label": label,
            }
        )
    with gzip.open(d / "alpaca.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in alpaca)
    (d / "alpaca.jsonl").write_text("".join(json.dumps(r) + "\n" for r in alpaca))
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chat))
    held_out = chat[::17][:10]
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held_out))
    (d / "eval_questions.txt").write_text(
        "".join(r["messages"][0]["content"].replace("\n", " ") + "\n" for r in held_out)
    )
    tickets = make_planted().train[:200]
    (d / "support.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": r["input"]},
                        {"role": "assistant", "content": f"I have passed this to our {r['label']} team."},
                    ]
                }
            )
            + "\n"
            for r in tickets
        )
    )
    model = d / "my-model"
    shutil.copytree(default_model_path(), model, ignore=shutil.ignore_patterns("*.safetensors", "1_Pooling"))
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))


def _incontext_files(d: Path) -> None:
    # the reader's documents: three of datamill's own Markdown pages as JSONL rows (text, title, lang); a
    # labelled few-shot pool (60 Self-Instruct seeds in Alpaca form); a BEIR folder (the one shipped)
    (d / "docs").mkdir()
    rows = []
    for page in ("README.md", "docs/pipeline.md", "docs/which-stage.md"):
        text = (REPO / page).read_text(encoding="utf-8")
        rows.append({"id": page, "text": text, "title": text.splitlines()[0].lstrip("# "), "lang": "en"})
    (d / "docs" / "pages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pool = []
    for t in _seed_tasks()[:60]:
        inst = t["instances"][0]
        pool.append(
            {
                "instruction": t["instruction"],
                "input": inst["input"],
                "output": inst["output"],
                "label": "classification" if t["is_classification"] else "generation",
            }
        )
    (d / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    shutil.copytree(REPO / "src" / "datamill" / "data" / "beir_selfinstruct", d / "beir")
    # generated RAG answers to judge: the hand-labelled faithful and unfaithful ones
    shutil.copy(REPO / "tests" / "data" / "incontext" / "rag_answers_labelled.jsonl", d / "answers.jsonl")


def _pretrain_files(d: Path) -> None:
    # "crawl/*.warc.gz": the sample crawl shipped in the package; a domain blocklist
    (d / "crawl").mkdir()
    shutil.copy(REPO / "src" / "datamill" / "data" / "crawl" / "sample.warc.gz", d / "crawl")
    (d / "blocklist.txt").write_text("spam.example\nads.example.net\n")
    # "tweets.csv.gz": the labelled tweets of Davidson et al. (tests/data/pretrain) for train_classifier
    shutil.copy(
        REPO / "tests" / "data" / "pretrain" / "davidson_hate_offensive_5k.csv.gz", d / "tweets.csv.gz"
    )


def _synthetic_files(d: Path) -> None:
    # prompts to answer: 6 Self-Instruct seed instructions
    rows = [{"prompt": t["instruction"]} for t in _seed_tasks()[30:36]]
    (d / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _pipeline_files(d: Path) -> None:
    # "dump/": the shipped sample shards as they are (.jsonl.gz, "text") and as zstd JSONL whose text field
    # is "body"; the malformed lines stay in both
    import zstandard

    (d / "dump").mkdir()
    for shard in sorted(_sample_docs().glob("*.jsonl.gz")):
        shutil.copy(shard, d / "dump")
        lines = []
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    row["body"] = row.pop("text")
                    lines.append(json.dumps(row) + "\n")
                except (ValueError, KeyError, AttributeError, TypeError):
                    lines.append(line)
        name = shard.name.replace(".jsonl.gz", ".jsonl.zst")
        (d / "dump" / name).write_bytes(zstandard.ZstdCompressor().compress("".join(lines).encode()))


PAGE_FILES: dict[str, Callable[[Path], None]] = {
    "README.md": _readme_files,
    "docs/diagnose.md": _diagnose_files,
    "docs/feedback.md": _feedback_files,
    "docs/finetune.md": _finetune_files,
    "docs/incontext.md": _incontext_files,
    "docs/pretrain.md": _pretrain_files,
    "docs/pipeline.md": _pipeline_files,
    "docs/synthetic.md": _synthetic_files,
}

# ----------------------------------------------------------------------------------------------------
# running the pages


def _bin_dir(root: Path) -> Path:
    """``datamill`` and ``python`` of this interpreter, first on the PATH of every block."""
    d = root / "bin"
    if not d.exists():
        d.mkdir(parents=True)
        for name, cmd in (
            ("datamill", f'"{sys.executable}" -m datamill.cli.main'),
            ("python", f'"{sys.executable}"'),
        ):
            (d / name).write_text(f'#!/bin/sh\nexec {cmd} "$@"\n')
            (d / name).chmod(0o755)
    return d


PIP_INSTALL = re.compile(r"pip install ([^&|;\n]*?)(?=\s*(?:&&|\|\||;|$|\n|#))")


def strip_installs(code: str) -> tuple[str, list[str]]:
    """The block without its ``pip install ...`` commands, and the extras those commands name."""
    extras = [e for m in PIP_INSTALL.finditer(code) for e in re.findall(r"\[([\w,-]+)\]", m.group(1))]
    out = []
    for line in code.splitlines():
        parts = [p for p in re.split(r"\s*&&\s*", line) if not p.lstrip().startswith("pip install")]
        out.append(" && ".join(parts) if parts else "")
    return "\n".join(out) + "\n", [x for e in extras for x in e.split(",")]


@dataclass
class Outcome:
    ok: bool
    output: str
    stdout: str = ""
    ran: bool = True


class Page:
    def __init__(self, page: str, root: Path, env: dict[str, str], selected: set[str]):
        self.page = page
        self.selected = selected  # ids of the blocks whose tests run this session
        self.blocks = [b for b in ALL_BLOCKS if b.page == page]
        self.root = root / re.sub(r"\W", "_", page)
        self.work = self.root / "work"
        self.scripts = self.root / "scripts"
        self.work.mkdir(parents=True)
        self.scripts.mkdir()
        self.env = dict(env, DATAMILL_SYNTHETIC_CACHE=str(self.root / "synthetic-cache.sqlite"))
        self.done: dict[int, Outcome] = {}
        self.groups: list[int] = []  # process groups of blocks that may have left background jobs
        PAGE_FILES.get(page, lambda d: None)(self.work)

    def run_through(self, block: Block) -> Outcome:
        """Run every block of the page up to ``block`` that has not run yet; ``block``'s outcome."""
        for i, b in enumerate(self.blocks):
            if i not in self.done:
                self.done[i] = self._run(i, b)
            if b is block:
                return self.done[i]
        raise AssertionError(f"{block.id} is not on {self.page}")

    def _run(self, i: int, b: Block) -> Outcome:
        if b.lang == "file":
            (self.work / b.marks["example-file"]).write_text(b.code, encoding="utf-8")
            return Outcome(True, "")
        if b.lang == "output":
            return self._check_output(i, b)
        if not b.runnable or ("slow-example" in b.marks and b.id not in self.selected):
            return Outcome(True, "not run", ran=False)
        envfile = self.scripts / f"block{i}.env"
        if b.lang == "python":
            script = self.scripts / f"block{i}.py"
            script.write_text(b.code, encoding="utf-8")
            argv = [sys.executable, str(script)]
        else:
            # the page is one shell session: what a block exports, the next blocks see
            code = f"trap 'env -0 > \"{envfile}\"' EXIT\n" + strip_installs(b.code)[0]
            script = self.scripts / f"block{i}.sh"
            script.write_text(code, encoding="utf-8")
            argv = ["bash", "-euo", "pipefail", str(script)]
        if "example-server" in b.marks and _answers(b.marks["example-server"]):
            return Outcome(
                False,
                f"{b.marks['example-server']} answers before the block started: another "
                "process holds the port, so the block's own server could not be told apart",
            )
        log, err = self.scripts / f"block{i}.out", self.scripts / f"block{i}.err"
        with open(log, "wb") as out, open(err, "wb") as errf:
            proc = subprocess.Popen(
                argv,
                cwd=self.work,
                env=self.env,
                stdout=out,
                stderr=errf,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.groups.append(proc.pid)
            if "example-server" in b.marks:
                ok, why = _wait_for_server(b.marks["example-server"], proc)
                if proc.poll() is None:  # a server in the foreground: stop it; one started with & stays up
                    _kill(proc.pid)
                proc.wait()
            else:
                try:
                    rc = proc.wait(timeout=BLOCK_TIMEOUT)
                    ok, why = rc == 0, f"exit status {rc}"
                except subprocess.TimeoutExpired:
                    _kill(proc.pid)
                    proc.wait()
                    ok, why = False, f"still running after {BLOCK_TIMEOUT} s"
        if ok and envfile.exists():
            exported = dict(kv.split("=", 1) for kv in envfile.read_text().split("\0") if "=" in kv)
            for k in ("_", "SHLVL", "PWD", "OLDPWD"):
                exported.pop(k, None)
            self.env = exported
        text = log.read_text(encoding="utf-8", errors="replace")
        errtext = err.read_text(encoding="utf-8", errors="replace")
        earlier = [self.blocks[j].id for j, o in self.done.items() if not o.ok]
        why += f" (earlier blocks of this page failed: {earlier})" if earlier and not ok else ""
        return Outcome(
            ok, f"{why}\n--- stdout (end) ---\n{text[-4000:]}\n--- stderr (end) ---\n{errtext[-4000:]}", text
        )

    def _check_output(self, i: int, b: Block) -> Outcome:
        ran = [j for j in range(i) if self.blocks[j].runnable]
        if not ran:
            return Outcome(False, "an example-output block with no runnable block above it")
        if not self.done[ran[-1]].ran:
            return Outcome(True, "not run", ran=False)
        printed = {line.strip() for line in self.done[ran[-1]].stdout.splitlines()}
        missing = [line for line in b.code.splitlines() if line.strip() and line.strip() not in printed]
        if missing:
            return Outcome(
                False,
                f"{self.blocks[ran[-1]].id} did not print {missing}; it printed:\n"
                f"{self.done[ran[-1]].stdout[-4000:]}",
            )
        return Outcome(True, "")

    def stop_background(self) -> None:
        for pgid in self.groups:
            _kill(pgid)
        self.groups.clear()


def _kill(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _wait_for_server(url: str, proc: subprocess.Popen) -> tuple[bool, str]:
    """Until ``url`` answers while the block runs or after it ended well."""
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc not in (None, 0):
            return False, f"exit status {rc} before {url} answered"
        if _answers(url):
            return True, f"{url} answered"
        time.sleep(0.3)
    return False, f"{url} did not answer within {SERVER_TIMEOUT} s"


class Pages:
    def __init__(self, root: Path, selected: set[str]):
        self.root = root
        self.selected = selected
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", COLUMNS="160", NO_COLOR="1")
        self.env["PATH"] = f"{_bin_dir(root)}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.pop("DATABASE_URL", None)
        self.pages: dict[str, Page] = {}
        self.current: str | None = None

    def get(self, page: str) -> Page:
        if self.current is not None and self.current != page:
            self.pages[self.current].stop_background()  # servers of one page never meet another page's
        self.current = page
        if page not in self.pages:
            self.pages[page] = Page(page, self.root, self.env, self.selected)
        return self.pages[page]

    def close(self) -> None:
        for p in self.pages.values():
            p.stop_background()


@pytest.fixture(scope="module")
def pages(tmp_path_factory, request):
    # a slow-example block runs when its own test is selected (pytest -m slow), else it is passed over
    selected = {
        item.callspec.params["block"].id
        for item in request.session.items
        if getattr(item, "callspec", None) is not None and "block" in item.callspec.params
    }
    p = Pages(tmp_path_factory.mktemp("docs-examples"), selected)
    yield p
    p.close()


def _params():
    for b in ALL_BLOCKS:
        if not (b.runnable or b.lang == "output"):
            continue
        marks = []
        if "slow-example" in b.marks:
            marks.append(pytest.mark.slow)
        for (page, text), reason in XFAIL.items():
            if page == b.page and text in b.code:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
        yield pytest.param(b, id=b.id, marks=marks)


@pytest.mark.parametrize("block", list(_params()))
def test_example_runs(block: Block, pages: Pages):
    outcome = pages.get(block.page).run_through(block)
    assert outcome.ok, f"{block.id} failed: {outcome.output}"


def test_every_page_has_examples_and_every_unrun_block_says_why():
    assert len([b for b in ALL_BLOCKS if b.runnable]) >= 20
    unmarked = [b.id for b in ALL_BLOCKS if "skip-example" in b.marks and not b.marks["skip-example"]]
    assert not unmarked, f"skip-example marks without a reason: {unmarked}"
    skipped = [b for b in ALL_BLOCKS if "skip-example" in b.marks]
    assert len(skipped) <= 4, f"keep skip-example marks rare: {[b.id for b in skipped]}"
    for mark in ("slow-example", "example-file", "example-server"):
        empty = [b.id for b in ALL_BLOCKS if mark in b.marks and not b.marks[mark]]
        assert not empty, f"{mark} marks need a value: {empty}"
    for page, text in XFAIL:
        hits = [b.id for b in ALL_BLOCKS if b.page == page and text in b.code]
        assert len(hits) == 1, (
            f"XFAIL entry {(page, text)} matches {hits}, not one block: update or remove it"
        )


def test_installs_name_extras_that_exist():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = [(b.id, e) for b in ALL_BLOCKS if b.lang == "bash" for e in strip_installs(b.code)[1]]
    assert named, "the install lines name no extras"
    unknown = [(i, e) for i, e in named if e not in declared]
    assert not unknown, f"pip install names extras that pyproject.toml does not declare: {unknown}"


def test_the_block_parser():
    text = "x\n<!-- skip-example: needs a GPU -->\n```bash\necho hi\n```\n\n```yaml\na: 1\n```\n"
    blocks = parse("x.md", text)
    assert [(b.line, b.lang, b.code, b.marks) for b in blocks] == [
        (3, "bash", "echo hi\n", {"skip-example": "needs a GPU"}),
        (7, "other", "a: 1\n", {}),
    ]
    code, extras = strip_installs("pip install torch==2.13.0 && pip install -e '.[dev,ray]' && pytest\n")
    assert code.strip() == "pytest" and extras == ["dev", "ray"]
