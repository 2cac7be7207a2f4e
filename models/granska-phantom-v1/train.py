"""Train, export, calibrate and document granska-phantom-v1.

    bash models/granska-phantom-v1/train.sh        (the one documented command; see MODEL_CARD.md)

Steps, all deterministic given the seeds below:
1. `granska phantom` writes synthetic screening exams (small size, MONOCHROME1/2 mixed):
   training, validation (model selection), held-out test (reported metrics) and a calibration
   population with a realistic 1 % cancer fraction.
2. Every view is preprocessed with the NumPy reference of the model contract
   (tests/oracle/reference.py), which is what the Rust service computes to <= 1e-5.
3. A small CNN (strided convolutions, a per-location logit map, log-sum-exp pooling) is trained
   with view labels (a view is positive when its breast holds the lesion) and, for the map,
   the cells where the view differs from its lesion-free twin (`granska phantom
   --lesion-free-twins`); it is exported to ONNX with the pooled probability as its output.
4. Exam scores (max over breasts of the mean of the breast's views) of the calibration population
   give nine decile thresholds (category 1-10) and the 99th percentile (extra-high cut).
5. model.onnx, model.toml (with sha256 and the measured held-out metrics) and MODEL_CARD.md are
   written next to this script.

Seeds 1001-1005 are used here. Tests draw from 9000 upwards, so no test exam was ever seen here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pydicom
import torch
import torch.nn as nn
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "oracle"))
import reference  # noqa: E402

NAME = "granska-phantom-v1"
VERSION = "1.0.0"
H, W = 384, 320
SPEC = reference.Spec(height=H, width=W, normalisation="window", percentiles=(0.5, 99.5),
                      chest_wall="left", crop_threshold=0.05, mean=0.0, std=1.0)
SETS = {  # name: (seed, exams, cancer fraction)
    "train": (1001, 2400, 0.5),
    "train2": (1005, 2400, 0.5),
    "val": (1002, 300, 0.5),
    "test": (1003, 400, 0.5),
    "calib": (1004, 2000, 0.01),
}
TRAIN_SETS = ("train", "train2")
BREAST_AGG = "mean"


def log(msg: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def generate(granska: str, work: Path, name: str):
    """Starts `granska phantom` for one set unless it is already there; returns the process."""
    seed, n, frac = SETS[name]
    out = work / name
    if (out / "labels.csv").exists():
        return None
    log(f"generating {name}: {n} exams, seed {seed}, cancer fraction {frac}")
    return subprocess.Popen([granska, "phantom", "--out", str(out), "--studies", str(n), "--seed", str(seed),
                             "--cancer-fraction", str(frac), "--photometric", "mixed"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def generate_twins(granska: str, work: Path, name: str):
    """Lesion-free twins of the set's lesion exams: the difference is the lesion (a mask)."""
    seed, n, frac = SETS[name]
    out = work / f"{name}-twins"
    if (out / ".done").exists():
        return
    log(f"generating lesion-free twins of {name}")
    subprocess.run([granska, "phantom", "--out", str(out), "--studies", str(n), "--seed", str(seed),
                    "--cancer-fraction", str(frac), "--photometric", "mixed", "--lesion-free-twins"],
                   check=True, stdout=subprocess.DEVNULL)
    (out / ".done").touch()


