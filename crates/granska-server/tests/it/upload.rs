//! The upload reassembly rules, on random chunk sequences (the stable, short version of the
//! `upload` fuzz target): instances come out whole and in order, nothing over the limit is
//! buffered, interleaving and bad references end the stream, and a stream cut inside an
//! instance reports it.

use granska_server::upload::{Assembled, Chunk, Reassembler, StreamError};
use proptest::prelude::*;

const MAX: usize = 64;

fn chunks() -> impl Strategy<Value = Vec<(u8, usize, bool)>> {
    // (instance ref choice, data length, last)
    prop::collection::vec((0u8..20, 0usize..40, prop::bool::weighted(0.3)), 0..40)
}

fn name(choice: u8) -> String {
    // Mostly good references (so instances complete), sometimes another or a bad one.
    match choice {
        0..=15 => "a".into(),
        16..=17 => "b".into(),
        18 => String::new(),
        _ => "x".repeat(1025),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn instances_come_out_whole_and_nothing_over_the_limit_is_held(seq in chunks()) {
        let mut r = Reassembler::new(MAX);
        let mut expected: Vec<u8> = Vec::new();
        let mut current: Option<String> = None;
        let mut fill = 0u8;
        for (choice, len, last) in seq {
            let chunk = Chunk { instance_ref: name(choice), data: vec![fill; len], last };
            fill = fill.wrapping_add(1);
            let before = r.buffered();
            let will = r.would_buffer(&chunk);
            let (data, chunk_ref) = (chunk.data.clone(), chunk.instance_ref.clone());
            match r.push(chunk) {
                Err(StreamError::BadRef { len }) => {
                    prop_assert!(len == 0 || len > 1024);
                    return Ok(());
                }
                Err(StreamError::Interleaved { current: c, next }) => {
                    prop_assert_eq!(Some(&c), current.as_ref());
                    prop_assert_ne!(c, next);
                    return Ok(());
                }
                Ok(None) => {
                    prop_assert!(!last);
                    prop_assert!(r.buffered() <= MAX);
                    // The reservation the server makes equals what was buffered.
                    prop_assert_eq!(r.buffered(), if will == 0 && before + data.len() > MAX { 0 } else { before + will });
                    expected.extend_from_slice(&data);
                    current = Some(chunk_ref);
                }
                Ok(Some(done)) => {
                    prop_assert!(last);
                    expected.extend_from_slice(&data);
                    match done {
                        Assembled::Instance { instance_ref, bytes } => {
                            prop_assert_eq!(&instance_ref, &chunk_ref);
                            prop_assert_eq!(&bytes, &expected);
                            prop_assert!(bytes.len() <= MAX);
                        }
                        Assembled::TooLarge { instance_ref, size } => {
                            prop_assert_eq!(&instance_ref, &chunk_ref);
                            prop_assert_eq!(size as usize, expected.len());
                            prop_assert!(expected.len() > MAX);
                        }
                    }
                    prop_assert_eq!(r.buffered(), 0);
                    expected.clear();
                    current = None;
                }
            }
        }
        match (r.finish(), current) {
            (Some(u), Some(c)) => {
                prop_assert_eq!(u.instance_ref, c);
                prop_assert_eq!(u.received as usize, expected.len());
            }
            (None, None) => {}
            (u, c) => prop_assert!(false, "unfinished {:?} vs {:?}", u, c),
        }
    }
}
