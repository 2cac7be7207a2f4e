"""The pipeline a researcher would otherwise write in Python: pydicom (+ pylibjpeg) decoding,
NumPy preprocessing of the model's spec (tests/oracle/reference.py), Python onnxruntime, and
the same aggregation (per breast, then per exam) and calibration as Granska.

usage: reference_pipeline.py DATA_DIR MODEL_DIR [--scores-out CSV] [--warmup N]

Prints a JSON report (throughput and per-stage times) on stdout.
"""
import argparse
import json
import os
import pathlib
import sys
import time
import tomllib

import numpy as np
import onnxruntime as ort
import pydicom

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "oracle"))
import reference  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("model")
ap.add_argument("--scores-out")
ap.add_argument("--warmup", type=int, default=2)
args = ap.parse_args()

card = tomllib.loads((pathlib.Path(args.model) / "model.toml").read_text())
spec = reference.Spec.from_model_toml(str(pathlib.Path(args.model) / "model.toml"))
sess = ort.InferenceSession(str(pathlib.Path(args.model) / "model.onnx"), providers=["CPUExecutionProvider"])
input_name, output_name = card["input"]["name"], card["output"]["name"]
thresholds, extra_high = card["calibration"]["thresholds"], card["calibration"]["extra_high"]
breast_rule, exam_rule = card["aggregation"]["breast"], card["aggregation"]["exam"]

exams = {}
for path in sorted(pathlib.Path(args.data).rglob("*.dcm")):
    uid = pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID
    exams.setdefault(uid, []).append(path)


def score(paths):
    t0 = time.perf_counter()
    datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        ds.pixel_array  # decode (pydicom caches it)
    t1 = time.perf_counter()
    batch = np.stack([reference.preprocess(ds, spec) for ds in datasets])
    t2 = time.perf_counter()
    probs = sess.run([output_name], {input_name: batch})[0].reshape(-1)
    t3 = time.perf_counter()
    views = [(ds.ImageLaterality, float(p)) for ds, p in zip(datasets, probs)]
    exam = reference.aggregate(views, breast_rule, exam_rule)
    return exam, (t1 - t0, t2 - t1, t3 - t2)


uids = sorted(exams)
for uid in uids[: args.warmup]:
    score(exams[uid])
start = time.perf_counter()
rows, stages = [], []
for uid in uids:
    s, t = score(exams[uid])
    rows.append((uid, s, reference.category(s, thresholds), s >= extra_high))
    stages.append(t)
wall = time.perf_counter() - start
n_views = sum(len(exams[u]) for u in uids)
if args.scores_out:
    with open(args.scores_out, "w") as f:
        f.write("study_uid,exam_score,category\n")
        for uid, s, c, _ in rows:
            f.write(f"{uid},{s!r},{c}\n")


def pct(xs):
    xs = sorted(x * 1e3 for x in xs)
    at = lambda q: xs[round((len(xs) - 1) * q)]  # noqa: E731
    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "mean": sum(xs) / len(xs)}


print(json.dumps({
    "pipeline": "python reference (pydicom + NumPy/SciPy + onnxruntime)",
    "onnxruntime": ort.__version__,
    "numpy": np.__version__,
    "pydicom": pydicom.__version__,
    "exams": len(uids),
    "views": n_views,
    "wall_s": wall,
    "exams_per_s": len(uids) / wall,
    "views_per_s": n_views / wall,
    "stages_ms_per_exam": {k: pct([s[i] for s in stages]) for i, k in enumerate(["decode", "preprocess", "infer"])},
    "cpus": os.cpu_count(),
}, indent=2))
