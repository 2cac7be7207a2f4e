//! Pixel data: decode stored values (no rescale, no VOI, no inversion) from any supported
//! transfer syntax into a typed array with the stored signedness and width.

use std::borrow::Cow;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use dicom_pixeldata::PixelDecoder;
use serde::Serialize;

use crate::error::ErrorKind;
use crate::meta::{Reader, attr};

/// Largest decoded image accepted, in bytes. A 30 Mpixel 16-bit mammogram is 60 MB; this
/// leaves room for multi-frame research data while refusing absurd declared sizes before
/// anything is allocated.
pub const MAX_DECODED_BYTES: u64 = 2 << 30;

/// Decoded stored values, one variant per stored width and signedness.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Samples {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::I8(v) => v.len(),
            Samples::U16(v) => v.len(),
            Samples::I16(v) => v.len(),
            Samples::U32(v) => v.len(),
            Samples::I32(v) => v.len(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// NumPy dtype string (`<u2`, `|u1`, …) of these samples.
    pub fn dtype(&self) -> &'static str {
        match self {
            Samples::U8(_) => "|u1",
            Samples::I8(_) => "|i1",
            Samples::U16(_) => "<u2",
            Samples::I16(_) => "<i2",
            Samples::U32(_) => "<u4",
            Samples::I32(_) => "<i4",
        }
    }
}

/// A decoded image: shape in NumPy's order for pydicom's `pixel_array`
/// (`[frames,] rows, columns[, samples]`, frames and samples only when above 1).
#[derive(Debug, Clone, PartialEq)]
pub struct PixelArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Stored values in row-major order, samples interleaved.
    pub samples: Samples,
}

/// Image pixel attributes needed to interpret stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Geometry {
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
    pub frames: u32,
    pub planar: bool,
}

impl Geometry {
    pub(crate) fn read(r: &Reader<'_>) -> Result<Self, ErrorKind> {
        let rows: u32 = r.required_int(tags::ROWS, attr!(ROWS), "a positive integer")?;
        let columns: u32 = r.required_int(tags::COLUMNS, attr!(COLUMNS), "a positive integer")?;
        for (v, a) in [(rows, attr!(ROWS)), (columns, attr!(COLUMNS))] {
            if v == 0 {
                return Err(ErrorKind::Invalid {
                    attr: a,
                    expected: "a positive integer".to_owned(),
                    found: "0".to_owned(),
                });
            }
        }
        let samples_per_pixel: u16 = r.int(tags::SAMPLES_PER_PIXEL, attr!(SAMPLES_PER_PIXEL), "1 or 3")?.unwrap_or(1);
        if samples_per_pixel != 1 && samples_per_pixel != 3 {
            return Err(ErrorKind::Invalid {
                attr: attr!(SAMPLES_PER_PIXEL),
                expected: "1 or 3".to_owned(),
                found: samples_per_pixel.to_string(),
            });
        }
        let bits_allocated: u16 = r.required_int(tags::BITS_ALLOCATED, attr!(BITS_ALLOCATED), "1, 8, 16 or 32")?;
        if ![1, 8, 16, 32].contains(&bits_allocated) {
            return Err(ErrorKind::Invalid {
                attr: attr!(BITS_ALLOCATED),
                expected: "1, 8, 16 or 32".to_owned(),
                found: bits_allocated.to_string(),
            });
        }
        let bits_stored: u16 = r.required_int(tags::BITS_STORED, attr!(BITS_STORED), "1 to Bits Allocated")?;
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(ErrorKind::Invalid {
                attr: attr!(BITS_STORED),
                expected: format!("1 to Bits Allocated ({bits_allocated})"),
                found: bits_stored.to_string(),
            });
        }
        let high_bit: u16 = r.int(tags::HIGH_BIT, attr!(HIGH_BIT), "Bits Stored - 1")?.unwrap_or(bits_stored - 1);
        let pixel_representation: u16 =
            r.int(tags::PIXEL_REPRESENTATION, attr!(PIXEL_REPRESENTATION), "0 or 1")?.unwrap_or(0);
        if pixel_representation > 1 {
            return Err(ErrorKind::Invalid {
                attr: attr!(PIXEL_REPRESENTATION),
                expected: "0 (unsigned) or 1 (signed)".to_owned(),
                found: pixel_representation.to_string(),
            });
        }
        let frames: u32 =
            r.int::<u32>(tags::NUMBER_OF_FRAMES, attr!(NUMBER_OF_FRAMES), "a positive integer")?.unwrap_or(1);
        if frames == 0 {
            return Err(ErrorKind::Invalid {
                attr: attr!(NUMBER_OF_FRAMES),
                expected: "a positive integer".to_owned(),
                found: "0".to_owned(),
            });
        }
        let planar: u16 = r.int(tags::PLANAR_CONFIGURATION, attr!(PLANAR_CONFIGURATION), "0 or 1")?.unwrap_or(0);
        Ok(Geometry {
            rows,
            columns,
            samples_per_pixel,
            bits_allocated,
            bits_stored,
            high_bit,
            signed: pixel_representation == 1,
            frames,
            planar: planar == 1 && samples_per_pixel > 1,
        })
    }

    fn samples(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.columns) * u64::from(self.samples_per_pixel) * u64::from(self.frames)
    }

    fn shape(&self) -> Vec<usize> {
        let mut shape = Vec::with_capacity(4);
        if self.frames > 1 {
            shape.push(self.frames as usize);
        }
        shape.push(self.rows as usize);
        shape.push(self.columns as usize);
        if self.samples_per_pixel > 1 {
            shape.push(self.samples_per_pixel as usize);
        }
        shape
    }
}

