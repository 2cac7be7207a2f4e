//! A structural pre-scan of a DICOM byte stream that checks every declared length against the
//! bytes that remain, before dicom-rs parses it.
//!
//! Why: dicom-rs reserves and zero-fills a buffer of the declared value length before reading
//! it, so a corrupt header declaring 4 GB makes it allocate 4 GB. Granska must never size an
//! allocation by a length larger than its input, so every element header (including those
//! nested in sequences, items and encapsulated fragments) is checked here first. The scan
//! does not interpret values; it only walks headers, so it costs microseconds per file.
//! It is hand-written rather than a crate because it must run before the parser allocates,
//! and dicom-rs, the parser Granska uses, is what trusts the declared length.

use std::io::Read;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::error::ErrorKind;

/// Where the file meta group starts (the `DICM` magic) in a Part 10 byte stream.
pub(crate) fn find_magic(bytes: &[u8]) -> Result<usize, ErrorKind> {
    if bytes.is_empty() {
        return Err(ErrorKind::Empty);
    }
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Ok(128);
    }
    if bytes.len() >= 4 && &bytes[0..4] == b"DICM" {
        return Ok(0);
    }
    let window = bytes.get(128..132.min(bytes.len())).unwrap_or(&[]);
    let found = if bytes.len() < 132 {
        format!("a file of only {} bytes", bytes.len())
    } else {
        format!("{:?}", String::from_utf8_lossy(window))
    };
    Err(ErrorKind::NotDicom { found })
}

#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

const EXPLICIT_LE: Encoding = Encoding { explicit: true, big_endian: false };

/// Upper bound on an inflated deflated data set, relative to nothing but sanity: no
/// mammogram comes near it, and it stops a deflate bomb.
const MAX_INFLATED: usize = 2 << 30;

/// What [`check`] found: the transfer syntax and where the data set starts.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The transfer syntax UID of the file meta group (trimmed), if any.
    pub(crate) ts: Option<String>,
    /// Offset of the data set (after the meta group) in the stream.
    pub(crate) dataset_start: usize,
}

/// Check every declared length in the stream starting at the `DICM` magic.
pub(crate) fn check(stream: &[u8]) -> Result<Checked, ErrorKind> {
    // Magic, then the meta group (always explicit VR little endian).
    let mut ts = None;
    let end_of_meta = scan(stream, 4, EXPLICIT_LE, Some(&mut ts))?;
    let Some(uid) = ts.clone() else {
        return Ok(Checked { ts: None, dataset_start: end_of_meta }); // dicom-rs reports it
    };
    let dataset = &stream[end_of_meta..];
    match uid.as_str() {
        "1.2.840.10008.1.2" => scan(dataset, 0, Encoding { explicit: false, big_endian: false }, None)?,
        "1.2.840.10008.1.2.2" => scan(dataset, 0, Encoding { explicit: true, big_endian: true }, None)?,
        "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => {
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(dataset)
                .take(MAX_INFLATED as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(ErrorKind::Inflate)?;
            if inflated.len() > MAX_INFLATED {
                return Err(ErrorKind::InflateTooLarge { limit: MAX_INFLATED });
            }
            scan(&inflated, 0, EXPLICIT_LE, None)?
        }
        // Every other transfer syntax encodes the data set as explicit VR little endian.
        _ => scan(dataset, 0, EXPLICIT_LE, None)?,
    };
    Ok(Checked { ts, dataset_start: end_of_meta })
}

