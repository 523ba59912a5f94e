"""Global stages as tasks over files: URL, exact and MinHash dedup equal their in-memory forms, the driver
only schedules, a killed driver resumes mid-stage, and connected components match union-find."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datamill.minhash import UnionFind
from datamill.pipeline.components import connected_components, star_groups
from datamill.pipeline.shuffle import hash_partition, part_paths, write_partitioned

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "pipeline")]  # dist_helpers, slow_step

from dist_helpers import RecordingExecutor, dedup_pipeline, planted_corpus  # noqa: E402


def digests(out: Path) -> dict[str, str]:
    files = sorted([*(out / "data").glob("*"), *(out / "dedup").glob("*")])
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _components(edges: np.ndarray, n: int, partitions: int, folder: Path) -> dict[int, int]:
    files = part_paths(str(folder / "in"), 2)
    (folder / "in").mkdir()
    for f, part in zip(files, np.array_split(edges, 2), strict=True):
        x, y = np.r_[part[:, 0], part[:, 1]], np.r_[part[:, 1], part[:, 0]]
        write_partitioned(f, {"u": x, "v": y}, hash_partition(x, partitions), partitions)
    result = connected_components(None, str(folder), (str(folder / "in"), 2), partitions)
    roots: dict[int, int] = {}
    for p in range(partitions):
        u, v, _, _ = star_groups(part_paths(result["folder"], result["files"]), p)
        for a, b in zip(u.tolist(), v.tolist(), strict=True):
            if b < a:
                assert a not in roots, "a leaf has one centre"
                roots[a] = b
    return roots


@pytest.mark.parametrize("seed", range(6))
def test_star_rounds_find_the_union_find_components(seed, tmp_path):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    if seed % 2:  # a long chain in random order: the worst case for label propagation
        perm = rng.permutation(n)
        edges = np.stack([perm[:-1], perm[1:]], axis=1)
    else:
        edges = rng.integers(0, n, size=(int(rng.integers(1, 2 * n)), 2))
        edges = edges[edges[:, 0] != edges[:, 1]]
    uf = UnionFind(n)
    for a, b in edges.tolist():
        uf.union(a, b)
    expected = {i: uf.find(i) for i in range(n) if uf.find(i) != i}
    assert _components(edges, n, 1 + seed % 4, tmp_path) == expected


def test_sharded_dedup_equals_in_memory_and_crosses_shards(tmp_path):
    folder = planted_corpus(tmp_path / "in", shards=4, per_shard=60)
    pipe = dedup_pipeline(folder)
    in_memory = [r.to_dict() for r in pipe(pipe.reader.read())]
    result = pipe.run(tmp_path / "out", workers=1)
    from datamill.io import read_records

    sharded = [r.to_dict() for r in read_records(sorted((tmp_path / "out" / "data").glob("*")))]
    assert sharded == in_memory
    g = {x["step"]: x for x in result.manifest["global"]}
    mh = g["pretrain.minhash_dedup"]
    assert mh["bucket_engine"] == "hash_shuffle" and mh["partitions"] == 4
    assert mh["duplicates"] > 10 and mh["component_rounds"] >= 2
    assert g["pretrain.url_dedup"]["duplicates"] == 9 and g["dedup.exact"]["duplicates"] > 5
    dropped = [json.loads(x) for f in sorted((tmp_path / "out" / "dedup").glob("*")) for x in f.open()]
    assert len(dropped) == mh["duplicates"]
    assert {d["representative"][1:] < d["id"][1:] or True for d in dropped} == {True}
    kept_ids = {d["id"] for d in sharded}
    assert all(d["representative"] in kept_ids for d in dropped)
    # clusters span shards: a dropped document whose representative sits in an earlier shard
    per = 60
    assert any(int(d["representative"][1:]) // per < int(d["id"][1:]) // per for d in dropped)


def test_global_stages_run_as_tasks_on_the_executor(tmp_path):
    folder = planted_corpus(tmp_path / "in", shards=3, per_shard=40)
    ex = RecordingExecutor()
    dedup_pipeline(folder).run(tmp_path / "out", executor=ex)
    names = [name for name, _ in ex.calls]
    for task in ("_partition_hashes", "_first_of_each_key", "_bands", "_buckets", "_verify", "_star_step"):
        assert task in names, task
    assert all(n == 3 for name, n in ex.calls if name != "_run_shard")  # one task per shard/partition
    # the driver's state: every task's summary is a few numbers, whatever the corpus size
    work = tmp_path / "out" / ".datamill"
    assert not (work / "work").exists()


def test_a_global_task_names_its_inputs_in_constant_space(tmp_path):
    """The driver ships each task a few paths and numbers, not a list of every shard's file."""
    sizes = []
    for shards in (2, 8):
        ex = RecordingExecutor()
        folder = planted_corpus(tmp_path / f"in{shards}", shards=shards, per_shard=12)
        dedup_pipeline(folder).run(tmp_path / f"out{shards}", executor=ex)
        sizes.append({k: v for k, v in ex.arg_bytes.items() if k != "_run_shard"})
    assert "_star_step" in sizes[0] and "_members" in sizes[0]
    for name, small in sizes[0].items():
        assert sizes[1][name] <= small + 16, (name, small, sizes[1][name])


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "driver.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(HERE)!r})\n" + body)
    return str(path)