/// Decode the stored values of every frame; `native_value` is the top-level Pixel Data value
/// of a native little-endian file that the object was parsed without.
pub(crate) fn decode(obj: &DefaultDicomObject, native_value: Option<&[u8]>) -> Result<PixelArray, ErrorKind> {
    let ts_uid = crate::ts::trim_uid(obj.meta().transfer_syntax()).to_owned();
    if !crate::ts::is_supported(&ts_uid) {
        return Err(ErrorKind::UnsupportedTransferSyntax { name: crate::ts::name(&ts_uid), uid: ts_uid });
    }
    let dataset: &InMemDicomObject = obj;
    let g = Geometry::read(&Reader(dataset))?;
    let bytes_per_sample: u64 = if g.bits_allocated == 1 { 1 } else { u64::from(g.bits_allocated / 8) };
    let decoded_bytes = g.samples() * bytes_per_sample;
    if decoded_bytes > MAX_DECODED_BYTES {
        return Err(ErrorKind::ImageTooLarge { bytes: decoded_bytes, limit: MAX_DECODED_BYTES });
    }
    let photometric = Reader(dataset).str(tags::PHOTOMETRIC_INTERPRETATION).map(|s| s.into_owned()).unwrap_or_default();
    if let Some(raw) = native_value {
        let bytes = native_bytes(Cow::Borrowed(raw), &g, &photometric, false)?;
        return Ok(PixelArray { shape: g.shape(), samples: to_samples(&bytes, &g) });
    }
    let element = dataset.get(tags::PIXEL_DATA).ok_or(ErrorKind::NoPixelData)?;

    let native = match element.value() {
        dicom_core::DicomValue::Primitive(p) => Some(p),
        _ => None,
    };
    let bytes: Cow<'_, [u8]> = if let Some(p) = native {
        // Read as OW, each 16-bit word of big-endian data was swapped to native order, but a
        // 32-bit sample's two words are still in big-endian order.
        let swap_words = ts_uid == "1.2.840.10008.1.2.2" && matches!(p, dicom_core::PrimitiveValue::U16(_));
        native_bytes(p.to_bytes(), &g, &photometric, swap_words)?
    } else if let dicom_core::DicomValue::PixelSequence(seq) = element.value()
        && ts_uid == "1.2.840.10008.1.2.5"
    {
        // Every RLE stream goes through our own checked decoder: dicom-rs 0.10.1's panics
        // (index out of bounds) on a corrupted segment header, and stops at 16 bits while
        // RTDOSE and other research data use 32.
        Cow::Owned(
            crate::codec_gaps::decode_frames(seq.fragments(), &g)
                .map_err(|message| ErrorKind::Decode { ts: crate::ts::name(&ts_uid), message })?,
        )
    } else {
        if let dicom_core::DicomValue::PixelSequence(seq) = element.value()
            && ts_uid == "1.2.840.10008.1.2.4.50"
            && photometric == "RGB"
            && let Some(first) = seq.fragments().first()
            && crate::codec_gaps::jpeg_colour_transform_ambiguous(first)
        {
            return Err(ErrorKind::Decode {
                ts: crate::ts::name(&ts_uid),
                message: "RGB JPEG without an Adobe APP14 marker or R/G/B component ids: the codec would \
                          apply a YCbCr transform the data may not have; re-encode with an APP14 marker"
                    .to_owned(),
            });
        }
        // A codec defect must cost this one image, never the process: bad input is caught here
        // as an error like any other.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data()))
            .map_err(|panic| ErrorKind::CodecPanic { ts: crate::ts::name(&ts_uid), message: panic_message(&panic) })?
            .map_err(|e| ErrorKind::Decode { ts: crate::ts::name(&ts_uid), message: error_chain(&e) })?;
        let mut data = decoded.into_data();
        let expected = g.samples() * bytes_per_sample;
        if (data.len() as u64) < expected {
            return Err(ErrorKind::Decode {
                ts: crate::ts::name(&ts_uid),
                message: format!("codec returned {} bytes, expected {expected}", data.len()),
            });
        }
        data.truncate(expected as usize);
        Cow::Owned(data)
    };
    Ok(PixelArray { shape: g.shape(), samples: to_samples(&bytes, &g) })
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_owned())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        cur = s.source();
    }
    msg
}

