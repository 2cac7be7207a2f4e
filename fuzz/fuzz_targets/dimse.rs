//! Arbitrary bytes through granska-dimse's DIMSE layer, as a hostile peer would send them:
//! parsed as one command set, and read as a stream of PDUs (dicom-ul's reader, strict, 16 KiB)
//! whose P-DATA values go through the `Reassembler` (data limit 4096 bytes), every whole
//! command set parsed. Checked: nothing panics; a whole data set never exceeds the limit; the
//! reassembler never buffers more than its limits; an encoded command parses back to itself.
//! `crates/granska-dimse/tests/it/protocol.rs::exercise` replays the same calls on stable.
#![no_main]

use dicom_ul::pdu::Pdu;
use granska_dimse::protocol::{Assembled, Command, MAX_COMMAND_BYTES, Reassembler};
use libfuzzer_sys::fuzz_target;

const MAX_DATA: usize = 4096;

fuzz_target!(|bytes: &[u8]| {
    // What parses re-encodes and parses to the same command (an ErrorComment is made printable
    // ASCII when encoded, so responses carrying one may differ).
    if let Ok(command) = Command::parse(bytes)
        && !matches!(&command, Command::StoreRsp(r) if r.error_comment.is_some())
    {
        if let Ok(encoded) = command.encode() {
            let again = Command::parse(&encoded).expect("an encoded command parses");
            assert_eq!(again, command, "encode → parse changed the command");
        }
    }
    let mut r = Reassembler::new(MAX_DATA);
    let mut rest = bytes;
    while let Ok(Some(pdu)) = dicom_ul::read_pdu(&mut rest, 16_384, true) {
        let Pdu::PData { data } = pdu else { continue };
        for value in data {
            match r.push(value) {
                Ok(Some(Assembled::Command { bytes, .. })) => {
                    assert!(bytes.len() <= MAX_COMMAND_BYTES);
                    let _ = Command::parse(&bytes);
                }
                Ok(Some(Assembled::Data { bytes, .. })) => assert!(bytes.len() <= MAX_DATA),
                Ok(Some(Assembled::DataTooLarge { size, .. })) => assert!(size > MAX_DATA as u64),
                Ok(None) => assert!(r.buffered() <= MAX_COMMAND_BYTES.max(MAX_DATA)),
                // The SCP aborts the association; a new one starts afresh.
                Err(_) => r = Reassembler::new(MAX_DATA),
            }
        }
    }
});