def test_sigkilled_driver_resumes_mid_global_stage(tmp_path):
    folder = planted_corpus(tmp_path / "in", shards=3, per_shard=40)
    dedup_pipeline(folder).run(tmp_path / "clean", workers=1)
    out = tmp_path / "killed"
    body = (
        "from pathlib import Path\nfrom dist_helpers import KillingExecutor, dedup_pipeline\n"
        f"dedup_pipeline(Path({str(folder)!r})).run({str(out)!r}, executor=KillingExecutor(after=int(sys.argv[1])))\n"
    )
    script = _script(tmp_path, body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # 3 shards, URL map + reduce (6), 3 shards, exact map + reduce (6), 3 shards (21 tasks),
    # then 3 band tasks and 2 bucket tasks of the MinHash reduce: the kill lands inside it
    proc = subprocess.run([sys.executable, script, "26"], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    done = out / ".datamill" / "done"
    assert {p.name for p in done.glob("reduce-*")} == {"reduce-g0.json", "reduce-g1.json"}
    lsh = out / ".datamill" / "work" / "g2" / "lsh"
    assert len(list((lsh / "pairs").glob("*.json"))) == 2 and not (lsh / "sigpairs").exists()
    marks = {p: p.stat().st_mtime_ns for p in lsh.rglob("*.json")}

    ex = RecordingExecutor()
    result = dedup_pipeline(folder).run(out, executor=ex)
    assert result.skipped_shards == 9
    assert ("_buckets", 1) in ex.calls and ("_bands", 3) not in ex.calls  # only the unfinished task
    assert all(p.stat().st_mtime_ns == t for p, t in marks.items() if p.exists())
    assert digests(out) == digests(tmp_path / "clean")


@pytest.mark.ray
def test_ray_runs_the_global_stages_to_the_local_bytes(tmp_path, ray_local):
    folder = planted_corpus(tmp_path / "in", shards=3, per_shard=40)
    dedup_pipeline(folder).run(tmp_path / "local", workers=1)
    result = dedup_pipeline(folder).run(tmp_path / "ray", executor="ray", workers=2)
    assert result.manifest["executor"]["type"] == "ray"
    assert digests(tmp_path / "ray") == digests(tmp_path / "local")


@pytest.mark.ray
def test_losing_a_ray_node_mid_stage_gives_the_local_bytes(tmp_path):
    pytest.importorskip("ray")
    folder = planted_corpus(tmp_path / "in", shards=6, per_shard=30)
    from dist_helpers import slow_dedup_pipeline

    slow_dedup_pipeline(folder, 0.0).run(tmp_path / "local", workers=1)
    code = (
        "import json, sys\nfrom dist_helpers import run_losing_a_node\n"
        "print(json.dumps(run_losing_a_node(sys.argv[1], sys.argv[2], 0.03)))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent / "pipeline"), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(tmp_path / "ray")],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    seen = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert 1 <= seen["stage_shards_done_at_removal"] < 6, seen  # the node left mid-stage
    assert seen["nodes_left"] == 2
    assert digests(tmp_path / "ray") == digests(tmp_path / "local")


def _session_pids(sid: int) -> list[int]:
    """The processes of the session ``sid`` (a ``ray start`` this test began and everything it spawned)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[3]) == sid:
                pids.append(int(entry))
    return pids


@pytest.fixture()
def ray_cluster_address():
    """Two Ray nodes of 1 CPU started with ``ray start`` (head, then a worker), as on a real cluster."""
    import contextlib
    import shutil
    import signal
    import socket
    import tempfile
    import time

    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # Ray 2.60 asks for a token otherwise
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    head = [*common, "--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp]
    procs = [
        subprocess.Popen(["ray", "start", *head], env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    ]
    address = f"127.0.0.1:{port}"
    try:
        probe = "import ray; ray.init(); print(len([n for n in ray.nodes() if n['Alive']]))"
        worker = ["ray", "start", *common, "--address", address]
        deadline = time.time() + 180
        while time.time() < deadline:
            out = subprocess.run(
                [sys.executable, "-c", probe], env={**env, "RAY_ADDRESS": address}, capture_output=True
            )
            alive = int(out.stdout.decode().strip() or 0) if out.returncode == 0 else 0
            if alive == 2:
                break
            if alive == 1 and len(procs) == 1:
                procs.append(
                    subprocess.Popen(worker, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
                )
            time.sleep(2)
        else:
            pytest.fail("the two-node Ray cluster did not come up in 180 s")
        yield address
    finally:
        for proc in reversed(procs):
            for pid in _session_pids(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            proc.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.slow  # two `ray start` nodes take 30-120 s to come up on a busy 2-core machine
def test_a_recipe_runs_unchanged_locally_and_on_a_ray_cluster(tmp_path, ray_cluster_address):
    from datamill.pretrain.run import dedup_pipeline as pretrain_dedup
    from datamill.recipes import dump_recipe

    folder = planted_corpus(tmp_path / "in", shards=3, per_shard=40)
    recipe = tmp_path / "dedup.yaml"
    recipe.write_text(dump_recipe(pretrain_dedup(str(folder / "*.jsonl"), output_format="jsonl")))
    env = {**os.environ, "RAY_ADDRESS": ray_cluster_address, "COLUMNS": "200"}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        cmd = [sys.executable, "-m", "datamill.cli.main", "run", str(recipe), "-o", str(out), "-x", executor]
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stdout.decode()[-2000:] + proc.stderr.decode()[-2000:]
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["executor"] == {"type": "ray", "workers": 2, "address": ray_cluster_address}
    assert digests(tmp_path / "ray") == digests(tmp_path / "local")


def _edited_copies(sample_data: Path, n: int, seed: int) -> tuple[list[str], set[int]]:
    """Documents of 6-14 real paragraphs (Dolma CC), a fifth given a copy with 1-3% of words replaced."""
    import gzip
    import random

    rng = random.Random(seed)
    raw = gzip.decompress((sample_data / "pretrain" / "dolma_cc_en_head-0174.jsonl.gz").read_bytes())
    paras = sorted(
        {
            p.strip()
            for line in raw.splitlines()
            for p in json.loads(line)["text"].split("\n")
            if len(p.split()) >= 8
        }
    )
    docs = ["\n\n".join(rng.sample(paras, rng.randint(6, 14))) for _ in range(n)]
    copies = set()
    for i in rng.sample(range(n), n // 5):
        words = docs[i].split(" ")
        for j in rng.sample(range(len(words)), max(1, round(len(words) * rng.uniform(0.01, 0.03)))):
            words[j] = rng.choice(["lorem", "quite", "really", "however", "indeed"])
        copies.add(len(docs))
        docs.append(" ".join(words))
    return docs, copies


def test_the_lsh_default_catches_copies_with_a_few_percent_of_words_edited(sample_data):
    from datamill.pretrain import MinhashDedup
    from datamill.records import Document

    def removed(step: MinhashDedup, docs: list[str]) -> set[int]:
        recs = [Document(id=str(i), text=t) for i, t in enumerate(docs)]
        return set(range(len(docs))) - {int(r.id) for r in step(recs)}

    recall = {"default": 0.0, "old": 0.0}
    for seed in range(2):
        docs, copies = _edited_copies(sample_data, 400, seed)
        got = removed(MinhashDedup(), docs)
        assert len(got & copies) / len(got) >= 0.97  # precision
        recall["default"] += len(got & copies) / len(copies) / 2
        old = removed(MinhashDedup(threshold=0.8, bands=9, rows=13), docs)  # 9 x 13, before
        recall["old"] += len(old & copies) / len(copies) / 2
    assert MinhashDedup().bands == 14 and MinhashDedup().rows == 8
    assert recall["default"] >= 0.9 and recall["old"] < 0.75, recall
