//! Arbitrary bytes as a STOW-RS request: the first line (up to the first `\n`) is its
//! `Content-Type`, the rest its body. `stow::parse_content_type`, `stow::split_body` (the
//! multipart parser the handler streams through, under its per-part and whole-body limits) and
//! `stow::meta_uids` on every part must return results or errors, never panic or hang; an
//! accepted boundary is 1 to `stow::MAX_BOUNDARY` characters; no part is over the per-part
//! limit, and all of them together are not over the body's; a UID read from a meta group is
//! digits and dots, at most 64 of them. When the header is refused, the body is still parsed with the boundary `b`.
#![no_main]

use granska_http::HttpOptions;
use granska_http::stow;
use libfuzzer_sys::fuzz_target;

fn options() -> HttpOptions {
    HttpOptions {
        max_instance_bytes: 4096,
        max_request_bytes: 65536,
        accept_and_drop: Vec::new(),
        max_requests: 1,
        sessions: granska_http::session::SessionOptions::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let options = options();
    let (head, content) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let boundary = match stow::parse_content_type(&String::from_utf8_lossy(head)) {
        Ok(boundary) => {
            let n = boundary.chars().count();
            assert!((1..=stow::MAX_BOUNDARY).contains(&n), "accepted a boundary of {n} characters");
            boundary
        }
        Err(_) => "b".to_owned(),
    };
    let Ok(parts) = stow::split_body(bytes::Bytes::copy_from_slice(content), &boundary, &options) else { return };
    let mut total = 0;
    for part in &parts {
        assert!(part.bytes.len() <= options.max_instance_bytes, "a part of {} bytes over the limit", part.bytes.len());
        total += part.bytes.len();
        let (class, instance) = stow::meta_uids(&part.bytes);
        for uid in [class, instance].into_iter().flatten() {
            assert!(uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.'), "bad uid {uid:?}");
        }
    }
    assert!(total as u64 <= options.max_request_bytes, "parts of {total} bytes from a body over the limit");
});
