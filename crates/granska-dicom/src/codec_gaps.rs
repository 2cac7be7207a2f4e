//! Gaps in dicom-rs's codecs: RLE Lossless (DICOM PS3.5 Annex G) decoded with every offset
//! and run checked (dicom-rs 0.10.1 panics on a corrupted segment header and stops at 16
//! bits allocated, while research data uses 32), and a check for RGB JPEG streams whose colour
//! transform is ambiguous (the codec would silently convert them as if YCbCr).
//!
//! The RLE decoder is hand-written because dicom-rs's is the crate for it and is what falls
//! short; Annex G (PackBits runs, one segment per byte plane) is small enough to check in full.

use crate::pixels::Geometry;

/// Decode RLE Lossless frames (one fragment per frame) into little-endian interleaved bytes.
/// Every offset, run and count is checked against the fragment: corrupt input is an error.
pub(crate) fn decode_frames(fragments: &[Vec<u8>], g: &Geometry) -> Result<Vec<u8>, String> {
    if g.bits_allocated == 0 || !g.bits_allocated.is_multiple_of(8) {
        return Err(format!("RLE needs whole bytes per sample, found BitsAllocated {}", g.bits_allocated));
    }
    let bps = usize::from(g.bits_allocated / 8);
    let spp = usize::from(g.samples_per_pixel);
    if spp * bps > 15 {
        return Err(format!("RLE holds at most 15 segments, {spp} samples of {bps} bytes need {}", spp * bps));
    }
    let pixels = g.rows as usize * g.columns as usize;
    // One frame may be split across fragments (PS3.5 A.4): join them. Several frames must
    // come one fragment each; anything else is refused rather than guessed.
    let joined;
    let fragments = if g.frames == 1 && fragments.len() > 1 {
        joined = [fragments.concat()];
        &joined[..]
    } else {
        fragments
    };
    if fragments.len() != g.frames as usize {
        return Err(format!("expected {} frames, one fragment each, found {} fragments", g.frames, fragments.len()));
    }
    let mut out = vec![0u8; pixels * spp * bps * g.frames as usize];
    for (f, fragment) in fragments.iter().take(g.frames as usize).enumerate() {
        if fragment.len() < 64 {
            return Err(format!("frame {f}: RLE header needs 64 bytes, found {}", fragment.len()));
        }
        let word = |i: usize| {
            u32::from_le_bytes([fragment[i * 4], fragment[i * 4 + 1], fragment[i * 4 + 2], fragment[i * 4 + 3]])
                as usize
        };
        let segments = word(0);
        if segments != spp * bps {
            return Err(format!("frame {f}: expected {} RLE segments, found {segments}", spp * bps));
        }
        let frame = &mut out[f * pixels * spp * bps..(f + 1) * pixels * spp * bps];
        for seg in 0..segments {
            let start = word(1 + seg);
            let end = if seg + 1 < segments { word(2 + seg) } else { fragment.len() };
            let data =
                fragment.get(start..end).ok_or_else(|| format!("frame {f}: segment {seg} offsets out of range"))?;
            // Segments run sample by sample, most significant byte first.
            let (sample, byte) = (seg / bps, bps - 1 - seg % bps);
            let mut written = 0usize;
            let mut put = |written: &mut usize, v: u8| {
                if *written < pixels {
                    frame[(*written * spp + sample) * bps + byte] = v;
                    *written += 1;
                }
            };
            let mut i = 0;
            // Stop once the segment is full: encoders may pad the segment to an even length.
            while i < data.len() && written < pixels {
                let n = data[i] as i8;
                i += 1;
                if n >= 0 {
                    let count = n as usize + 1;
                    let run = data
                        .get(i..i + count)
                        .ok_or_else(|| format!("frame {f}: segment {seg} literal run past its end"))?;
                    run.iter().for_each(|&b| put(&mut written, b));
                    i += count;
                } else if n != -128 {
                    let b = *data.get(i).ok_or_else(|| format!("frame {f}: segment {seg} repeat run past its end"))?;
                    (0..(1 - n as isize) as usize).for_each(|_| put(&mut written, b));
                    i += 1;
                }
            }
            if written < pixels {
                return Err(format!("frame {f}: segment {seg} holds {written} of {pixels} samples"));
            }
        }
    }
    Ok(out)
}

/// True when a baseline JPEG stream has three components, no Adobe APP14 marker and
/// component ids other than 'R','G','B': decoders then assume YCbCr.
pub(crate) fn jpeg_colour_transform_ambiguous(stream: &[u8]) -> bool {
    let mut i = 2; // after SOI
    let mut adobe = false;
    while i + 4 <= stream.len() {
        if stream[i] != 0xFF {
            return false;
        }
        let marker = stream[i + 1];
        let len = usize::from(u16::from_be_bytes([stream[i + 2], stream[i + 3]]));
        let body = stream.get(i + 4..i + 2 + len).unwrap_or(&[]);
        match marker {
            0xEE if body.starts_with(b"Adobe") => adobe = true,
            0xC0 | 0xC1 => {
                // SOF: precision, height, width, components, then 3 bytes per component.
                let n = body.get(5).copied().unwrap_or(0) as usize;
                if n != 3 || adobe {
                    return false;
                }
                let ids: Vec<u8> = (0..n).filter_map(|c| body.get(6 + c * 3).copied()).collect();
                return ids != b"RGB";
            }
            0xDA => return false,
            _ => {}
        }
        i += 2 + len;
    }
    false
}
