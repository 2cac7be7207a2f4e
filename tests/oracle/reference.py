"""NumPy reference implementation of Granska's model contract.

An independent implementation of the preprocessing spec, aggregation and calibration in
`crates/granska-model` (see its `preprocess.rs` and ARCHITECTURE.md). It is used three ways:

- the oracle tests compare Rust's tensors with these (max abs diff <= 1e-5);
- `models/granska-phantom-v1/train.py` prepares its training tensors with it, so the shipped model
  sees exactly what the Rust service feeds it;
- researchers can read it as the executable statement of the spec.

It deliberately shares no code with the Rust side: the connected components come from SciPy,
the resampling is a dense weight matrix, the percentiles are NumPy's.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass

import numpy as np
import pydicom
from scipy import ndimage


@dataclass
class Spec:
    height: int
    width: int
    normalisation: str = "window"  # window | percentile | fixed
    percentiles: tuple[float, float] = (0.5, 99.5)
    fixed: tuple[float, float] = (0.0, 4095.0)
    chest_wall: str = "left"  # left | right
    crop_threshold: float = 0.05
    mean: float = 0.0
    std: float = 1.0

    @staticmethod
    def from_model_toml(path: str) -> "Spec":
        with open(path, "rb") as f:
            t = tomllib.load(f)
        shape = t["input"]["shape"]
        p = t["preprocess"]
        return Spec(
            height=shape[2],
            width=shape[3],
            normalisation=p["normalisation"],
            percentiles=tuple(p.get("percentiles", (0.5, 99.5))),
            fixed=tuple(p.get("fixed", (0.0, 4095.0))),
            chest_wall=p["chest_wall"],
            crop_threshold=p["crop_threshold"],
            mean=p.get("mean", 0.0),
            std=p.get("std", 1.0),
        )


def _multi(v):
    if v is None:
        return []
    if isinstance(v, pydicom.multival.MultiValue):
        return [float(x) for x in v]
    return [float(v)]


def stored_values(ds) -> np.ndarray:
    """Stored pixel values of the first frame, as float64 (pydicom applies Bits Stored and sign)."""
    a = ds.pixel_array
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected one sample per pixel, found shape {a.shape}")
    return a.astype(np.float64)


def normalise(ds, x: np.ndarray, spec: Spec) -> np.ndarray:
    """Rescale, then window or normalise into [0, 1]; MONOCHROME1 is inverted afterwards."""
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    x = x * slope + intercept
    centers = _multi(ds.get("WindowCenter"))
    widths = _multi(ds.get("WindowWidth"))
    mode = spec.normalisation
    if mode == "window" and not (centers and widths and widths[0] > 0):
        mode = "percentile"  # the documented fallback when the header has no usable window
    if mode == "window":
        c, w = centers[0], widths[0]
        fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        if fn == "SIGMOID":
            v = 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
        elif fn == "LINEAR_EXACT":
            v = np.clip((x - c) / w + 0.5, 0.0, 1.0)
        else:
            if w < 1:
                w = 1.0
            v = np.clip((x - (c - 0.5)) / (w - 1.0) + 0.5, 0.0, 1.0) if w > 1 else (x > c - 0.5).astype(np.float64)
    else:
        if mode == "percentile":
            lo, hi = np.percentile(x, spec.percentiles, method="linear")
        else:
            lo, hi = spec.fixed
        v = np.clip((x - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(x)
    if str(ds.PhotometricInterpretation).strip() == "MONOCHROME1":
        v = 1.0 - v
    return v


def chest_wall_on_right(ds, v: np.ndarray) -> bool:
    po = ds.get("PatientOrientation")
    vals = [str(s).strip().upper() for s in (po if isinstance(po, pydicom.multival.MultiValue) else [po] if po else [])]
    if vals and vals[0]:
        if vals[0].startswith("P"):
            return True
        if vals[0].startswith("A"):
            return False
    w = v.shape[1]
    half = w // 2
    return float(v[:, w - half :].sum()) > float(v[:, :half].sum())


def crop_box(v: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    mask = v > threshold
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        raise ValueError("no breast tissue found")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    best = int(np.argmax(sizes))  # ties: lowest label = first in raster order
    rows = np.nonzero((labels == best).any(axis=1))[0]
    cols = np.nonzero((labels == best).any(axis=0))[0]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Antialiased linear (triangle) resampling weights, PIL-style: support scales with the
    reduction factor, pixel centres at +0.5, each row normalised to sum 1."""
    s = n_in / n_out
    support = max(s, 1.0)
    centres = (np.arange(n_out) + 0.5) * s
    j = np.arange(n_in) + 0.5
    w = np.maximum(0.0, 1.0 - np.abs((j[None, :] - centres[:, None]) / support))
    return w / w.sum(axis=1, keepdims=True)


