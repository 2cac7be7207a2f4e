//! `Uid`: what is accepted, what is refused and how the refusal reads.

use granska_types::{Uid, UidError};
use proptest::prelude::*;

#[test]
fn accepts_uids_and_strips_padding() {
    for ok in [
        "1",
        "1.2.840.10008.5.1.4.1.1.1.2",
        "2.25.0123",
        &"1.".repeat(31).chars().chain("9".chars()).collect::<String>(),
    ] {
        assert_eq!(Uid::parse(ok).unwrap().as_str(), ok);
    }
    assert_eq!(Uid::parse("1.2.3\0").unwrap().as_str(), "1.2.3");
    assert_eq!(Uid::parse("1.2.3 ").unwrap().as_str(), "1.2.3");
}

#[test]
fn refuses_what_routing_used_to_refuse_after_ingest() {
    // The defect: a backslash, NUL or control byte inside a study UID was stored, then
    // refused by routing for ever. One rule now refuses it everywhere.
    let cases = [
        ("1.2.3\\4", "expected a DICOM UID (digits and dots), found '\\\\' at byte 5 of \"1.2.3\\\\4\""),
        ("1.2\u{0}.3", "expected a DICOM UID (digits and dots), found '\\0' at byte 3 of \"1.2\\0.3\""),
        ("1.2\u{1}3", "expected a DICOM UID (digits and dots), found '\\u{1}' at byte 3 of \"1.2\\u{1}3\""),
        ("", "expected a DICOM UID, found an empty value"),
        ("\0\0", "expected a DICOM UID, found an empty value"),
        ("1..2", "expected a DICOM UID with non-empty dot-separated components, found \"1..2\""),
        (".1.2", "expected a DICOM UID with non-empty dot-separated components, found \".1.2\""),
        ("1.2.", "expected a DICOM UID with non-empty dot-separated components, found \"1.2.\""),
        ("1.2a", "expected a DICOM UID (digits and dots), found 'a' at byte 3 of \"1.2a\""),
    ];
    for (text, message) in cases {
        assert_eq!(Uid::parse(text).unwrap_err().to_string(), message, "{text:?}");
    }
    assert_eq!(Uid::parse(&"1".repeat(65)), Err(UidError::TooLong { len: 65 }));
}

#[test]
fn serde_validates() {
    let uid: Uid = serde_json::from_str("\"1.2.3\"").unwrap();
    assert_eq!(serde_json::to_string(&uid).unwrap(), "\"1.2.3\"");
    let err = serde_json::from_str::<Uid>("\"1.2\\\\3\"").unwrap_err().to_string();
    assert!(err.contains("expected a DICOM UID"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Whatever is accepted is only digits and dots, at most 64 long, without empty parts.
    #[test]
    fn accepted_means_well_formed(text in "[0-9.\\\\\\x00-\\x1f a]{0,70}") {
        if let Ok(uid) = Uid::parse(&text) {
            let s = uid.as_str();
            prop_assert!(!s.is_empty() && s.len() <= 64);
            prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            prop_assert!(s.split('.').all(|p| !p.is_empty()));
        }
    }
}
