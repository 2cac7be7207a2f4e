"""A PACS that receives Granska's result SRs: a pynetdicom Storage SCP on 127.0.0.1.

    python sr_receiver.py PORT AE_TITLE LOG_FILE OUT_DIR

Appends one JSON line per C-STORE request to LOG_FILE ({"sop_instance_uid", "sop_class_uid"}),
so a test can count deliveries per SOP instance (a re-delivery shows as a second line), and
writes each data set to OUT_DIR/<SOP Instance UID>.dcm for validation. Answers 0x0000.
Runs until killed.
"""
import json
import sys
from pathlib import Path

from pynetdicom import AE, evt, StoragePresentationContexts

port, ae_title, log_file, out_dir = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
out_dir.mkdir(parents=True, exist_ok=True)


def on_store(event):
    ds = event.dataset
    ds.file_meta = event.file_meta
    uid = str(ds.SOPInstanceUID)
    ds.save_as(out_dir / f"{uid}.dcm", enforce_file_format=True)
    with log_file.open("a") as f:
        f.write(json.dumps({"sop_instance_uid": uid, "sop_class_uid": str(ds.SOPClassUID)}) + "\n")
    return 0x0000


ae = AE(ae_title=ae_title)
ae.supported_contexts = StoragePresentationContexts
print("listening", flush=True)
ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])
