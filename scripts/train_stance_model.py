"""Train the stance model of the claim-aware contradiction mode (``src/datamill/data/contradiction/stance_minilm.npz``).

Model (``datamill.diagnose.stance``): an alignment network (decomposable attention / ESIM style) over the
frozen last-layer token states of the shipped all-MiniLM-L6-v2: premise and hypothesis tokens are softly
aligned with each other, compared, pooled, and classified contradiction / entailment / neutral.

Data: the public NLI samples of ``scripts/train_contradiction_model.py`` (``tests/data/nli``; sources and
licences in ``tests/data/README.md``): SNLI 1.0 dev + 1,000 MultiNLI matched pairs, plus ``--unrelated``
neutral pairs of two different training premises; 10% kept apart for the checkpoint and the threshold.
Held out: SNLI 1.0 test and 1,000 MultiNLI mismatched pairs. ``--claims`` also trains on the
claim/evidence pairs of CLIMATE-FEVER's tuning half (``claim_half`` 0; half 1 is only ever reported on).
The claim-aware mode's default thresholds (``info["stance_thresholds"]``) are the best entailment and
contradiction F1 with precision >= ``--min-precision`` on the validation part; ``benchmarks/
diagnose_contradictions.py --only claims --write-stance PATH`` replaces them by those tuned on CLIMATE-FEVER
half 0.

    nice -n 5 python scripts/train_stance_model.py                 # writes the shipped weights
    nice -n 5 python scripts/train_stance_model.py --out /tmp/s.npz --minutes 3
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
OUT = ROOT / "src" / "datamill" / "data" / "contradiction" / "stance_minilm.npz"

from train_contradiction_model import (  # noqa: E402
    CLASSES,
    HELD_OUT,
    TRAIN,
    best_threshold,
    claim_pairs,
    load_pairs,
    prf,
    unrelated_pairs,
)

from datamill.diagnose.stance import PARAMS, StanceModel  # noqa: E402


def token_states(texts: list[str], cache: Path | None, batch: int = 128) -> dict:
    """Last-layer MiniLM token states (float16 tensors) of ``texts``, kept in ``cache`` (a dict file)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from datamill.embed import default_model_path

    have: dict = torch.load(cache) if cache is not None and cache.exists() else {}
    new = sorted({t for t in texts if t not in have}, key=len)
    if new:
        tok = AutoTokenizer.from_pretrained(default_model_path())
        base = AutoModel.from_pretrained(default_model_path()).eval()
        for s in range(0, len(new), batch):
            x = tok(new[s : s + batch], padding=True, truncation=True, max_length=64, return_tensors="pt")
            with torch.inference_mode():
                h = base(**x).last_hidden_state
            for i, t in enumerate(new[s : s + batch]):
                have[t] = h[i, : int(x["attention_mask"][i].sum())].half().clone()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save(have, cache)
    return have


