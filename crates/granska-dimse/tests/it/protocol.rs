//! The DIMSE layer without a network: command sets round-trip, every core error has its DIMSE
//! status (the table is a snapshot: a change shows in review), arbitrary bytes never panic the
//! command parser or the reassembly, and the configuration parsers say what is wrong.

use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use expect_test::expect;
use granska_app::{Action, AppError, InstanceProblem, Limit, invalid_instance};
use granska_archive::{BackendError, Error as A};
use granska_dicom::{Attr, ErrorKind as K};
use granska_dimse::protocol::{Assembled, Command, MAX_COMMAND_BYTES, Reassembler, StoreRsp, fragment};
use granska_dimse::{Destination, IpNet, store_status};
use granska_types::{ReportState, Role, TaskState};
use granska_worklist::Error as W;
use proptest::prelude::*;

fn backend() -> BackendError {
    BackendError::new(std::io::Error::other("disk"))
}

const ATTR: Attr = Attr { group: 0x0020, element: 0x0062, keyword: "ImageLaterality" };

/// One of every core error, down to the stores' variants.
fn every_error() -> Vec<(&'static str, AppError)> {
    let io = || std::io::Error::other("io");
    let dicom = |k: K| invalid_instance(k);
    vec![
        ("Forbidden", AppError::Forbidden { role: Role::Radiologist, action: Action::Upload }),
        ("InvalidArgument", AppError::InvalidArgument { field: "f".into(), message: "m".into() }),
        ("Unreadable Io", dicom(K::Io(io()))),
        ("Unreadable Empty", dicom(K::Empty)),
        ("Unreadable NotDicom", dicom(K::NotDicom { found: "x".into() })),
        (
            "Unreadable DeclaredLength",
            dicom(K::DeclaredLength { group: 0x10, element: 0x10, offset: 1, declared: 9, remaining: 1 }),
        ),
        (
            "Unreadable UndefinedLength",
            dicom(K::UndefinedLength { group: 0x10, element: 0x20, offset: 1, vr: "PN".into() }),
        ),
        (
            "Unreadable MetaGroupInterrupted",
            dicom(K::MetaGroupInterrupted { group: 0xFFFF, element: 0, offset: 1, declared_end: 2 }),
        ),
        ("Unreadable InvalidVr", dicom(K::InvalidVr { group: 8, element: 0x16, offset: 1, vr: "??".into() })),
        ("Unreadable Inflate", dicom(K::Inflate(io()))),
        ("Unreadable InflateTooLarge", dicom(K::InflateTooLarge { limit: 1 })),
        ("Unreadable CodecPanic", dicom(K::CodecPanic { ts: "t".into(), message: "m".into() })),
        ("Unreadable Decode", dicom(K::Decode { ts: "t".into(), message: "m".into() })),
        (
            "Unreadable with a conformance kind",
            AppError::InvalidInstance {
                field: None,
                problem: InstanceProblem::Unreadable,
                kind: Box::new(K::NoPixelData),
            },
        ),
        ("NotConformant Missing", dicom(K::Missing { attr: ATTR, expected: "L or R" })),
        ("NotConformant Invalid", dicom(K::Invalid { attr: ATTR, expected: "L or R".into(), found: "X".into() })),
        ("NotConformant Unsupported TS", dicom(K::UnsupportedTransferSyntax { uid: "1.2".into(), name: "n".into() })),
        ("NotConformant NoPixelData", dicom(K::NoPixelData)),
        ("NotConformant PixelDataTooShort", dicom(K::PixelDataTooShort { expected: 2, found: 1 })),
        ("NotConformant ImageTooLarge", dicom(K::ImageTooLarge { bytes: 2, limit: 1 })),
        ("Exhausted DiskSpace", AppError::Exhausted { limit: Limit::DiskSpace, message: "m".into() }),
        ("Exhausted InstanceSize", AppError::Exhausted { limit: Limit::InstanceSize, message: "m".into() }),
        ("UnknownStudy", AppError::UnknownStudy { study_uid: "1.2".into() }),
        ("AuditUnavailable", AppError::AuditUnavailable { source: A::Backend { operation: "o", source: backend() } }),
        ("NotHolder", AppError::NotHolder { task_id: 1, state: TaskState::Claimed }),
        ("UnknownReport", AppError::UnknownReport { study_uid: "1.2".into(), sop_instance_uid: None }),
        ("Report", AppError::Report(granska_report::ReportError::NoImages)),
        ("NotYourExam", AppError::NotYourExam { study_uid: "1.2".into() }),
        ("UnknownInstance", AppError::UnknownInstance { sop_instance_uid: "1.2.3".into() }),
        ("Archive Io", AppError::Archive(A::Io { operation: "o", path: "p".into(), source: io() })),
        ("Archive Busy", AppError::Archive(A::Busy { operation: "o", source: backend() })),
        ("Archive Backend", AppError::Archive(A::Backend { operation: "o", source: backend() })),
        ("Archive SchemaTooNew", AppError::Archive(A::SchemaTooNew { found: 2, supported: 1 })),
        (
            "Archive Conflict",
            AppError::Archive(A::Conflict { sop_instance_uid: "1.2".into(), stored_sha256: "a".into() }),
        ),
        ("Archive UnknownStudy", AppError::Archive(A::UnknownStudy { study_uid: "1.2".into() })),
        ("Archive UnknownInstance", AppError::Archive(A::UnknownInstance { sop_instance_uid: "1.2".into() })),
        ("Archive CorruptBlob", AppError::Archive(A::CorruptBlob { sha256: "a".into(), found: "b".into() })),
        ("Archive UnknownReport", AppError::Archive(A::UnknownReport { sop_instance_uid: "1.2".into() })),
        (
            "Archive ReportNotPending",
            AppError::Archive(A::ReportNotPending { sop_instance_uid: "1.2".into(), state: ReportState::Sent }),
        ),
        ("Archive BadSha256", AppError::Archive(A::BadSha256 { found: "x".into() })),
        ("Archive Corrupt", AppError::Archive(A::Corrupt { what: "w", found: "f".into() })),
        ("Worklist Busy", AppError::Worklist(W::Busy { operation: "o", source: backend() })),
        ("Worklist Backend", AppError::Worklist(W::Backend { operation: "o", source: backend() })),
        ("Worklist Open", AppError::Worklist(W::Open { path: "p".into(), source: backend() })),
        ("Worklist Create", AppError::Worklist(W::Create { path: "p".into(), source: io() })),
        ("Worklist SchemaTooNew", AppError::Worklist(W::SchemaTooNew { found: 2, supported: 1 })),
        ("Worklist Migration", AppError::Worklist(W::Migration { version: 2, source: backend() })),
        ("Worklist UnknownStudy", AppError::Worklist(W::UnknownStudy { study_uid: "1.2".into() })),
        ("Worklist UnknownTask", AppError::Worklist(W::UnknownTask { task_id: 1 })),
        (
            "Worklist LeaseExpired",
            AppError::Worklist(W::LeaseExpired { task_id: 1, reader: "r".into(), expired_ms_ago: 1 }),
        ),
        ("Worklist RequestIdReused", AppError::Worklist(W::RequestIdReused { request_id: "r".into(), task_id: 1 })),
        ("Worklist InvalidInput", AppError::Worklist(W::InvalidInput { field: "f", expected: "e", found: "x".into() })),
        ("Worklist Corrupt", AppError::Worklist(W::Corrupt { what: "w", found: "f".into() })),
    ]
}