/// Native (uncompressed) pixel data as little-endian sample bytes, interleaved, one byte per
/// sample for 1-bit data.
fn native_bytes<'a>(
    raw: Cow<'a, [u8]>,
    g: &Geometry,
    photometric: &str,
    swap_words: bool,
) -> Result<Cow<'a, [u8]>, ErrorKind> {
    let pixels = u64::from(g.rows) * u64::from(g.columns) * u64::from(g.frames);
    if g.bits_allocated == 1 {
        let needed = (pixels * u64::from(g.samples_per_pixel)).div_ceil(8);
        if (raw.len() as u64) < needed {
            return Err(ErrorKind::PixelDataTooShort { expected: needed, found: raw.len() as u64 });
        }
        let n = (pixels * u64::from(g.samples_per_pixel)) as usize;
        return Ok(Cow::Owned((0..n).map(|i| (raw[i / 8] >> (i % 8)) & 1).collect()));
    }
    let bps = (g.bits_allocated / 8) as usize;
    // YBR_FULL_422 stores two luma samples per chroma pair: 2 samples per pixel on disk.
    let ybr422 = photometric == "YBR_FULL_422" && g.samples_per_pixel == 3;
    let needed = if ybr422 { pixels * 2 * bps as u64 } else { g.samples() * bps as u64 };
    if (raw.len() as u64) < needed {
        return Err(ErrorKind::PixelDataTooShort { expected: needed, found: raw.len() as u64 });
    }
    // The common case (little-endian grayscale) is used in place, without a copy.
    let mut bytes = match raw {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..needed as usize]),
        Cow::Owned(mut b) => {
            b.truncate(needed as usize);
            Cow::Owned(b)
        }
    };
    if swap_words && bps == 4 {
        for s in bytes.to_mut().chunks_exact_mut(4) {
            s.swap(0, 2);
            s.swap(1, 3);
        }
    }
    if ybr422 {
        bytes = Cow::Owned(expand_ybr422(&bytes, bps));
    } else if g.planar {
        bytes = Cow::Owned(interleave(&bytes, g, bps));
    }
    Ok(bytes)
}

/// Y0 Y1 Cb Cr → (Y0 Cb Cr) (Y1 Cb Cr), as pydicom does for uncompressed YBR_FULL_422.
fn expand_ybr422(bytes: &[u8], bps: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 2 * 3);
    for quad in bytes.chunks_exact(4 * bps) {
        let (y0, y1, cb, cr) = (&quad[..bps], &quad[bps..2 * bps], &quad[2 * bps..3 * bps], &quad[3 * bps..]);
        for y in [y0, y1] {
            out.extend_from_slice(y);
            out.extend_from_slice(cb);
            out.extend_from_slice(cr);
        }
    }
    out
}