/// Where the value of the data set's own (top-level, not nested in a sequence such as the Icon
/// Image Sequence) Pixel Data lies in `dataset`, when it has a defined length: the bytes to
/// decode native pixel data from in place, without the parser copying them. Little endian only;
/// `explicit` is the VR encoding. Runs after [`check`], so every length is known to fit; it is
/// still bounds-checked, and gives `None` on anything it does not expect.
pub(crate) fn top_level_pixel_data(dataset: &[u8], explicit: bool) -> Option<std::ops::Range<usize>> {
    let mut pos = 0usize;
    // Open containers of undefined length (sequences, items) around `pos`.
    let mut depth = 0usize;
    while pos + 8 <= dataset.len() {
        let group = u16_at(dataset, pos, false);
        let element = u16_at(dataset, pos + 2, false);
        let (len, header) = if group == 0xFFFE || !explicit {
            (u32_at(dataset, pos + 4, false), 8)
        } else {
            let vr = VR::from_binary([dataset[pos + 4], dataset[pos + 5]])?;
            if has_long_length(vr) {
                let b = dataset.get(pos + 8..pos + 12)?;
                (u32::from_le_bytes([b[0], b[1], b[2], b[3]]), 12)
            } else {
                (u32::from(u16_at(dataset, pos + 6, false)), 8)
            }
        };
        pos += header;
        match (group, element, len) {
            (0xFFFE, 0xE00D | 0xE0DD, _) => depth = depth.checked_sub(1)?,
            (0x7FE0, 0x0010, UNDEFINED) if depth == 0 => return None, // encapsulated
            (0x7FE0, 0x0010, len) if depth == 0 => {
                let end = pos.checked_add(len as usize)?;
                return (end <= dataset.len()).then_some(pos..end);
            }
            (_, _, UNDEFINED) => depth += 1,
            // A defined-length element, item or sequence: its whole value is skipped.
            (_, _, len) => pos = pos.checked_add(len as usize)?,
        }
    }
    None
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if be { u16::from_be_bytes(v) } else { u16::from_le_bytes(v) }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Walk element headers from `pos`. With `meta`, stop at the first element outside group
/// 0002 and record the transfer syntax; returns the position where the walk stopped.
fn scan(b: &[u8], mut pos: usize, enc: Encoding, mut meta: Option<&mut Option<String>>) -> Result<usize, ErrorKind> {
    let be = enc.big_endian;
    // Inside encapsulated pixel data, items are opaque fragments rather than data sets.
    let mut in_fragments = false;
    // Where (0002,0000) says the meta group ends.
    let mut meta_end: Option<usize> = None;
    while pos + 8 <= b.len() {
        let group = u16_at(b, pos, be);
        let element = u16_at(b, pos + 2, be);
        if meta.is_some() && group != 0x0002 {
            // An element of another group inside the declared meta group: dicom-rs reads on
            // past it by the group length while this walk would stop, leaving the rest
            // unchecked (the fuzzer's 372-byte file that made dicom-rs touch 4 GB).
            if let Some(end) = meta_end
                && pos < end
            {
                return Err(ErrorKind::MetaGroupInterrupted { group, element, offset: pos, declared_end: end });
            }
            return Ok(pos);
        }
        let header_start = pos;
        let (len, header_len, vr) = if group == 0xFFFE {
            (u32_at(b, pos + 4, be), 8, None)
        } else if enc.explicit {
            let vr_bytes = [b[pos + 4], b[pos + 5]];
            let Some(vr) = VR::from_binary(vr_bytes) else {
                return Err(ErrorKind::InvalidVr {
                    group,
                    element,
                    offset: pos,
                    vr: String::from_utf8_lossy(&vr_bytes).into_owned(),
                });
            };
            if has_long_length(vr) {
                if pos + 12 > b.len() {
                    break;
                }
                (u32_at(b, pos + 8, be), 12, Some(vr))
            } else {
                (u32::from(u16_at(b, pos + 6, be)), 8, Some(vr))
            }
        } else {
            let vr = StandardDataDictionary.by_tag(Tag(group, element)).and_then(|e| match e.vr() {
                VirtualVr::Exact(vr) => Some(vr),
                _ => None,
            });
            (u32_at(b, pos + 4, be), 8, vr)
        };
        pos += header_len;
        let remaining = b.len() - pos;
        let check = |len: u32| -> Result<(), ErrorKind> {
            if len as usize > remaining {
                Err(ErrorKind::DeclaredLength {
                    group,
                    element,
                    offset: header_start,
                    declared: u64::from(len),
                    remaining,
                })
            } else {
                Ok(())
            }
        };
        match (group, element) {
            // Item: a nested data set (walk into it), or an opaque fragment.
            (0xFFFE, 0xE000) => {
                if len != UNDEFINED {
                    check(len)?;
                    if in_fragments {
                        pos += len as usize;
                    }
                }
            }
            // Sequence delimiter ends the fragments of encapsulated pixel data.
            (0xFFFE, 0xE0DD) => in_fragments = false,
            (0xFFFE, _) => {}
            _ => {
                if len == UNDEFINED {
                    // Only a sequence (SQ, or UN / an implicit VR unknown to the dictionary,
                    // which may be a private sequence) or encapsulated pixel data may have an
                    // undefined length, and nothing in the meta group. dicom-rs would read
                    // anything else to the end, allocating gigabytes for a few bytes of input.
                    let pixel_data = (group, element) == (0x7FE0, 0x0010);
                    let may = meta.is_none() && (pixel_data || matches!(vr, None | Some(VR::SQ) | Some(VR::UN)));
                    if !may {
                        return Err(ErrorKind::UndefinedLength {
                            group,
                            element,
                            offset: header_start,
                            vr: vr.map_or_else(|| "unknown".to_owned(), |v| v.to_string().to_owned()),
                        });
                    }
                    // A sequence, or encapsulated pixel data: walk into it.
                    if pixel_data {
                        in_fragments = true;
                    }
                } else {
                    check(len)?;
                    // A binary number's value must hold whole numbers: dicom-rs reads len/4 (FL)
                    // or len/8 (FD) values and leaves the rest unread, so the next header it
                    // reads is out of step with this walk and may declare any length (a fuzzer
                    // find: 192 bytes → a 4 GB allocation).
                    if let Some(size) = vr.and_then(value_size)
                        && !(len as usize).is_multiple_of(size)
                    {
                        return Err(ErrorKind::Invalid {
                            attr: crate::error::Attr::of(Tag(group, element)),
                            expected: format!(
                                "a length that is a multiple of {size} (VR {})",
                                vr.map_or("?", |v| v.to_string())
                            ),
                            found: format!("{len} bytes (element at byte {header_start} of its data set)"),
                        });
                    }
                    if vr == Some(VR::SQ) {
                        // Defined-length sequence: walk its items' headers too.
                    } else {
                        if meta.is_some() && (group, element) == (0x0002, 0x0000) && len == 4 {
                            meta_end = Some(pos + 4 + u32_at(b, pos, be) as usize);
                        }
                        if let Some(ts) = meta.as_deref_mut()
                            && (group, element) == (0x0002, 0x0010)
                        {
                            let raw = &b[pos..pos + len as usize];
                            *ts = Some(crate::ts::trim_uid(&String::from_utf8_lossy(raw)).to_owned());
                        }
                        pos += len as usize;
                    }
                }
            }
        }
    }
    Ok(pos)
}

/// Bytes per value of a binary numeric VR (None for the others).
fn value_size(vr: VR) -> Option<usize> {
    use VR::*;
    match vr {
        SS | US | OW => Some(2),
        SL | UL | FL | OF | OL | AT => Some(4),
        FD | OD | SV | UV | OV => Some(8),
        _ => None,
    }
}

fn has_long_length(vr: VR) -> bool {
    use VR::*;
    matches!(vr, OB | OD | OF | OL | OV | OW | SQ | SV | UC | UN | UR | UT | UV)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_le(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(group.to_le_bytes());
        out.extend(element.to_le_bytes());
        out.extend(vr);
        out.extend((value.len() as u16).to_le_bytes());
        out.extend(value);
        out
    }

    #[test]
    fn declared_length_beyond_input_is_rejected() {
        let mut s = b"DICM".to_vec();
        s.extend(explicit_le(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        s.extend([0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0]);
        s.extend(0xFFFF_FFF0u32.to_le_bytes());
        s.extend([1, 2, 3]);
        let err = check(&s).unwrap_err();
        assert!(matches!(err, ErrorKind::DeclaredLength { declared: 0xFFFF_FFF0, remaining: 3, .. }), "{err}");
    }

    #[test]
    fn undefined_lengths_only_where_the_standard_allows_them() {
        // The fuzzer's find: an undefined-length OB in the meta group made dicom-rs touch 4 GB.
        let mut s = b"DICM".to_vec();
        s.extend([0x02, 0x00, 0x01, 0x00, b'O', b'B', 0, 0]);
        s.extend(UNDEFINED.to_le_bytes());
        s.extend([0u8; 16]);
        let err = check(&s).unwrap_err();
        assert!(matches!(err, ErrorKind::UndefinedLength { group: 2, element: 1, .. }), "{err}");
        // In the data set: an undefined-length OB that is not pixel data, likewise.
        let mut s = b"DICM".to_vec();
        s.extend(explicit_le(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        s.extend([0x09, 0x00, 0x10, 0x10, b'O', b'B', 0, 0]);
        s.extend(UNDEFINED.to_le_bytes());
        s.extend([0u8; 16]);
        let err = check(&s).unwrap_err();
        assert!(matches!(err, ErrorKind::UndefinedLength { group: 9, element: 0x1010, .. }), "{err}");
        assert!(err.to_string().contains("declares an undefined length"), "{err}");
    }

    #[test]
    fn the_top_level_pixel_data_is_found_not_an_icons() {
        let mut s = Vec::new();
        // An undefined-length Icon Image Sequence holding its own Pixel Data …
        s.extend([0x88, 0x00, 0x00, 0x02, b'S', b'Q', 0, 0]);
        s.extend(UNDEFINED.to_le_bytes());
        s.extend([0xFE, 0xFF, 0x00, 0xE0]);
        s.extend(UNDEFINED.to_le_bytes());
        s.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0]);
        s.extend(2u32.to_le_bytes());
        s.extend([9, 9]);
        s.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        s.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        s.extend(explicit_le(0x0028, 0x0010, b"US", &[2, 0]));
        // … then the image's own.
        s.extend([0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0]);
        s.extend(4u32.to_le_bytes());
        let at = s.len();
        s.extend([1, 2, 3, 4]);
        assert_eq!(top_level_pixel_data(&s, true), Some(at..at + 4));
        assert_eq!(top_level_pixel_data(&s[..s.len() - 1], true), None, "shorter than declared");
    }

    #[test]
    fn nested_lengths_are_checked() {
        let mut s = b"DICM".to_vec();
        s.extend(explicit_le(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1\0"));
        // A defined-length sequence whose item declares more than is left.
        s.extend([0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0]);
        s.extend(8u32.to_le_bytes());
        s.extend([0xFE, 0xFF, 0x00, 0xE0]);
        s.extend(1_000_000u32.to_le_bytes());
        let err = check(&s).unwrap_err();
        assert!(matches!(err, ErrorKind::DeclaredLength { group: 0xFFFE, .. }), "{err}");
    }
}