#[test]
fn every_core_error_has_its_dimse_status() {
    let mut table = String::new();
    for (name, error) in every_error() {
        let (status, comment) = store_status(&error);
        assert!(comment.as_ref().is_none_or(|c| c.len() <= 64 && c.is_ascii()), "{name}: {comment:?}");
        table.push_str(&format!("{name:<34} 0x{status:04X} {}\n", comment.unwrap_or_default()));
    }
    expect![[r#"
        Forbidden                          0x0124 this peer may not store instances
        InvalidArgument                    0x0110 
        Unreadable Io                      0xC000 empty or truncated data set
        Unreadable Empty                   0xC000 empty or truncated data set
        Unreadable NotDicom                0xC000 not DICOM
        Unreadable DeclaredLength          0xC000 element (0010,0010) longer than the data set
        Unreadable UndefinedLength         0xC000 element (0010,0020) has an undefined length
        Unreadable MetaGroupInterrupted    0xC000 file meta interrupted by element (FFFF,0000)
        Unreadable InvalidVr               0xC000 element (0008,0016) has an invalid VR
        Unreadable Inflate                 0xC000 deflated data set corrupt or too large
        Unreadable InflateTooLarge         0xC000 deflated data set corrupt or too large
        Unreadable CodecPanic              0xC000 pixel data cannot be decoded
        Unreadable Decode                  0xC000 pixel data cannot be decoded
        Unreadable with a conformance kind 0xC000 data set cannot be read
        NotConformant Missing              0xA900 missing ImageLaterality (0020,0062)
        NotConformant Invalid              0xA900 invalid ImageLaterality (0020,0062)
        NotConformant Unsupported TS       0xA900 unsupported transfer syntax
        NotConformant NoPixelData          0xA900 no pixel data
        NotConformant PixelDataTooShort    0xA900 pixel data shorter than the image needs
        NotConformant ImageTooLarge        0xA900 image larger than the decoding limit
        Exhausted DiskSpace                0xA700 data disk nearly full; retry later
        Exhausted InstanceSize             0xA700 instance larger than the configured limit
        UnknownStudy                       0x0110 
        AuditUnavailable                   0x0110 audit log unavailable
        NotHolder                          0x0110 
        UnknownReport                      0x0110 
        Report                             0x0110 
        NotYourExam                        0x0110 
        UnknownInstance                    0x0110 
        Archive Io                         0x0110 archive failure
        Archive Busy                       0xA700 archive busy; retry later
        Archive Backend                    0x0110 archive failure
        Archive SchemaTooNew               0x0110 archive failure
        Archive Conflict                   0x0110 SOP instance already stored with other content
        Archive UnknownStudy               0x0110 
        Archive UnknownInstance            0x0110 
        Archive CorruptBlob                0x0110 archive failure
        Archive UnknownReport              0x0110 
        Archive ReportNotPending           0x0110 
        Archive BadSha256                  0x0110 
        Archive Corrupt                    0x0110 archive failure
        Worklist Busy                      0xA700 worklist busy; retry later
        Worklist Backend                   0x0110 
        Worklist Open                      0x0110 
        Worklist Create                    0x0110 
        Worklist SchemaTooNew              0x0110 
        Worklist Migration                 0x0110 
        Worklist UnknownStudy              0x0110 
        Worklist UnknownTask               0x0110 
        Worklist LeaseExpired              0x0110 
        Worklist RequestIdReused           0x0110 
        Worklist InvalidInput              0x0110 
        Worklist Corrupt                   0x0110 
    "#]]
    .assert_eq(&table);
}

#[test]
fn command_sets_round_trip() {
    let commands = [
        Command::EchoRq { message_id: 7, sop_class_uid: "1.2.840.10008.1.1".into() },
        Command::EchoRsp { message_id_responded: 7, sop_class_uid: "1.2.840.10008.1.1".into(), status: 0 },
        Command::StoreRq {
            message_id: 65535,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.2".into(),
            sop_instance_uid: "1.2.3.4.5".into(),
            priority: 2,
        },
        Command::StoreRsp(StoreRsp {
            message_id_responded: 3,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.2".into(),
            sop_instance_uid: "1.2.3".into(),
            status: 0xC000,
            error_comment: Some("element (0010,0010) longer than the data set".into()),
        }),
        Command::Other {
            command_field: 0x0020,
            message_id: Some(9),
            sop_class_uid: Some("1.2.3".into()),
            has_data_set: true,
        },
    ];
    for command in commands {
        let bytes = command.encode().unwrap();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, bytes.len() - 12, "group length");
        assert_eq!(Command::parse(&bytes).unwrap(), command);
    }
}

#[test]
fn an_unrecognised_request_is_answered_with_0x0211() {
    // C-FIND-RQ.
    let find = Command::Other {
        command_field: 0x0020,
        message_id: Some(9),
        sop_class_uid: Some("1.2".into()),
        has_data_set: true,
    };
    let answer = Command::parse(&find.unrecognized_response().unwrap()).unwrap();
    let expected = Command::Other {
        command_field: 0x8020,
        message_id: None,
        sop_class_uid: Some("1.2".into()),
        has_data_set: false,
    };
    assert_eq!(answer, expected);
    let raw = find.unrecognized_response().unwrap();
    assert!(raw.windows(8).any(|w| w == [0, 0, 0x00, 0x09, 2, 0, 0, 0]), "a Status element");
    assert!(raw.windows(2).any(|w| w == 0x0211u16.to_le_bytes()), "status 0x0211");
    let response =
        Command::Other { command_field: 0x8020, message_id: Some(1), sop_class_uid: None, has_data_set: false };
    assert_eq!(response.unrecognized_response(), None, "a response is never answered");
}

#[test]
fn error_comments_are_cut_to_64_printable_characters() {
    let rsp = Command::StoreRsp(StoreRsp {
        message_id_responded: 1,
        sop_class_uid: "1.2".into(),
        sop_instance_uid: "1.2".into(),
        status: 0xC000,
        error_comment: Some(format!("é\\{}", "x".repeat(100))),
    });
    let Command::StoreRsp(back) = Command::parse(&rsp.encode().unwrap()).unwrap() else { panic!() };
    let comment = back.error_comment.unwrap();
    assert_eq!(comment.len(), 64);
    assert!(comment.starts_with("??x"), "{comment}");
}

#[test]
fn broken_command_sets_are_typed_errors() {
    let good = Command::EchoRq { message_id: 1, sop_class_uid: "1.2".into() }.encode().unwrap();
    let errors: Vec<String> = [
        good[..good.len() - 1].to_vec(),
        good[..5].to_vec(),
        [&[8u8, 0, 0x16, 0, 2, 0, 0, 0, b'1', 0][..]].concat(),
        [&good[..], &[0, 0, 0x10, 0, 0xff, 0xff, 0xff, 0xff]].concat(),
        // A UL of 6 bytes: dicom-rs would read 4 and take the rest as the next header.
        [&[0u8, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0][..], &good[..]].concat(),
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fuzz-regressions/dimse/oom-odd-ul-length-desync"),
        )
        .unwrap(),
        Command::Other { command_field: 1, message_id: Some(1), sop_class_uid: None, has_data_set: true }
            .encode()
            .unwrap(),
        Command::Other {
            command_field: 1,
            message_id: Some(1),
            sop_class_uid: Some("1.2".into()),
            has_data_set: false,
        }
        .encode()
        .unwrap(),
    ]
    .iter()
    .map(|b| Command::parse(b).unwrap_err().to_string())
    .collect();
    expect![[r#"
        [
            "command set: element (0000,0800) at byte 44 declares 2 bytes, but only 1 remain",
            "command set: expected an 8-byte element header at byte 0, found 5 bytes",
            "command set: expected only group 0000 elements, found (0008,0016) at byte 0",
            "command set: element (0000,0010) at byte 54 declares 4294967295 bytes, but only 0 remain",
            "command set: element (0000,0000) at byte 0 declares 6 bytes, expected a multiple of 4",
            "command set: element (0000,0000) at byte 24 declares 105 bytes, expected a multiple of 4",
            "command set: missing AffectedSOPClassUID (0000,0002)",
            "command 0x0001: expected a data set, found CommandDataSetType 0x0101",
        ]
    "#]]
    .assert_debug_eq(&errors);
}

#[test]
fn fragments_fit_the_peer_pdu_and_reassemble() {
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let pdus: Vec<Pdu> = fragment(3, false, &data, 16_384).collect();
    assert_eq!(pdus.len(), data.len().div_ceil(16_384 - 6));
    let mut r = Reassembler::new(1 << 20);
    let mut whole = None;
    for pdu in pdus {
        let mut encoded = Vec::new();
        dicom_ul::write_pdu(&mut encoded, &pdu).unwrap();
        assert!(encoded.len() <= 16_384 + 6, "a PDU of {} bytes", encoded.len());
        let Pdu::PData { data } = pdu else { panic!() };
        for v in data {
            if let Some(done) = r.push(v).unwrap() {
                whole = Some(done);
            }
        }
    }
    assert_eq!(whole, Some(Assembled::Data { context_id: 3, bytes: data }));
    let empty: Vec<Pdu> = fragment(1, true, &[], 16_384).collect();
    assert_eq!(empty.len(), 1, "an empty set is one last PDV");
}

fn pdv(command: bool, context: u8, last: bool, data: &[u8]) -> PDataValue {
    PDataValue {
        presentation_context_id: context,
        value_type: if command { PDataValueType::Command } else { PDataValueType::Data },
        is_last: last,
        data: data.to_vec(),
    }
}

#[test]
fn reassembly_refuses_interleaving_and_counts_what_is_too_large() {
    let mut r = Reassembler::new(10);
    assert_eq!(r.push(pdv(true, 1, false, b"ab")).unwrap(), None);
    let err = r.push(pdv(false, 1, true, b"x")).unwrap_err().to_string();
    assert_eq!(
        err,
        "P-DATA: a data fragment on presentation context 1 arrived while a command on context 1 was unfinished"
    );
    let mut r = Reassembler::new(10);
    assert_eq!(r.push(pdv(false, 1, false, b"0123456")).unwrap(), None);
    assert_eq!(r.push(pdv(false, 1, false, b"7890")).unwrap(), None);
    assert_eq!(r.buffered(), 0, "nothing kept once over the limit");
    assert_eq!(r.push(pdv(false, 1, true, b"x")).unwrap(), Some(Assembled::DataTooLarge { context_id: 1, size: 12 }));
    assert_eq!(
        r.push(pdv(false, 1, true, b"ok")).unwrap(),
        Some(Assembled::Data { context_id: 1, bytes: b"ok".to_vec() })
    );
    let big = vec![0; MAX_COMMAND_BYTES + 1];
    assert!(r.push(pdv(true, 1, false, &big)).is_err(), "a command over the limit");
}

#[test]
fn networks_and_destinations_parse_or_say_why() {
    let net: IpNet = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains("10.200.0.1".parse().unwrap()) && !net.contains("11.0.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()), "IPv4-mapped IPv6");
    let host: IpNet = "127.0.0.1".parse().unwrap();
    assert!(host.contains("127.0.0.1".parse().unwrap()) && !host.contains("127.0.0.2".parse().unwrap()));
    let v6: IpNet = "fd00::/8".parse().unwrap();
    assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
    assert!("0.0.0.0/0".parse::<IpNet>().unwrap().contains("8.8.8.8".parse().unwrap()));
    let errors: Vec<String> = ["10.0.0.0/33", "host", "::1/129", "10.0.0.0/"]
        .iter()
        .map(|s| s.parse::<IpNet>().unwrap_err().to_string())
        .collect();
    expect![[r#"
        [
            "invalid network \"10.0.0.0/33\": expected a prefix length of 0–32",
            "invalid network \"host\": expected an IP address or CIDR such as 10.0.0.0/8 or fd00::/8",
            "invalid network \"::1/129\": expected a prefix length of 0–128",
            "invalid network \"10.0.0.0/\": expected a prefix length of 0–32",
        ]
    "#]]
    .assert_debug_eq(&errors);

    let d: Destination = "PACS@10.0.0.5:104".parse().unwrap();
    assert_eq!((d.ae_title.as_str(), d.host.as_str(), d.port), ("PACS", "10.0.0.5", 104));
    let d: Destination = "PACS@[fd00::5]:11112".parse().unwrap();
    assert_eq!((d.host.as_str(), d.to_string().as_str()), ("fd00::5", "PACS@[fd00::5]:11112"));
    let errors: Vec<String> = ["10.0.0.5:104", "@h:1", "A-VERY-LONG-AE-TITLE@h:1", "PACS@h", "PACS@h:0", "PACS@h:x"]
        .iter()
        .map(|s| s.parse::<Destination>().unwrap_err().to_string())
        .collect();
    expect![[r#"
        [
            "invalid destination \"10.0.0.5:104\": expected AE@host:port, e.g. PACS@10.0.0.5:104",
            "invalid destination \"@h:1\": expected an AE title of 1–16 characters, found 0 characters",
            "invalid destination \"A-VERY-LONG-AE-TITLE@h:1\": expected an AE title of 1–16 characters, found 20 characters",
            "invalid destination \"PACS@h\": expected a port of 1–65535 after the host",
            "invalid destination \"PACS@h:0\": expected a port of 1–65535 after the host",
            "invalid destination \"PACS@h:x\": expected a port of 1–65535 after the host",
        ]
    "#]].assert_debug_eq(&errors);
}

/// What the `dimse` fuzz target does with one input (also replayed by the fuzz regressions):
/// the bytes as PDUs through the reassembly, every whole command parsed; the bytes as a command
/// set. Returns how many commands parsed.
pub fn exercise(bytes: &[u8]) -> usize {
    let _ = Command::parse(bytes);
    let mut parsed = 0;
    let mut r = Reassembler::new(4096);
    let mut rest = bytes;
    while let Ok(Some(pdu)) = dicom_ul::read_pdu(&mut rest, 16_384, true) {
        let Pdu::PData { data } = pdu else { continue };
        for v in data {
            match r.push(v) {
                Ok(Some(Assembled::Command { bytes, .. })) => parsed += usize::from(Command::parse(&bytes).is_ok()),
                Ok(Some(Assembled::Data { bytes, .. })) => assert!(bytes.len() <= 4096),
                Ok(_) => assert!(r.buffered() <= MAX_COMMAND_BYTES.max(4096)),
                Err(_) => r = Reassembler::new(4096),
            }
        }
    }
    parsed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_command_sets_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>()) {
        let mut bytes = Command::StoreRq { message_id: 1, sop_class_uid: "1.2.840.10008.5.1.4.1.1.1.2".into(),
            sop_instance_uid: "1.2.3".into(), priority: 0 }.encode().unwrap();
        for (at, value) in flips {
            let n = bytes.len();
            bytes[at % n] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let _ = Command::parse(&bytes);
        let pdus: Vec<u8> = fragment(1, true, &bytes, 1024).flat_map(|p| { let mut b = Vec::new(); dicom_ul::write_pdu(&mut b, &p).unwrap(); b }).collect();
        exercise(&pdus);
    }
}
