//! Bad input: every malformed file gives a typed error naming the file and what is wrong,
//! never a panic, and never an allocation sized by a declared length beyond the input.

use granska_dicom::{DicomFile, ErrorKind, Profile};
use granska_phantom::{Options, generate_exam, to_dicom};

fn phantom_bytes() -> Vec<u8> {
    let exam = generate_exam(5, 0, &Options::default());
    let mut bytes = Vec::new();
    to_dicom(&exam, 0).write_all(&mut bytes).expect("encodes");
    bytes
}

/// Read, validate (strict) and decode; the error if any step fails.
fn check(bytes: &[u8]) -> Result<(), granska_dicom::Error> {
    let f = DicomFile::from_bytes(bytes, "input.dcm")?;
    f.mammogram(Profile::Strict)?;
    f.pixels()?;
    Ok(())
}

#[test]
fn empty_and_random_bytes() {
    let e = check(&[]).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Empty), "{e}");
    assert_eq!(e.to_string(), "input.dcm: file is empty, expected a DICOM Part 10 file");
    let mut x: u64 = 0x1234_5678;
    let noise: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let e = check(&noise).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::NotDicom { .. }), "{e}");
}

#[test]
fn truncated_at_many_offsets() {
    let bytes = phantom_bytes();
    let mut offsets: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 97).collect();
    offsets.extend([1, 127, 128, 131, 132, 140, 200, 400, bytes.len() - 1]);
    for cut in offsets {
        let e = check(&bytes[..cut]).expect_err(&format!("truncated at {cut} must fail"));
        assert!(e.to_string().starts_with("input.dcm: "), "{e}");
    }
}

fn replace(bytes: &mut Vec<u8>, find: &[u8], with: &[u8]) {
    let at = bytes.windows(find.len()).position(|w| w == find).expect("pattern present");
    bytes.splice(at..at + find.len(), with.iter().copied());
}

#[test]
fn wrong_modality_and_missing_laterality() {
    let mut b = phantom_bytes();
    replace(&mut b, b"CS\x02\x00MG", b"CS\x02\x00CT");
    let e = check(&b).unwrap_err();
    assert_eq!(e.kind.to_string(), "invalid Modality (0008,0060): expected MG, found \"CT\"");

    let mut b = phantom_bytes();
    // ImageLaterality (0020,0062) → an unrelated private tag.
    replace(&mut b, b"\x20\x00\x62\x00CS\x02\x00L ", b"\x21\x00\x62\x00CS\x02\x00L ");
    let e = check(&b).unwrap_err();
    assert!(e.kind.to_string().starts_with("missing ImageLaterality (0020,0062)"), "{e}");
}

fn set_us(bytes: &mut [u8], group: u16, element: u16, value: u16) {
    let mut header = Vec::new();
    header.extend(group.to_le_bytes());
    header.extend(element.to_le_bytes());
    header.extend(b"US\x02\x00");
    let at = bytes.windows(8).position(|w| w == header.as_slice()).expect("element present") + 8;
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn inconsistent_pixel_attributes() {
    let mut b = phantom_bytes();
    set_us(&mut b, 0x0028, 0x0101, 20); // BitsStored > BitsAllocated
    let e = check(&b).unwrap_err();
    assert_eq!(e.kind.to_string(), "invalid BitsStored (0028,0101): expected 1 to Bits Allocated (16), found \"20\"");

    let mut b = phantom_bytes();
    set_us(&mut b, 0x0028, 0x0010, 0); // zero rows
    let e = check(&b).unwrap_err();
    assert_eq!(e.kind.to_string(), "invalid Rows (0028,0010): expected a positive integer, found \"0\"");

    let mut b = phantom_bytes();
    set_us(&mut b, 0x0028, 0x0010, 4000); // more rows than the pixel data holds
    let e = check(&b).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::PixelDataTooShort { .. }), "{e}");
}

#[test]
fn declared_length_of_4_gb_is_rejected_before_allocation() {
    let mut b = phantom_bytes();
    // PixelData (7FE0,0010) OW: set its 32-bit length to 0xFFFFFFF0.
    let header = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
    let at = b.windows(8).position(|w| w == header).expect("pixel data header") + 8;
    b[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let e = check(&b).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::DeclaredLength { declared: 0xFFFF_FFF0, .. }), "{e}");
}
