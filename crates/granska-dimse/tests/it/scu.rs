//! Our own peers against the SCP: the result-SR sender (`StoreScu`) with its failures typed,
//! and a hand-driven association whose command set is split over two PDUs and whose data set
//! over many small PDVs, a data set of another class than its command's, and an operation the
//! SCP does not implement.

use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use granska_app::{ResultSender, SendError};
use granska_dimse::protocol::{Assembled, Command, Reassembler, fragment};
use granska_dimse::{Destination, StoreScu};

use crate::support::{Scp, exam, exam_files, scp_options};

const MAMMO_CAD_SR: &str = "1.2.840.10008.5.1.4.1.1.88.50";

/// A Part 10 SR of about `text_bytes` (Explicit VR Little Endian).
fn sr(text_bytes: usize) -> Vec<u8> {
    let mut o = InMemDicomObject::new_empty();
    o.put(DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(MAMMO_CAD_SR)));
    o.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.10.1.1")));
    o.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, PrimitiveValue::from("1.2.826.0.1.3680043.10.1.2")));
    o.put(DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("SR")));
    o.put(DataElement::new(tags::TEXT_VALUE, VR::UT, PrimitiveValue::from("x".repeat(text_bytes))));
    let file = o
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid(MAMMO_CAD_SR)
                .media_storage_sop_instance_uid("1.2.826.0.1.3680043.10.1.1"),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    bytes
}