def fit_size(h: int, w: int, H: int, W: int) -> tuple[int, int]:
    scale = min(H / h, W / w)
    nh = min(H, max(1, math.floor(h * scale + 0.5)))
    nw = min(W, max(1, math.floor(w * scale + 0.5)))
    return nh, nw


def preprocess(ds, spec: Spec) -> np.ndarray:
    """One view -> float32 tensor [1, H, W]."""
    v = normalise(ds, stored_values(ds), spec)
    if chest_wall_on_right(ds, v) != (spec.chest_wall == "right"):
        v = v[:, ::-1]
    r0, r1, c0, c1 = crop_box(v, spec.crop_threshold)
    crop = v[r0:r1, c0:c1]
    nh, nw = fit_size(crop.shape[0], crop.shape[1], spec.height, spec.width)
    small = resample_matrix(crop.shape[0], nh) @ crop @ resample_matrix(crop.shape[1], nw).T
    out = np.zeros((spec.height, spec.width), dtype=np.float64)
    top = (spec.height - nh) // 2
    left = 0 if spec.chest_wall == "left" else spec.width - nw
    out[top : top + nh, left : left + nw] = small
    out = (out - spec.mean) / spec.std
    return out.astype(np.float32)[None]


def aggregate(views: list[tuple[str, float]], breast: str = "max", exam: str = "max") -> float:
    """views: (laterality, probability). Breast score = max or mean of its views; exam score =
    max or mean of the breast scores (model.toml's [aggregation] breast and exam)."""
    by = {}
    for lat, p in views:
        by.setdefault(lat, []).append(p)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    f = max if breast == "max" else mean
    g = max if exam == "max" else mean
    return g([f(ps) for ps in by.values()])


def category(score: float, thresholds: list[float]) -> int:
    return 1 + sum(1 for t in thresholds if score >= t)


def _main(argv: list[str]) -> None:
    """Oracle commands for the Rust tests:

    preprocess SPEC_JSON OUT_DIR FILE...   writes OUT_DIR/<i>.npy ([1, H, W] float32) per file
    ort MODEL_ONNX INPUT_NAME TENSOR_NPY   prints the model's outputs as JSON ([N, 1, H, W] input)
    """
    import json
    import os

    cmd = argv[0]
    if cmd == "preprocess":
        d = json.loads(argv[1])
        spec = Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        os.makedirs(argv[2], exist_ok=True)
        for i, f in enumerate(argv[3:]):
            np.save(os.path.join(argv[2], f"{i}.npy"), preprocess(pydicom.dcmread(f), spec))
    elif cmd == "ort":
        import onnxruntime as ort

        sess = ort.InferenceSession(argv[1], providers=["CPUExecutionProvider"])
        out = sess.run(None, {argv[2]: np.load(argv[3]).astype(np.float32)})[0]
        print(json.dumps([float(x) for x in np.asarray(out).reshape(-1)]))
    else:
        raise SystemExit(f"unknown command {cmd!r}; see the docstring of _main")


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