GRID = (H // 16, W // 16)  # the logit map of Net


def _cells(args):
    """Cells of the logit map the lesion touches: where the view differs from its twin."""
    path, twin, x = args
    d = np.abs(x[0].astype(np.float32) - reference.preprocess(pydicom.dcmread(twin), SPEC)[0])
    cells = d.reshape(GRID[0], 16, GRID[1], 16).max(axis=(1, 3))
    if cells.max() < 1e-4:  # the lesion vanished in preprocessing (e.g. cropped away)
        return np.zeros(GRID, dtype=np.uint8)
    return (cells > 0.3 * cells.max()).astype(np.uint8)


def lesion_cells(work: Path, name: str, x, y):
    cache = work / f"{name}-cells.npy"
    if cache.exists():
        return np.load(cache)
    files = sorted(str(p) for p in (work / name).glob("*/*.dcm"))
    twins = work / f"{name}-twins"
    jobs = [(f, str(twins / Path(f).parent.name / Path(f).name), x[i]) for i, f in enumerate(files) if y[i] > 0]
    log(f"lesion masks for {len(jobs)} views of {name}")
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        masks = list(pool.map(_cells, jobs, chunksize=16))
    out = np.zeros((len(files), *GRID), dtype=np.uint8)
    out[np.nonzero(y > 0)[0]] = np.stack(masks)
    np.save(cache, out)
    return out


def _prep(path: str):
    ds = pydicom.dcmread(path)
    return (str(ds.StudyInstanceUID), str(ds.ImageLaterality), reference.preprocess(ds, SPEC).astype(np.float16))


def load(work: Path, name: str):
    """(tensors [N,1,H,W] f16, study uids, lateralities, exam labels dict, view labels)."""
    d = work / name
    cache = work / f"{name}.npz"
    labels = {}
    lesion_side = {}
    with open(d / "labels.csv") as f:
        for row in csv.DictReader(f):
            labels[row["study_uid"]] = int(row["cancer"])
    with open(d / "lesions.csv") as f:
        for row in csv.DictReader(f):
            lesion_side[row["study_uid"]] = row["laterality"]
    if cache.exists():
        z = np.load(cache)
        x, studies, lats = z["x"], list(z["studies"]), list(z["lats"])
    else:
        files = sorted(str(p) for p in d.glob("*/*.dcm"))
        log(f"preprocessing {name}: {len(files)} views")
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            res = list(pool.map(_prep, files, chunksize=16))
        studies = [r[0] for r in res]
        lats = [r[1] for r in res]
        x = np.stack([r[2] for r in res])
        np.savez(cache, x=x, studies=np.array(studies), lats=np.array(lats))
    y = np.array([1.0 if lesion_side.get(s) == l else 0.0 for s, l in zip(studies, lats)], dtype=np.float32)
    return x, studies, lats, labels, y


class Net(nn.Module):
    """~60 k parameters: strided convolutions to a 24x20 logit map, log-sum-exp pooled."""

    def __init__(self):
        super().__init__()

        def block(cin, cout, k, s):
            return [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(1, 8, 5, 2), *block(8, 16, 3, 2), *block(16, 16, 3, 1),
            *block(16, 32, 3, 2), *block(32, 32, 3, 1), *block(32, 64, 3, 2), *block(64, 64, 3, 1),
        )
        self.head = nn.Conv2d(64, 1, 1)
        self.r = 4.0

    def logits(self, x):
        """(per-cell logits [N, cells], pooled view logit [N, 1])."""
        m = self.head(self.features(x)).flatten(1)
        # Log-sum-exp pooling: between mean and max, so a small lesion anywhere can drive the view.
        logit = (torch.logsumexp(self.r * m, dim=1, keepdim=True) - np.log(m.shape[1])) / self.r
        return m, logit

    def forward(self, x):
        return torch.sigmoid(self.logits(x)[1])


def predict_torch(net, x, bs=64):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out.append(net(torch.from_numpy(x[i:i + bs].astype(np.float32))).numpy()[:, 0])
    return np.concatenate(out)


def exam_scores(p, studies, lats):
    views = {}
    for pi, s, l in zip(p, studies, lats):
        views.setdefault(s, []).append((l, float(pi)))
    return {s: reference.aggregate(v, BREAST_AGG) for s, v in views.items()}


def exam_auc(p, studies, lats, labels):
    sc = exam_scores(p, studies, lats)
    keys = sorted(sc)
    return roc_auc_score([labels[k] for k in keys], [sc[k] for k in keys]), sc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--granska", default=str(ROOT / "target" / "release" / "granska"))
    ap.add_argument("--work", default=str(ROOT / ".cache" / "train-phantom-v1"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--export-only", action="store_true", help="skip training; export the saved best.pt")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    np.random.seed(7)
    torch.set_num_threads(os.cpu_count())

    procs = [generate(args.granska, work, name) for name in SETS]
    for p in procs:
        if p is not None and p.wait() != 0:
            raise SystemExit(f"granska phantom failed: {p.args}")
    parts = []
    for name in TRAIN_SETS:
        generate_twins(args.granska, work, name)
        x, _, _, _, y = load(work, name)
        parts.append((x, y, lesion_cells(work, name, x, y).reshape(len(x), -1)))
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    ctr = np.concatenate([p[2] for p in parts]).astype(np.float32)
    del parts
    log(f"lesion cells: {int((ctr.sum(1) > 0).sum())} positive views with a mask, {ctr.sum(1)[ytr > 0].mean():.1f} cells each")
    xva, sva, lva, labva, _ = load(work, "val")
    log(f"train views {len(xtr)} (positive {int(ytr.sum())}), val views {len(xva)}")

    net = Net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(xtr) + 31) // 32)
    # A peak of 3e-3 trained well on 2400 exams once and collapsed (AUC 0.5) on 4800: keep the
    # peak lower and clip gradients; the positively weighted cell loss can spike early on.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.5e-3, total_steps=steps, pct_start=0.2)
    lossf = nn.BCEWithLogitsLoss()
    cell_loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(10.0))
    best = (-1.0, None)
    for epoch in range(0 if args.export_only else args.epochs):
        net.train()
        perm = np.random.permutation(len(xtr))
        t0, total = time.time(), 0.0
        for i in range(0, len(perm), 32):
            idx = np.sort(perm[i:i + 32])
            xb = torch.from_numpy(xtr[idx].astype(np.float32))
            cb = torch.from_numpy(ctr[idx]).view(-1, 1, *GRID)
            if np.random.rand() < 0.5:  # up/down mirror keeps the chest wall on the left
                xb, cb = xb.flip(2), cb.flip(2)
            xb = xb * float(np.random.uniform(0.9, 1.1))
            yb = torch.from_numpy(ytr[idx])[:, None]
            opt.zero_grad()
            cells, logit = net.logits(xb)
            # View label, plus where the lesion is (from the twin): dense supervision learns
            # from far fewer exams than the view label alone.
            loss = lossf(logit, yb) + cell_loss(cells, cb.flatten(1))
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        auc, _ = exam_auc(predict_torch(net, xva), sva, lva, labva)
        log(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(perm):.4f}, val exam AUC {auc:.4f}, {time.time() - t0:.0f} s")
        if auc > best[0]:
            best = (auc, {k: v.clone() for k, v in net.state_dict().items()})
        torch.save(dict(auc=best[0], state=best[1]), work / "best.pt")
    saved = torch.load(work / "best.pt")
    best = (saved["auc"], None)
    net.load_state_dict(saved["state"])
    net.eval()

    onnx_path = HERE / "model.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, H, W), str(onnx_path), input_names=["image"],
                      output_names=["probability"], dynamic_axes={"image": {0: "n"}, "probability": {0: "n"}},
                      opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def predict_ort(x, bs=64):
        return np.concatenate([sess.run(None, {"image": x[i:i + bs].astype(np.float32)})[0][:, 0]
                               for i in range(0, len(x), bs)])

    diff = float(np.abs(predict_ort(xva[:64]) - predict_torch(net, xva[:64])).max())
    log(f"exported {onnx_path} ({onnx_path.stat().st_size} bytes); ORT vs torch max diff {diff:.2e}")

    xc, sc_, lc, labc, _ = load(work, "calib")
    calib = exam_scores(predict_ort(xc), sc_, lc)
    normals = np.array([v for k, v in calib.items()])
    thresholds = [float(np.quantile(normals, k / 10)) for k in range(1, 10)]
    extra_high = float(np.quantile(normals, 0.99))
    cats = [reference.category(v, thresholds) for v in normals]
    log(f"calibration thresholds {thresholds}, extra-high {extra_high}; categories {np.bincount(cats, minlength=11)[1:]}")

    xte, ste, lte, labte, _ = load(work, "test")
    test_auc, test_sc = exam_auc(predict_ort(xte), ste, lte, labte)
    cancers = [k for k in test_sc if labte[k] == 1]
    normals_te = [k for k in test_sc if labte[k] == 0]
    sens10 = sum(test_sc[k] >= thresholds[-1] for k in cancers) / len(cancers)
    sens_xh = sum(test_sc[k] >= extra_high for k in cancers) / len(cancers)
    spec10 = sum(test_sc[k] < thresholds[-1] for k in normals_te) / len(normals_te)
    log(f"held-out test: exam AUC {test_auc:.4f}, sensitivity at category 10 {sens10:.3f}, "
        f"specificity {spec10:.3f}, sensitivity at extra-high {sens_xh:.3f}")

    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    metrics = dict(test_exam_auc=round(test_auc, 4), test_sensitivity_category_10=round(sens10, 4),
                   test_specificity_category_10=round(spec10, 4), test_sensitivity_extra_high=round(sens_xh, 4),
                   test_exams=len(test_sc), test_cancers=len(cancers), val_exam_auc=round(best[0], 4))
    write_toml(sha, thresholds, extra_high, metrics)
    calib_counts = np.bincount(cats, minlength=11)[1:].tolist()
    write_card(sha, thresholds, extra_high, metrics, calib_counts, sum(p.numel() for p in net.parameters()),
               onnx_path.stat().st_size, diff)
    (HERE / "metrics.json").write_text(json.dumps(dict(metrics, thresholds=thresholds, extra_high=extra_high,
                                                       ort_vs_torch_max_diff=diff, seeds=SETS), indent=2) + "\n")
    log(f"wrote model.toml (sha256 {sha})")


def write_toml(sha, thresholds, extra_high, m):
    fmt = lambda xs: "[" + ", ".join(repr(float(x)) for x in xs) + "]"  # noqa: E731
    (HERE / "model.toml").write_text(f'''# Model contract of granska-phantom-v1 (see crates/granska-model and MODEL_CARD.md).
# Written by train.py; edit only by retraining.

[identity]
name = "{NAME}"
version = "{VERSION}"
sha256 = "{sha}"
intended_use = "Software testing and demonstration of the Granska pipeline on synthetic phantoms. NOT FOR CLINICAL USE."
training_data = "Synthetic mammography phantoms from `granska phantom` (seeds {', '.join(str(SETS[t][0]) for t in TRAIN_SETS)}, validation {SETS['val'][0]}); no patient data."

[identity.metrics]
# Held-out synthetic phantoms (seed {SETS['test'][0]}, {m['test_exams']} exams, {m['test_cancers']} with a lesion). Not clinical performance.
exam_auc = {m['test_exam_auc']}
sensitivity_category_10 = {m['test_sensitivity_category_10']}
specificity_category_10 = {m['test_specificity_category_10']}
sensitivity_extra_high = {m['test_sensitivity_extra_high']}

[input]
name = "image"
shape = [-1, 1, {H}, {W}]
dtype = "float32"

[preprocess]
normalisation = "{SPEC.normalisation}"
percentiles = {fmt(SPEC.percentiles)}
chest_wall = "{SPEC.chest_wall}"
crop_threshold = {SPEC.crop_threshold}
mean = {SPEC.mean}
std = {SPEC.std}

[output]
name = "probability"
meaning = "per-view malignancy probability"

[aggregation]
breast = "{BREAST_AGG}"
exam = "max"

[calibration]
# Exam-score deciles of a synthetic screening population (seed {SETS['calib'][0]}, {SETS['calib'][1]} exams, 1 % with a lesion).
thresholds = {fmt(thresholds)}
extra_high = {extra_high!r}
''')


def write_card(sha, thresholds, extra_high, m, calib_counts, params, onnx_bytes, ort_diff):
    seeds = "\n".join(f"| {k} | {v[0]} | {v[1]} | {v[2]:.0%} |" for k, v in SETS.items())
    cats = " | ".join(str(c) for c in calib_counts)
    (HERE / "MODEL_CARD.md").write_text(f"""# Model card: {NAME} {VERSION}

**This model is not for clinical use.** It was trained and evaluated only on synthetic
mammography phantoms. It has never been evaluated on real mammograms, and no clinical
performance is claimed. It exists so that Granska's pipeline (decode, preprocess, batched
inference, calibration, triage) can be built, tested and benchmarked end to end without patient data.

| | |
|---|---|
| Name / version | `{NAME}` / `{VERSION}` |
| sha256 of `model.onnx` | `{sha}` |
| Size | {onnx_bytes} bytes, {params} parameters |
| Intended use | Software testing and demonstration on synthetic phantoms. Not for clinical use. |
| Training data | Synthetic phantoms from `granska phantom` (no patient data) |
| Input | `image`: float32 `[N, 1, {H}, {W}]`, preprocessed as in `model.toml` |
| Output | `probability`: float32 `[N, 1]`, per-view probability that the view shows a lesion |
| Aggregation | breast = {BREAST_AGG} of its views; exam = max of the two breasts |

## Architecture
Seven convolution blocks (5×5 then 3×3 kernels, batch norm folded at export, ReLU), four of them
with stride 2, then a 1×1 convolution to a 24×20 map of logits, pooled with log-sum-exp (r = 4)
and a sigmoid. Log-sum-exp pooling lets a small lesion anywhere drive the view's score.

## Data
`granska phantom --photometric mixed`, small size (512 × 427 px at 0.45 mm). A lesion is a
circumscribed or spiculated mass or a calcification cluster in one breast, drawn in both of its
views, with log-uniform contrast from subtle to obvious. A view is labelled positive when its
breast holds the lesion; the cells of the logit map that the lesion touches (where the view
differs from its lesion-free twin, `granska phantom --lesion-free-twins`) are supervised too.

| set | seed | exams | with lesion |
|---|---|---|---|
{seeds}

Tests use seeds from 9000 upwards, never used here.

## Held-out results (synthetic test set, seed {SETS['test'][0]})
| metric | value |
|---|---|
| exam-level AUC | {m['test_exam_auc']:.4f} |
| sensitivity at category 10 | {m['test_sensitivity_category_10']:.4f} |
| specificity at category 10 | {m['test_specificity_category_10']:.4f} |
| sensitivity at the extra-high cut | {m['test_sensitivity_extra_high']:.4f} |
| exams / with lesion | {m['test_exams']} / {m['test_cancers']} |
| validation exam AUC (model selection, seed {SETS['val'][0]}) | {m['val_exam_auc']:.4f} |

These numbers describe separating synthetic lesions from synthetic normal tissue. They say
nothing about cancer detection in women.

## Calibration
Exam scores of a synthetic screening population (seed {SETS['calib'][0]}, {SETS['calib'][1]} exams, 1 % with a
lesion) give the nine decile cuts (category = 1 + the number of cuts the score reaches) and the
99th percentile as the extra-high-risk cut:

- thresholds: `{[round(t, 6) for t in thresholds]}`
- extra-high: `{extra_high:.6f}`
- categories 1–10 on that population: {cats}

ONNX Runtime and PyTorch outputs agree to {ort_diff:.1e} on validation views.

## Reproduce
`bash models/granska-phantom-v1/train.sh` (CPU, about 45 minutes on 2 cores; PyTorch from PyPI, which pulls its CUDA libraries too: about 6 GB in `.venv-train`).
It regenerates the phantoms, trains, exports, calibrates and rewrites `model.onnx`,
`model.toml`, this card and `metrics.json`. CI does not retrain; `cargo test -p granska-model`
checks the committed files against this card.
""")


if __name__ == "__main__":
    main()
