"""A Python gRPC client of Granska, generated from proto/ with grpcio-tools: proves the protocol
can be used from outside Rust. Pushes the DICOM files of a directory, completes their studies,
waits until they are routed, and prints a JSON summary.

usage: python_client.py PROTO_DIR OUT_DIR ADDRESS PACS_TOKEN RADIOLOGIST_TOKEN ADMIN_TOKEN DICOM_DIR
"""
import json
import pathlib
import sys
import time

from grpc_tools import protoc

proto_dir, out_dir, address, pacs, reader, admin, dicom_dir = sys.argv[1:8]
files = [f"{proto_dir}/granska/v1/{n}.proto" for n in ("vocabulary", "ingest", "worklist", "models")]
rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files])
assert rc == 0, f"protoc failed: {rc}"
sys.path.insert(0, out_dir)

import grpc  # noqa: E402
from granska.v1 import ingest_pb2, ingest_pb2_grpc, vocabulary_pb2, worklist_pb2, worklist_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(address)
ingest = ingest_pb2_grpc.IngestStub(channel)
worklist = worklist_pb2_grpc.WorklistStub(channel)


def word(enum, value):
    """The domain word of an enum value: READING_MODE_DOUBLE -> double, FLAG_EXTRA_HIGH -> extra-high."""
    prefix = enum.DESCRIPTOR.name  # e.g. ReadingMode -> READING_MODE_
    prefix = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(prefix)).upper() + "_"
    return enum.Name(value).removeprefix(prefix).lower().replace("_", "-")


def auth(token):
    return [("authorization", f"Bearer {token}")]


def chunks():
    for path in sorted(pathlib.Path(dicom_dir).rglob("*.dcm")):
        data = path.read_bytes()
        step = 256 * 1024
        for i in range(0, len(data), step):
            yield ingest_pb2.UploadChunk(instance_ref=path.name, data=data[i:i + step], last=i + step >= len(data))


results = list(ingest.Upload(chunks(), metadata=auth(pacs)))
outcomes = [ingest_pb2.InstanceResult.Outcome.Name(r.outcome) for r in results]
studies = sorted({r.study_instance_uid for r in results})
for uid in studies:
    ingest.CompleteStudy(ingest_pb2.CompleteStudyRequest(study_instance_uid=uid), metadata=auth(pacs))
routed = {}
deadline = time.time() + 120
while len(routed) < len(studies) and time.time() < deadline:
    for uid in studies:
        s = ingest.GetStudy(ingest_pb2.GetStudyRequest(study_instance_uid=uid), metadata=auth(admin))
        if s.state == vocabulary_pb2.STUDY_STATE_ROUTED:
            routed[uid] = {
                "reading_mode": word(vocabulary_pb2.ReadingMode, s.routing.reading_mode),
                "category": s.scoring.category,
                "flags": [word(vocabulary_pb2.Flag, f) for f in s.routing.flags],
            }
    time.sleep(0.1)
listed = worklist.List(worklist_pb2.ListRequest(page_size=10), metadata=auth(reader))
try:
    worklist.List(worklist_pb2.ListRequest(), metadata=auth(pacs))
    denied = None
except grpc.RpcError as e:
    denied = e.code().name
print(json.dumps({
    "outcomes": outcomes,
    "studies": studies,
    "routed": routed,
    "worklist": [e.study_instance_uid for e in listed.entries],
    "pacs_listing": denied,
}))
