//! A short, stable version of the `dicom` fuzz target (`scripts/fuzz.sh dicom`, nightly) that
//! runs in CI: small phantom views in several transfer syntaxes, each mutated a few hundred
//! times (bytes flipped, runs overwritten, truncated), read, validated and decoded. Nothing
//! may panic; every failure must be an error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use granska_dicom::{DicomFile, Profile};
use granska_phantom::{Options, Size, generate_exam};

use crate::support;

/// splitmix64: deterministic, so a failure names a reproducible case.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mutate(bytes: &[u8], seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut out = bytes.to_vec();
    match next(&mut s) % 4 {
        0 => out.truncate((next(&mut s) % out.len() as u64) as usize),
        1 => {
            // Overwrite a run with one value (lengths, counts, offsets become odd numbers).
            let at = (next(&mut s) % out.len() as u64) as usize;
            let len = 1 + (next(&mut s) % 8) as usize;
            let v = next(&mut s) as u8;
            out[at..(at + len).min(bytes.len())].iter_mut().for_each(|b| *b = v);
        }
        _ => {
            for _ in 0..1 + next(&mut s) % 8 {
                let at = (next(&mut s) % out.len() as u64) as usize;
                out[at] ^= 1 << (next(&mut s) % 8);
            }
        }
    }
    out
}

#[test]
fn mutated_instances_in_every_codec_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let exam = generate_exam(57, 0, &Options { size: Size::Small, ..Options::default() });
    let native = dir.path().join("native.dcm");
    granska_phantom::to_dicom(&exam, 1).write_to_file(&native).unwrap();
    let mut seeds = vec![std::fs::read(&native).unwrap()];
    for (name, program, flag) in
        [("rle", "dcmcrle", None), ("jpeg", "dcmcjpeg", Some("+el")), ("jpegls", "dcmcjpls", Some("+el"))]
    {
        let dst = dir.path().join(format!("{name}.dcm"));
        let mut args: Vec<&Path> = flag.map(Path::new).into_iter().collect();
        args.push(&native);
        args.push(&dst);
        support::tool(program, &args);
        seeds.push(std::fs::read(&dst).unwrap());
    }
    let (mut decoded, mut refused) = (0, 0);
    for (i, seed) in seeds.iter().enumerate() {
        for m in 0..300u64 {
            let case = (i as u64) << 32 | m;
            let bytes = mutate(seed, case);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let file = DicomFile::from_bytes(&bytes, "mutated")?;
                file.mammogram(Profile::Strict)?;
                file.mammogram(Profile::Lenient)?;
                file.pixels().map(|_| ())
            }));
            match outcome {
                Ok(Ok(())) => decoded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!("case {case:#x} (seed {i}, mutation {m}) panicked"),
            }
        }
    }
    // Both outcomes occur: the mutations reach the decoders and the checks.
    assert!(decoded > 100 && refused > 100, "decoded {decoded}, refused {refused}");
}