fn sender(destination: &str) -> StoreScu {
    StoreScu::new(destination.parse::<Destination>().unwrap(), "GRANSKA-SR", Duration::from_secs(10), 65_536)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sr_sender_stores_fragmented_to_the_peer_pdu_and_types_its_failures() {
    // The SCP accepts PDUs of 16 KiB: the 300 KB report goes in many.
    let scp = Scp::start(granska_dimse::ScpOptions { max_pdu: 16_384, ..scp_options() }).await;
    let scu = sender(&format!("GRANSKA@127.0.0.1:{}", scp.port()));
    assert_eq!(scu.destination(), format!("GRANSKA@127.0.0.1:{}", scp.port()));
    assert_eq!(scu.send(&sr(300_000)).await.unwrap(), 0x0000);
    assert_eq!(scp.metric(&format!("granska_instances_dropped_total{{sop_class=\"{MAMMO_CAD_SR}\"}}")), 1);

    let wrong_ae = sender(&format!("ELSEWHERE@127.0.0.1:{}", scp.port()));
    let err = wrong_ae.send(&sr(10)).await.unwrap_err();
    assert!(matches!(err, SendError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("called AE title not recognized"), "{err}");

    let not_part10 = scu.send(b"not a file").await.unwrap_err();
    assert!(matches!(not_part10, SendError::Protocol { .. }), "{not_part10}");
    scp.stop().await;

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = sender(&format!("PACS@127.0.0.1:{closed}")).send(&sr(10)).await.unwrap_err();
    assert!(matches!(err, SendError::Unreachable { .. }), "{err}");
}

/// Sends raw PDUs, then reads one whole command back.
async fn exchange(
    assoc: &mut dicom_ul::association::AsyncClientAssociation<tokio::net::TcpStream>,
    pdus: Vec<Pdu>,
) -> Command {
    for pdu in pdus {
        assoc.send(&pdu).await.unwrap();
    }
    let mut r = Reassembler::new(0);
    loop {
        let Pdu::PData { data } = assoc.receive().await.unwrap() else { panic!("expected P-DATA") };
        for v in data {
            if let Some(Assembled::Command { bytes, .. }) = r.push(v).unwrap() {
                return Command::parse(&bytes).unwrap();
            }
        }
    }
}

fn pdv(command: bool, context_id: u8, is_last: bool, data: &[u8]) -> PDataValue {
    PDataValue {
        presentation_context_id: context_id,
        value_type: if command { PDataValueType::Command } else { PDataValueType::Data },
        is_last,
        data: data.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_split_over_two_pdus_and_data_over_many_pdvs_is_reassembled() {
    let scp = Scp::start(scp_options()).await;
    let e = exam(31, 0);
    let file = &exam_files(&e)[0];
    // The data set after the file meta (the phantom is Explicit VR Little Endian).
    let meta_len = u32::from_le_bytes(file[140..144].try_into().unwrap()) as usize;
    let data_set = &file[144 + meta_len..];
    let instance = e.views[0].sop_instance_uid.clone();
    let mg = "1.2.840.10008.5.1.4.1.1.1.2";
    let mut assoc = ClientAssociationOptions::new()
        .calling_ae_title("PACS")
        .called_ae_title("GRANSKA")
        .with_presentation_context(mg, vec!["1.2.840.10008.1.2.1"])
        .establish_async(scp.addr)
        .await
        .unwrap();
    let context = assoc.presentation_contexts()[0].id;
    let command =
        Command::StoreRq { message_id: 41, sop_class_uid: mg.into(), sop_instance_uid: instance.clone(), priority: 0 }
            .encode()
            .unwrap();
    let (head, tail) = command.split_at(command.len() / 2);
    let mut pdus = vec![
        Pdu::PData { data: vec![pdv(true, context, false, head)] },
        Pdu::PData { data: vec![pdv(true, context, true, tail)] },
    ];
    // Four PDVs of 1000 bytes per PDU.
    let chunks: Vec<&[u8]> = data_set.chunks(1000).collect();
    let last = chunks.len() - 1;
    for group in chunks.iter().enumerate().collect::<Vec<_>>().chunks(4) {
        pdus.push(Pdu::PData { data: group.iter().map(|(i, c)| pdv(false, context, *i == last, c)).collect() });
    }
    let Command::StoreRsp(rsp) = exchange(&mut assoc, pdus).await else { panic!("expected a C-STORE-RSP") };
    assert_eq!((rsp.message_id_responded, rsp.status, rsp.sop_instance_uid.as_str()), (41, 0, instance.as_str()));

    // The data set says Digital X-Ray (same length as the MG UID), the command MG: 0xA900.
    let dx = b"1.2.840.10008.5.1.4.1.1.1.1";
    let mut mismatch = data_set.to_vec();
    let at = mismatch.windows(mg.len()).position(|w| w == mg.as_bytes()).unwrap();
    mismatch[at..at + dx.len()].copy_from_slice(dx);
    let command =
        Command::StoreRq { message_id: 44, sop_class_uid: mg.into(), sop_instance_uid: "1.2.3.4".into(), priority: 0 };
    let mut pdus = vec![Pdu::PData { data: vec![pdv(true, context, true, &command.encode().unwrap())] }];
    pdus.extend(fragment(context, false, &mismatch, assoc.acceptor_max_pdu_length()));
    let Command::StoreRsp(rsp) = exchange(&mut assoc, pdus).await else { panic!("expected a C-STORE-RSP") };
    assert_eq!(
        (rsp.status, rsp.error_comment.as_deref()),
        (0xA900, Some("SOPClassUID differs from AffectedSOPClassUID"))
    );

    // Unparsable: PatientName declares 65520 bytes where 21 follow. 0xC000 says what is wrong.
    let mut garbage = data_set[..at + mg.len() + 1].to_vec();
    garbage.extend_from_slice(b"\x10\x00\x10\x00PN\xf0\xffnot a data set at all");
    let command =
        Command::StoreRq { message_id: 45, sop_class_uid: mg.into(), sop_instance_uid: "1.2.3.5".into(), priority: 0 };
    let pdus = vec![
        Pdu::PData { data: vec![pdv(true, context, true, &command.encode().unwrap())] },
        Pdu::PData { data: vec![pdv(false, context, true, &garbage)] },
    ];
    let Command::StoreRsp(rsp) = exchange(&mut assoc, pdus).await else { panic!("expected a C-STORE-RSP") };
    assert_eq!(
        (rsp.status, rsp.error_comment.as_deref()),
        (0xC000, Some("element (0010,0010) longer than the data set"))
    );

    // C-FIND-RQ: not implemented here, answered 0x0211 once its data set has been read.
    let find = Command::Other {
        command_field: 0x0020,
        message_id: Some(42),
        sop_class_uid: Some(mg.into()),
        has_data_set: true,
    };
    let pdus = vec![
        Pdu::PData { data: vec![pdv(true, context, true, &find.encode().unwrap())] },
        Pdu::PData { data: vec![pdv(false, context, true, b"\x08\x00\x52\x00\x06\x00STUDY ")] },
    ];
    let answer = exchange(&mut assoc, pdus).await;
    assert_eq!(
        answer,
        Command::Other { command_field: 0x8020, message_id: None, sop_class_uid: Some(mg.into()), has_data_set: false }
    );
    // C-ECHO on a context that is not Verification is still answered with its message id.
    let echo = Command::EchoRq { message_id: 43, sop_class_uid: "1.2.840.10008.1.1".into() }.encode().unwrap();
    let answer = exchange(&mut assoc, vec![Pdu::PData { data: vec![pdv(true, context, true, &echo)] }]).await;
    assert!(matches!(answer, Command::EchoRsp { message_id_responded: 43, status: 0, .. }), "{answer:?}");
    assoc.release().await.unwrap();
    let study = scp.study(&e.study_uid).await.expect("stored");
    assert_eq!(study.record.instances.len(), 1);
    scp.stop().await;
}
