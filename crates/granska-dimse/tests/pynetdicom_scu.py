"""pynetdicom as the PACS, for granska-dimse's tests: exact C-STORE statuses, parallel
associations, the association limit and the idle timeout. Prints one JSON object.

    python pynetdicom_scu.py statuses PORT VALID.dcm WORKDIR
    python pynetdicom_scu.py parallel PORT N VALID.dcm WORKDIR
    python pynetdicom_scu.py limit PORT VALID.dcm
    python pynetdicom_scu.py idle PORT VALID.dcm IDLE_SECONDS
"""

import json
import os
import struct
import sys
import threading
import time

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, debug_logger  # noqa: F401 (debug_logger: uncomment to debug)

MG = "1.2.840.10008.5.1.4.1.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"
CT = "1.2.840.10008.5.1.4.1.1.2"


def ae_with(*classes):
    ae = AE(ae_title="PACS")
    for c in classes:
        ae.add_requested_context(c, [ExplicitVRLittleEndian, "1.2.840.10008.1.2"])
    ae.acse_timeout = 10
    ae.dimse_timeout = 30
    ae.network_timeout = 30
    return ae


def associate(ae, port):
    return ae.associate("127.0.0.1", port, ae_title="GRANSKA")


def store(assoc, path_or_ds):
    rsp = assoc.send_c_store(path_or_ds)
    if not rsp or "Status" not in rsp:
        return {"status": None, "comment": None}
    comment = getattr(rsp, "ErrorComment", None)
    return {"status": int(rsp.Status), "comment": str(comment) if comment is not None else None}


def uid_element(element, uid):
    value = uid.encode() + (b"\0" if len(uid) % 2 else b"")
    return b"\x08\x00" + struct.pack("<H", element) + b"UI" + struct.pack("<H", len(value)) + value


def write_raw(path, sop_class, sop_instance, payload):
    """A Part 10 file whose meta is valid and whose data set is its SOP class and instance (which
    pynetdicom reads to build the command) followed by `payload`, unparsed."""
    payload = uid_element(0x16, sop_class) + uid_element(0x18, sop_instance) + payload
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    with open(path, "ab") as f:
        f.write(payload)


def variant(valid, path, **changes):
    ds = dcmread(valid)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.save_as(path)
    return path


def statuses(port, valid, work):
    out = {}
    ae = ae_with(MG, SC)
    assoc = associate(ae, port)
    assert assoc.is_established, "association failed"
    out["success"] = store(assoc, valid)
    out["duplicate"] = store(assoc, valid)
    out["modality_ct"] = store(assoc, variant(valid, os.path.join(work, "ct-modality.dcm"), Modality="CT"))
    large = os.path.join(work, "large.dcm")
    size = 2 * 1024 * 1024
    write_raw(large, MG, generate_uid(), b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", size) + b"\0" * size)
    out["too_large"] = store(assoc, large)
    sc = Dataset()
    sc.SOPClassUID = SC
    sc.SOPInstanceUID = generate_uid()
    sc.StudyInstanceUID = generate_uid()
    sc.Modality = "OT"
    sc.file_meta = FileMetaDataset()
    sc.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out["dropped_sc"] = store(assoc, sc)
    out["after_errors"] = store(assoc, variant(valid, os.path.join(work, "after.dcm")))
    assoc.release()
    out["released"] = assoc.is_released
    return out


def parallel(port, n, valid, work):
    files = []
    for i in range(n):
        files.append(variant(valid, os.path.join(work, f"p{i}.dcm"), StudyInstanceUID=generate_uid()))
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        ae = ae_with(MG)
        assoc = associate(ae, port)
        if not assoc.is_established:
            results[i] = {"status": None, "comment": "not established"}
            return
        barrier.wait(timeout=60)  # every association is open before any stores
        results[i] = store(assoc, files[i])
        assoc.release()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"statuses": [r["status"] if r else None for r in results]}


def rejection(assoc):
    rsp = assoc.acceptor.primitive
    if rsp is None or not assoc.is_rejected:
        return None
    return {"result": int(rsp.result), "source": int(rsp.result_source), "reason": int(rsp.diagnostic)}


def limit(port, valid):
    ae = ae_with(MG)
    held = [associate(ae, port), associate(ae, port)]
    out = {"held": [a.is_established for a in held]}
    third = associate(ae, port)
    out["third_established"] = third.is_established
    out["third_rejection"] = rejection(third)
    if third.is_established:
        third.release()
    for a in held:
        a.release()
    time.sleep(0.2)
    again = associate(ae, port)
    out["after_release"] = store(again, valid) if again.is_established else None
    if again.is_established:
        again.release()
    return out


def idle(port, valid, seconds):
    ae = ae_with(MG)
    stalled = associate(ae, port)
    out = {"stalled_established": stalled.is_established}
    busy = associate(ae, port)
    out["while_stalled_established"] = busy.is_established
    out["while_stalled_rejection"] = rejection(busy)
    if busy.is_established:
        busy.release()
    time.sleep(seconds * 2.5)
    out["stalled_aborted"] = stalled.is_aborted
    later = associate(ae, port)
    out["later_established"] = later.is_established
    out["later"] = store(later, valid) if later.is_established else None
    if later.is_established:
        later.release()
    return out


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "statuses":
        out = statuses(port, sys.argv[3], sys.argv[4])
    elif mode == "parallel":
        out = parallel(port, int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "limit":
        out = limit(port, sys.argv[3])
    elif mode == "idle":
        out = idle(port, sys.argv[3], float(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
