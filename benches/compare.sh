#!/usr/bin/env bash
# Granska against the Python reference pipeline on the same exams, in one run (release build):
# prints both throughputs, the ratio, the largest exam-score difference, and Granska's pipeline
# time over its pure inference time.
#
#   bash benches/compare.sh [EXAMS] [SIZE]      (defaults: 20 full)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
exams="${1:-20}"; size="${2:-full}"
cargo build --release --bin granska
g=$(realpath "${CARGO_TARGET_DIR:-target}")/release/granska
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
$g phantom --out "$work/exams" --studies "$exams" --seed 2024 --size "$size" --cancer-fraction 0.3 > /dev/null
echo "== $exams $size-size phantom exams; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
$g bench --data "$work/exams" --json --scores-out "$work/granska.csv" > "$work/granska.json"
# One exam at a time on one ONNX Runtime thread: Granska on one core.
$g bench --data "$work/exams" --json --jobs 1 --threads 1 > "$work/granska-1.json"
python benches/python/reference_pipeline.py "$work/exams" models/granska-phantom-v1 --scores-out "$work/reference.csv" > "$work/reference.json"
python - "$work" <<'PY'
import csv, json, sys
w = sys.argv[1]
g, r = json.load(open(f"{w}/granska.json")), json.load(open(f"{w}/reference.json"))
gs = {row["study_uid"]: float(row["exam_score"]) for row in csv.DictReader(open(f"{w}/granska.csv"))}
rs = {row["study_uid"]: float(row["exam_score"]) for row in csv.DictReader(open(f"{w}/reference.csv"))}
assert gs.keys() == rs.keys(), "the two pipelines scored different exams"
diff = max(abs(gs[k] - rs[k]) for k in gs)
print(f"granska   : {g['exams_per_s']:.2f} exams/s, {g['views_per_s']:.1f} views/s ({g['jobs']} jobs, ONNX Runtime {g['onnxruntime']['runtime']})")
print(f"reference : {r['exams_per_s']:.2f} exams/s, {r['views_per_s']:.1f} views/s (onnxruntime {r['onnxruntime']}, numpy {r['numpy']}, pydicom {r['pydicom']})")
g1 = json.load(open(f"{w}/granska-1.json"))
print(f"granska 1 : {g1['exams_per_s']:.2f} exams/s with --jobs 1 --threads 1 (one core)")
print(f"ratio     : {g['exams_per_s'] / r['exams_per_s']:.1f}x ({g['jobs']} jobs), {g1['exams_per_s'] / r['exams_per_s']:.1f}x (1 job, 1 thread)")
print(f"largest exam-score difference: {diff:.2e}")
print(f"granska pipeline wall time / pure inference (ORT run) time: {g['pipeline_over_inference']:.1f}")
for s in ("decode", "preprocess", "infer"):
    print(f"  {s:<10} per exam p50: granska {g['stages_ms_per_exam'][s]['p50']:.1f} ms, reference {r['stages_ms_per_exam'][s]['p50']:.1f} ms")
PY
