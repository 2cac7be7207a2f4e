//! Arbitrary chunk sequences through the upload `Reassembler` (limit 4096 bytes), checked
//! against a model of its rules: it never panics; it refuses exactly bad refs and interleaved
//! chunks; an `Instance` holds exactly its chunks' bytes since the previous instance ended, and
//! a `TooLarge` exactly their count; `buffered()` never exceeds the limit; and the memory
//! accounting the server does with `would_buffer` (reserve before `push`, release when
//! `buffered()` drops to 0) always equals `buffered()`. After an error the stream stops, as
//! the server ends it.
//!
//! Input encoding, per chunk: one header byte (bits 0–2: the instance_ref, from a few choices
//! including an empty one and ones of 1024 and 1025 bytes; bit 3: `last`) and one length byte.
//! Below 0xF0 the length byte is the data's length and the data follows in the input (padded
//! with a counter where the input runs out); from 0xF0 the data is (b − 0xEF) × 512 bytes (up
//! to 8192) of a pattern and nothing more is read, so large chunks cost two input bytes.
#![no_main]

use granska_server::upload::{Assembled, Chunk, MAX_REF, Reassembler};
use libfuzzer_sys::fuzz_target;

const MAX_INSTANCE: usize = 4096;

fn instance_ref(choice: u8) -> String {
    match choice & 7 {
        0 => "a".into(),
        1 => "b".into(),
        2 => "a/1.2.840.10008".into(),
        3 => String::new(),
        4 => "x".repeat(MAX_REF),
        5 => "x".repeat(MAX_REF + 1),
        6 => "é".into(),
        _ => "a".into(),
    }
}

/// Decodes the next chunk, or `None` when the input is used up.
fn next_chunk(input: &mut &[u8]) -> Option<Chunk> {
    let (&header, rest) = input.split_first()?;
    let (&len_byte, rest) = rest.split_first().unwrap_or((&0, &[]));
    let (data, rest) = if len_byte < 0xF0 {
        let len = usize::from(len_byte);
        let take = len.min(rest.len());
        let mut data = rest[..take].to_vec();
        data.extend((take..len).map(|i| i as u8));
        (data, &rest[take..])
    } else {
        let len = usize::from(len_byte - 0xEF) * 512;
        ((0..len).map(|i| i as u8 ^ header).collect(), rest)
    };
    *input = rest;
    Some(Chunk { instance_ref: instance_ref(header), data, last: header & 8 != 0 })
}

fuzz_target!(|input: &[u8]| {
    let mut input = input;
    let mut r = Reassembler::new(MAX_INSTANCE);
    // The model: the unfinished instance's ref and all its bytes so far.
    let mut current: Option<(String, Vec<u8>)> = None;
    // What the server holds of its buffer budget for this stream.
    let mut held = 0usize;
    let mut ended = false;
    while let Some(chunk) = next_chunk(&mut input) {
        let before = r.buffered();
        let want = r.would_buffer(&chunk);
        let bad_ref = chunk.instance_ref.is_empty() || chunk.instance_ref.len() > MAX_REF;
        let interleaved = current.as_ref().is_some_and(|(name, _)| *name != chunk.instance_ref);
        let (name, data, last) = (chunk.instance_ref.clone(), chunk.data.clone(), chunk.last);
        let pushed = r.push(chunk);
        let Ok(done) = pushed else {
            assert!(bad_ref || interleaved, "refused a valid chunk: {pushed:?}");
            ended = true;
            break;
        };
        assert!(!bad_ref && !interleaved, "accepted a bad ref or an interleaved chunk");
        held += want;
        let after = r.buffered();
        assert!(after <= MAX_INSTANCE, "buffered {after} > limit {MAX_INSTANCE}");
        let bytes = &mut current.get_or_insert_with(|| (name.clone(), Vec::new())).1;
        bytes.extend_from_slice(&data);
        match done {
            None => {
                assert!(!last, "the last chunk completed nothing");
                if after >= before {
                    assert_eq!(after - before, want, "would_buffer differs from buffered()'s growth");
                } else {
                    // Going over the limit drops what was held: nothing new is buffered.
                    assert_eq!((after, want), (0, 0), "buffered() shrank without going over the limit");
                }
                let whole = &current.as_ref().expect("set above").1;
                if whole.len() <= MAX_INSTANCE {
                    assert_eq!(after, whole.len(), "buffered() is not the instance's size so far");
                } else {
                    assert_eq!(after, 0, "an instance over the limit still buffers");
                }
            }
            Some(a) => {
                assert!(last, "completed an instance without its last chunk");
                assert_eq!(after, 0, "buffered() after an instance ended");
                let (model_ref, model_bytes) = current.take().expect("set above");
                match a {
                    Assembled::Instance { instance_ref, bytes } => {
                        assert_eq!(instance_ref, model_ref);
                        assert!(bytes.len() <= MAX_INSTANCE, "an instance over the limit was assembled");
                        assert!(bytes == model_bytes, "assembled bytes differ from the chunks sent");
                    }
                    Assembled::TooLarge { instance_ref, size } => {
                        assert_eq!(instance_ref, model_ref);
                        assert!(model_bytes.len() > MAX_INSTANCE, "refused as too large at {}", model_bytes.len());
                        assert_eq!(size, model_bytes.len() as u64, "TooLarge size differs from bytes sent");
                    }
                }
            }
        }
        if after == 0 {
            held = 0;
        }
        assert_eq!(held, after, "the server's reservation differs from what is buffered");
    }
    if !ended {
        // The stream ended (half-close): the unfinished instance, with every byte it was sent.
        let unfinished = r.finish().map(|u| (u.instance_ref, u.received));
        assert_eq!(unfinished, current.map(|(name, bytes)| (name, bytes.len() as u64)));
    }
});