/// Planar configuration 1 (RRR…GGG…BBB… per frame) → interleaved.
fn interleave(bytes: &[u8], g: &Geometry, bps: usize) -> Vec<u8> {
    let plane = g.rows as usize * g.columns as usize * bps;
    let spp = g.samples_per_pixel as usize;
    let mut out = vec![0u8; bytes.len()];
    for (f, frame) in bytes.chunks_exact(plane * spp).enumerate() {
        let dst = &mut out[f * plane * spp..(f + 1) * plane * spp];
        for s in 0..spp {
            for (i, px) in frame[s * plane..(s + 1) * plane].chunks_exact(bps).enumerate() {
                let at = (i * spp + s) * bps;
                dst[at..at + bps].copy_from_slice(px);
            }
        }
    }
    out
}

/// Little-endian sample bytes → typed values, keeping only the Bits Stored low bits (unused
/// high bits may carry overlays) and sign-extending signed data.
///
/// One copy of the bytes into the output, then one in-place pass (mask or sign-extend) only
/// when Bits Stored is less than Bits Allocated: both loops are plain slice loops the compiler
/// vectorises (a per-sample `from_le_bytes` iterator ran at ~8 instructions per sample).
fn to_samples(bytes: &[u8], g: &Geometry) -> Samples {
    let stored = u32::from(g.bits_stored);
    match (g.bits_allocated, g.signed) {
        (1, _) | (8, false) => Samples::U8(masked(copied(bytes), stored)),
        (8, true) => Samples::I8(bytemuck::allocation::cast_vec(sign_extended(copied::<u8>(bytes), stored))),
        (16, false) => Samples::U16(masked(copied(bytes), stored)),
        (16, true) => Samples::I16(bytemuck::allocation::cast_vec(sign_extended(copied::<u16>(bytes), stored))),
        (_, false) => Samples::U32(masked(copied(bytes), stored)),
        (_, true) => Samples::I32(bytemuck::allocation::cast_vec(sign_extended(copied::<u32>(bytes), stored))),
    }
}

/// Unsigned sample types of 8, 16 and 32 bits.
trait Word:
    bytemuck::Pod
    + Default
    + std::ops::BitAnd<Output = Self>
    + std::ops::Not<Output = Self>
    + std::ops::Shl<u32, Output = Self>
{
    const BITS: u32;
    fn all_ones() -> Self;
    fn swap_from_le(self) -> Self;
    fn sign_extend(self, shift: u32) -> Self;
}

macro_rules! word {
    ($u:ty, $i:ty) => {
        impl Word for $u {
            const BITS: u32 = <$u>::BITS;
            fn all_ones() -> Self {
                <$u>::MAX
            }
            fn swap_from_le(self) -> Self {
                <$u>::from_le(self)
            }
            fn sign_extend(self, shift: u32) -> Self {
                (((self << shift) as $i) >> shift) as $u
            }
        }
    };
}
word!(u8, i8);
word!(u16, i16);
word!(u32, i32);

/// Little-endian bytes → native words, one memcpy (plus a byte swap on big-endian hosts).
fn copied<T: Word>(bytes: &[u8]) -> Vec<T> {
    let mut out = crate::buffers::zeroed::<T>(bytes.len() / std::mem::size_of::<T>());
    let len = out.len() * std::mem::size_of::<T>();
    bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(&bytes[..len]);
    if cfg!(target_endian = "big") {
        out.iter_mut().for_each(|v| *v = v.swap_from_le());
    }
    out
}

/// Keeps the low `stored` bits of every word.
fn masked<T: Word>(mut values: Vec<T>, stored: u32) -> Vec<T> {
    if stored < T::BITS {
        let mask = T::all_ones() & !(T::all_ones() << stored);
        values.iter_mut().for_each(|v| *v = *v & mask);
    }
    values
}

/// Sign-extends the low `stored` bits of every word (still as the unsigned type).
fn sign_extended<T: Word>(mut values: Vec<T>, stored: u32) -> Vec<T> {
    if stored < T::BITS {
        let shift = T::BITS - stored;
        values.iter_mut().for_each(|v| *v = v.sign_extend(shift));
    }
    values
}