def build(d: int, hidden: int, n_classes: int = 3):  # noqa: ANN201
    """The torch twin of :class:`StanceModel` (same parameters, batched with padding masks)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(384, d)
            self.cmp = nn.Linear(4 * d, d)
            self.hid = nn.Linear(4 * d, hidden)
            self.out = nn.Linear(hidden, n_classes)
            self.drop = nn.Dropout(0.2)

        def forward(self, a, am, b, bm):  # noqa: ANN001, ANN202
            a, b = self.proj(a), self.proj(b)
            e = a @ b.transpose(1, 2)  # (B, n, m)
            a_t = torch.softmax(e + (1 - bm)[:, None, :] * -1e4, dim=2) @ b
            b_t = torch.softmax(e.transpose(1, 2) + (1 - am)[:, None, :] * -1e4, dim=2) @ a

            def compare(x, y, m):  # noqa: ANN001, ANN202
                c = torch.relu(self.cmp(self.drop(torch.cat([x, y, x - y, x * y], -1)))) * m[..., None]
                return torch.cat([c.sum(1) / m.sum(1, keepdim=True), c.max(1).values], -1)

            pooled = torch.cat([compare(a, a_t, am), compare(b, b_t, bm)], -1)
            return self.out(self.drop(torch.relu(self.hid(self.drop(pooled)))))

    return Net()


def batch_states(states: dict, texts: list[str]):  # noqa: ANN201
    import torch

    n = max(len(states[t]) for t in texts)
    x = torch.zeros(len(texts), n, 384)
    m = torch.zeros(len(texts), n)
    for i, t in enumerate(texts):
        x[i, : len(states[t])] = states[t].float()
        m[i, : len(states[t])] = 1
    return x, m


def predict(net, states: dict, rows: list[dict], batch: int = 256) -> np.ndarray:  # noqa: ANN001
    import torch

    net.eval()
    out = []
    for s in range(0, len(rows), batch):
        chunk = rows[s : s + batch]
        a, am = batch_states(states, [r["premise"] for r in chunk])
        b, bm = batch_states(states, [r["hypothesis"] for r in chunk])
        with torch.inference_mode():
            out.append(torch.softmax(net(a, am, b, bm), -1).numpy())
    net.train()
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--dim", type=int, default=128, help="projected token size")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--minutes", type=float, default=15.0, help="training time box")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unrelated", type=int, default=4000, help="neutral pairs of two different premises")
    ap.add_argument("--min-precision", type=float, default=0.7)
    ap.add_argument("--claims", action="store_true", help="also train on CLIMATE-FEVER half 0 claim/evidence")
    ap.add_argument("--states", default="/tmp/datamill-nli-cache/stance-states.pt", help="token state cache")
    a = ap.parse_args()
    import torch

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    train = [r for n in TRAIN for r in load_pairs(n)]
    if a.claims:
        train += claim_pairs(0)
    held = {n: load_pairs(n) for n in HELD_OUT}
    texts = [t for rows in [train, *held.values()] for r in rows for t in (r["premise"], r["hypothesis"])]
    states = token_states(texts, Path(a.states) if a.states else None)
    print(f"token states of {len(set(texts)):,} sentences in {time.perf_counter() - t0:.0f} s", flush=True)
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(train))
    n_val = len(train) // 10
    val = [train[i] for i in perm[:n_val]]
    fit = [train[i] for i in perm[n_val:]]
    vec = {}
    for t in {r["premise"] for r in fit}:
        v = states[t].float().mean(0).numpy()
        vec[t] = v / np.linalg.norm(v)
    fit += unrelated_pairs(fit, vec, a.unrelated, rng)
    y = torch.tensor([CLASSES.index(r["label"]) for r in fit])
    y_val = np.array([CLASSES.index(r["label"]) for r in val])
    net = build(a.dim, a.hidden)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    best, best_state, log = -1.0, None, []
    deadline = time.perf_counter() + a.minutes * 60
    for epoch in range(a.epochs):
        order = rng.permutation(len(fit))
        for s in range(0, len(order), a.batch):
            idx = order[s : s + a.batch]
            xa, ma = batch_states(states, [fit[i]["premise"] for i in idx])
            xb, mb = batch_states(states, [fit[i]["hypothesis"] for i in idx])
            loss = lossf(net(xa, ma, xb, mb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        pv = predict(net, states, val)
        acc = float((pv.argmax(1) == y_val).mean())
        log.append({"epoch": epoch, "val_accuracy": round(acc, 4)})
        print(
            f"epoch {epoch} loss {loss.item():.3f} val acc {acc:.3f} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
        if time.perf_counter() > deadline:
            break
    net.load_state_dict(best_state)
    net.eval()
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    params = {
        "proj_w": sd["proj.weight"].T, "proj_b": sd["proj.bias"],
        "cmp_w": sd["cmp.weight"].T, "cmp_b": sd["cmp.bias"],
        "hid_w": sd["hid.weight"].T, "hid_b": sd["hid.bias"],
        "out_w": sd["out.weight"].T, "out_b": sd["out.bias"],
    }  # fmt: skip
    assert set(params) == set(PARAMS)
    model = StanceModel(
        {k: v.astype(np.float16).astype(np.float32) for k, v in params.items()}, CLASSES, 0.5, {}
    )
    pv = predict(net, states, val)
    threshold = best_threshold(pv[:, 0], y_val == 0, a.min_precision)
    model.threshold = threshold
    stance = {  # the claim-aware mode's defaults, from the same validation part
        "support": best_threshold(pv[:, 1], y_val == 1, a.min_precision),
        "refute": threshold,
        "from": f"best entailment / contradiction F1 with precision >= {a.min_precision} on the validation part",
    }
    # the numpy twin gives what the torch net gives
    r0 = val[0]
    want = pv[0]
    got = model.probabilities_projected(
        [
            (
                model.project(states[r0["premise"]].float().numpy()),
                model.project(states[r0["hypothesis"]].float().numpy()),
            )
        ]
    )[0]
    assert np.allclose(want, got, atol=0.02), (want, got)
    scores = {}
    for name, rows in held.items():
        ph = predict(net, states, rows)
        yh = np.array([CLASSES.index(r["label"]) for r in rows])
        scores[name] = {
            **prf(ph[:, 0] >= threshold, yh == 0),
            "accuracy_3way": round(float((ph.argmax(1) == yh).mean()), 4),
            "pairs": len(rows),
        }
        print(f"{name}: {scores[name]}", flush=True)
    model.info = {
        "base": "all-MiniLM-L6-v2 last-layer token states (frozen)",
        "architecture": f"alignment network, projected size {a.dim}, head {a.hidden}",
        "trained_on": {n: len(load_pairs(n)) for n in TRAIN}
        | ({"climate_fever_half0_claim_evidence": len(claim_pairs(0))} if a.claims else {}),
        "unrelated_neutral_pairs": a.unrelated,
        "epochs_run": len(log),
        "threshold_from": f"best contradiction F1 with precision >= {a.min_precision} on a 10% validation part",
        "validation_log": log,
        "held_out": scores,
        "stance_thresholds": stance,
        "script": "scripts/train_stance_model.py",
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(
        f"threshold {threshold:.2f}; wrote {a.out} ({Path(a.out).stat().st_size / 1e6:.2f} MB) in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    main()
