//! A corrupted RLE stream is an error, never a panic. dicom-transfer-syntax-registry 0.10.1's
//! RLE decoder panics (`rle_lossless.rs:119` index out of bounds, `:237` range end out of
//! range) when one byte of a segment or of the RLE header changes; this test first shows that
//! it does on these exact bytes, then that granska decodes every one of them with its own
//! checked decoder (an error naming the frame and segment, or pixels).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use dicom_pixeldata::PixelDecoder;
use granska_dicom::{DicomFile, ErrorKind};
use granska_phantom::{Options, Size, generate_exam};

use crate::support;

/// A small phantom view, RLE-encoded by dcmtk: (file bytes, offset of the RLE fragment).
fn rle_view(dir: &Path) -> (Vec<u8>, usize) {
    let exam = generate_exam(31, 0, &Options { size: Size::Small, ..Options::default() });
    let src = dir.join("view.dcm");
    granska_phantom::to_dicom(&exam, 0).write_to_file(&src).unwrap();
    let dst = dir.join("view.rle.dcm");
    support::tool("dcmcrle", &[&src, &dst]);
    let bytes = std::fs::read(&dst).unwrap();
    let obj = dicom_object::from_reader(&bytes[128..]).unwrap();
    let fragment = match obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap().value() {
        dicom_core::DicomValue::PixelSequence(seq) => seq.fragments()[0].clone(),
        _ => panic!("dcmcrle wrote native pixel data"),
    };
    let at = bytes.windows(64).position(|w| w == &fragment[..64]).expect("fragment header in the file");
    (bytes, at)
}

/// Does dicom-rs 0.10.1 panic decoding these bytes?
fn upstream_panics(bytes: &[u8]) -> bool {
    let Ok(obj) = dicom_object::from_reader(&bytes[128..]) else { return false };
    catch_unwind(AssertUnwindSafe(|| {
        let _ = obj.decode_pixel_data();
    }))
    .is_err()
}

#[test]
fn one_changed_byte_in_an_rle_stream_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (good, at) = rle_view(dir.path());
    let clean = DicomFile::from_bytes(&good, "good").unwrap().pixels().unwrap();
    let segment0 = u32::from_le_bytes(good[at + 4..at + 8].try_into().unwrap()) as usize;

    // The RLE header's segment count (→ upstream `:237`), then the first run headers of the
    // first segment (→ upstream `:119` when a segment decodes short).
    let mut variants = vec![("segment count", at, 0xFFu8), ("segment count high byte", at + 1, 0xFF)];
    for i in 0..48 {
        variants.push(("segment 0 run byte", at + segment0 + i, good[at + segment0 + i] ^ 0x80));
    }
    let (mut upstream, mut errors) = (0, Vec::new());
    for (what, offset, value) in variants {
        let mut bad = good.clone();
        bad[offset] = value;
        if upstream_panics(&bad) {
            upstream += 1;
        }
        // Ours: never a panic; either an error that names the problem or pixels of the right shape.
        let file = DicomFile::from_bytes(&bad, "bad").unwrap();
        match catch_unwind(AssertUnwindSafe(|| file.pixels())).unwrap_or_else(|_| panic!("{what} at {offset}: panic")) {
            Ok(px) => assert_eq!(px.shape, clean.shape),
            Err(e) => {
                assert!(matches!(e.kind, ErrorKind::Decode { .. }), "{what}: {e}");
                errors.push(e.to_string());
            }
        }
    }
    eprintln!("upstream panicked on {upstream} of 50 variants; granska: {} errors, the rest decoded", errors.len());
    assert!(upstream >= 2, "the upstream defect should reproduce on these bytes (panicked on {upstream})");
    // 16 bits allocated: two segments (high bytes, low bytes).
    assert!(errors.iter().any(|e| e.contains("frame 0: expected 2 RLE segments, found 255")), "{errors:#?}");
    assert!(errors.iter().any(|e| e.contains("frame 0: segment 0 ")), "{errors:#?}");
}
