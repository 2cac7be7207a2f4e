//! Deterministic synthetic mammography screening exams, written as DICOM.
//!
//! Each exam has the four standard views (L-CC, L-MLO, R-CC, R-MLO) of one synthetic woman:
//! breast outlines (CC half-ellipse, MLO with pectoral muscle), power-law fibroglandular
//! texture, skin line, nipple and quantum noise, in 12- or 14-bit stored values. A cancer exam
//! has one lesion in one breast (circumscribed or spiculated mass, or a microcalcification
//! cluster) drawn in both of that breast's views at the same distance from the nipple, with a
//! size and contrast that range from subtle to obvious.
//!
//! Everything derives from `(seed, exam index)`: the same seed gives byte-identical files,
//! and exam `i` is the same whatever the number of exams generated.
#![warn(missing_docs)]

mod anatomy;
mod dicom;
mod noise;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use dicom::to_dicom;

/// Image size preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// 512 × 427 pixels at 0.448 mm: fast, for tests.
    Small,
    /// 2294 × 1914 pixels at 0.1 mm: a full-field detector.
    Full,
}

impl Size {
    /// (rows, columns, pixel spacing in mm).
    pub fn geometry(self) -> (usize, usize, f64) {
        match self {
            Size::Small => (512, 427, 229.4 / 512.0),
            Size::Full => (2294, 1914, 0.1),
        }
    }
}

/// Photometric interpretation of the written images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhotometricChoice {
    /// All MONOCHROME2 (low values dark).
    #[default]
    Monochrome2,
    /// All MONOCHROME1 (low values bright).
    Monochrome1,
    /// Chosen per exam, about half each.
    Mixed,
}

/// How to generate exams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Image size.
    pub size: Size,
    /// Probability that an exam contains a cancer (0–1).
    pub cancer_fraction: f64,
    /// Photometric interpretation.
    pub photometric: PhotometricChoice,
    /// Write Digital Mammography – For Processing instead of For Presentation.
    pub for_processing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            size: Size::Small,
            cancer_fraction: 0.5,
            photometric: PhotometricChoice::Monochrome2,
            for_processing: false,
        }
    }
}

/// Breast side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Side {
    /// Left breast.
    #[serde(rename = "L")]
    Left,
    /// Right breast.
    #[serde(rename = "R")]
    Right,
}

impl Side {
    /// `L` or `R`.
    pub fn code(self) -> &'static str {
        match self {
            Side::Left => "L",
            Side::Right => "R",
        }
    }
}

/// Standard screening projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ViewKind {
    /// Cranio-caudal.
    #[serde(rename = "CC")]
    Cc,
    /// Medio-lateral oblique.
    #[serde(rename = "MLO")]
    Mlo,
}

impl ViewKind {
    /// `CC` or `MLO`.
    pub fn code(self) -> &'static str {
        match self {
            ViewKind::Cc => "CC",
            ViewKind::Mlo => "MLO",
        }
    }
}

/// Lesion type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LesionKind {
    /// Round or oval mass with a smooth border.
    CircumscribedMass,
    /// Mass with an irregular border and radiating spicules.
    SpiculatedMass,
    /// Cluster of microcalcifications.
    Calcifications,
}

/// A lesion in breast coordinates, shared by the breast's two views.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lesion {
    /// Which breast.
    pub side: Side,
    /// What it is.
    pub kind: LesionKind,
    /// Distance behind the nipple (mm), the same in CC and MLO.
    pub from_nipple_mm: f32,
    /// Position across the breast in the CC view, −1..1 of the local half-height.
    pub across_cc: f32,
    /// Position across the breast in the MLO view, −1..1 of the local half-height.
    pub across_mlo: f32,
    /// Mass radius, or cluster radius for calcifications (mm).
    pub radius_mm: f32,
    /// Peak extra attenuation (tissue units; glandular tissue adds ~0.33).
    pub contrast: f32,
    /// Subtle, moderate or obvious, from size and contrast.
    pub difficulty: Difficulty,
    #[serde(skip)]
    pub(crate) phase: f32,
    #[serde(skip)]
    pub(crate) spicules: u32,
    /// Calcification specks: (dx, dy, radius) mm from the cluster centre.
    #[serde(skip)]
    pub(crate) specks: Vec<(f32, f32, f32)>,
}

/// How hard a lesion is to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Difficulty {
    Subtle,
    Moderate,
    Obvious,
}

/// One generated image with the metadata written into its header.
#[derive(Debug, Clone)]
pub struct ViewImage {
    /// Breast side.
    pub side: Side,
    /// Projection.
    pub view: ViewKind,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// Bits Stored (12 or 14; Bits Allocated is 16).
    pub bits_stored: u16,
    /// `MONOCHROME1` or `MONOCHROME2`.
    pub photometric: &'static str,
    /// Pixel spacing (mm), both directions.
    pub pixel_spacing_mm: f64,
    /// VOI window (center, width) in stored values.
    pub window: Option<(f64, f64)>,
    /// Patient Orientation (0020,0020), e.g. `["A", "R"]`.
    pub patient_orientation: [&'static str; 2],
    /// Stored values, row-major.
    pub pixels: Vec<u16>,
}

impl ViewImage {
    /// File name used in the output layout, e.g. `L-CC`.
    pub fn label(&self) -> String {
        format!("{}-{}", self.side.code(), self.view.code())
    }
}

/// One synthetic screening exam.
#[derive(Debug, Clone)]
pub struct Exam {
    /// Exam index within its seed.
    pub index: u64,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID (one series holds the four views).
    pub series_uid: String,
    /// Synthetic patient ID, e.g. `PHANTOM-7-000003`.
    pub patient_id: String,
    /// Synthetic patient name, e.g. `PHANTOM^S7 E3`.
    pub patient_name: String,
    /// Study date, YYYYMMDD (synthetic).
    pub study_date: String,
    /// Whether the exam has a lesion.
    pub cancer: bool,
    /// The lesion, if any.
    pub lesion: Option<Lesion>,
    /// Breast density used (fraction fibroglandular).
    pub density: f32,
    /// SOP class written.
    pub for_processing: bool,
    /// The four views, in the order L-CC, L-MLO, R-CC, R-MLO.
    pub views: Vec<ViewImage>,
}

/// Errors writing a phantom data set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An output directory or file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// dicom-rs refused to encode the object.
    #[error("cannot encode {path} as DICOM: {source}")]
    Encode {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: Box<dicom_object::WriteError>,
    },
    /// Invalid options.
    #[error("invalid option: {0}")]
    Options(String),
}

/// SplitMix64: derives independent sub-seeds from (seed, index, stream).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng_for(seed: u64, index: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(seed) ^ mix(index.wrapping_add(1) << 8 | stream)))
}

/// A DICOM UID under the 2.25 (UUID-derived) root, drawn from the rng.
fn uid(rng: &mut impl Rng) -> String {
    let v: u128 = rng.random::<u128>() >> 1;
    format!("2.25.{v}")
}

/// Two independent standard normal samples (Box–Muller).
pub(crate) fn gaussian_pair(rng: &mut impl Rng) -> (f64, f64) {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    let r = (-2.0 * u1.ln()).sqrt();
    let t = std::f64::consts::TAU * u2;
    (r * t.cos(), r * t.sin())
}

/// A fast deterministic stream of standard normal samples for per-pixel noise.
pub(crate) struct GaussianStream {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl GaussianStream {
    pub(crate) fn new(seed: u64) -> Self {
        GaussianStream { rng: ChaCha8Rng::seed_from_u64(seed), spare: None }
    }

    pub(crate) fn next(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let (a, b) = gaussian_pair(&mut self.rng);
        self.spare = Some(b);
        a
    }
}

/// Writes, for every exam of [`write_dataset`] with the same arguments that has a lesion, its
/// lesion-free twin (same UIDs, texture and noise) under `out/<StudyInstanceUID>/`. The
/// difference between an exam and its twin is exactly the lesion: training uses it as a mask.
/// Runs on all cores; returns how many twins were written.
pub fn write_lesion_free_twins(out: &Path, studies: u64, seed: u64, options: &Options) -> Result<u64, Error> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<u64, Error> {
                    let mut written = 0;
                    for index in (t..studies).step_by(threads as usize) {
                        if generate_exam(seed, index, options).cancer {
                            write_exam(&generate_exam_without_lesion(seed, index, options), out)?;
                            written += 1;
                        }
                    }
                    Ok(written)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).sum()
    })
}

/// Generate exam `index` of `seed`.
pub fn generate_exam(seed: u64, index: u64, options: &Options) -> Exam {
    generate(seed, index, options, true)
}

/// The same exam as [`generate_exam`] with its lesion left out (identical texture, UIDs and
/// noise): the lesion-free twin for perception studies and for checking lesion rendering.
pub fn generate_exam_without_lesion(seed: u64, index: u64, options: &Options) -> Exam {
    generate(seed, index, options, false)
}

fn generate(seed: u64, index: u64, options: &Options, draw_lesion: bool) -> Exam {
    let mut rng = rng_for(seed, index, 0);
    let (rows, columns, spacing) = options.size.geometry();
    let width_mm = (columns as f64 * spacing) as f32;
    let height_mm = (rows as f64 * spacing) as f32;

    let study_uid = uid(&mut rng);
    let series_uid = uid(&mut rng);
    let cancer = rng.random::<f64>() < options.cancer_fraction;
    let density = rng.random_range(0.08f32..0.65);
    let bits_stored: u16 = if rng.random_bool(0.5) { 12 } else { 14 };
    let monochrome1 = match options.photometric {
        PhotometricChoice::Monochrome2 => false,
        PhotometricChoice::Monochrome1 => true,
        PhotometricChoice::Mixed => rng.random_bool(0.5),
    };
    let day = rng.random_range(0..365u32);
    let study_date = format!("2026{:02}{:02}", 1 + day / 31 % 12, 1 + day % 28);
    let breasts = [
        anatomy::Breast::random(&mut rng, width_mm, height_mm, density),
        anatomy::Breast::random(&mut rng, width_mm, height_mm, density),
    ];
    let lesion = cancer.then(|| random_lesion(&mut rng, &breasts));
    let (cancer, lesion_kept) = if draw_lesion { (cancer, lesion.clone()) } else { (false, None) };

    let mut views = Vec::with_capacity(4);
    for (s, side) in [Side::Left, Side::Right].into_iter().enumerate() {
        for (v, view) in [ViewKind::Cc, ViewKind::Mlo].into_iter().enumerate() {
            let mut vrng = rng_for(seed, index, 1 + (s * 2 + v) as u64);
            let sop_instance_uid = uid(&mut vrng);
            let l = lesion.as_ref().filter(|l| draw_lesion && l.side == side);
            let mut pixels =
                anatomy::render(&breasts[s], view, side, l, rows, columns, spacing as f32, bits_stored, &mut vrng);
            let max = f64::from((1u32 << bits_stored) - 1);
            // Tissue occupies roughly 0.25–0.95 of the range in MONOCHROME2.
            let (center, width) = ((0.6 * max).round(), (0.75 * max).round());
            let window = if options.for_processing {
                None
            } else if monochrome1 {
                Some((max - center, width))
            } else {
                Some((center, width))
            };
            if monochrome1 {
                let m = max as u16;
                pixels.iter_mut().for_each(|p| *p = m - *p);
            }
            // IHE Mammography: left breasts face right (A\R, A\FR), right breasts face left.
            let patient_orientation = match (side, view) {
                (Side::Left, ViewKind::Cc) => ["A", "R"],
                (Side::Left, ViewKind::Mlo) => ["A", "FR"],
                (Side::Right, ViewKind::Cc) => ["P", "L"],
                (Side::Right, ViewKind::Mlo) => ["P", "FL"],
            };
            views.push(ViewImage {
                side,
                view,
                sop_instance_uid,
                rows: rows as u32,
                columns: columns as u32,
                bits_stored,
                photometric: if monochrome1 { "MONOCHROME1" } else { "MONOCHROME2" },
                pixel_spacing_mm: spacing,
                window,
                patient_orientation,
                pixels,
            });
        }
    }
    Exam {
        index,
        study_uid,
        series_uid,
        patient_id: format!("PHANTOM-{seed}-{index:06}"),
        patient_name: format!("PHANTOM^S{seed} E{index}"),
        study_date,
        cancer,
        lesion: lesion_kept,
        density,
        for_processing: options.for_processing,
        views,
    }
}

fn random_lesion(rng: &mut impl Rng, breasts: &[anatomy::Breast; 2]) -> Lesion {
    let side = if rng.random_bool(0.5) { Side::Left } else { Side::Right };
    let breast = &breasts[if side == Side::Left { 0 } else { 1 }];
    let kind = match rng.random_range(0..3) {
        0 => LesionKind::CircumscribedMass,
        1 => LesionKind::SpiculatedMass,
        _ => LesionKind::Calcifications,
    };
    // Log-uniform contrast spans subtle to obvious; calcifications are small but dense.
    let (radius_mm, contrast): (f32, f32) = match kind {
        LesionKind::Calcifications => (rng.random_range(2.5..8.0), (rng.random_range(0.15f32..1.2f32).ln()).exp()),
        _ => (rng.random_range(3.0..14.0), rng.random_range(0.025f32.ln()..0.35f32.ln()).exp()),
    };
    let visibility = match kind {
        LesionKind::Calcifications => contrast / 0.25,
        _ => contrast * radius_mm.sqrt() / 0.25,
    };
    let difficulty = if visibility < 0.8 {
        Difficulty::Subtle
    } else if visibility < 2.0 {
        Difficulty::Moderate
    } else {
        Difficulty::Obvious
    };
    let specks = if kind == LesionKind::Calcifications {
        let n = rng.random_range(5..25);
        (0..n)
            .map(|_| {
                let a = rng.random_range(0.0..std::f32::consts::TAU);
                let d = radius_mm * rng.random::<f32>().sqrt();
                (d * a.cos(), d * a.sin(), rng.random_range(0.12..0.4))
            })
            .collect()
    } else {
        Vec::new()
    };
    Lesion {
        side,
        kind,
        from_nipple_mm: rng.random_range(0.2..0.8) * breast.depth_cc,
        across_cc: rng.random_range(-0.6..0.6),
        across_mlo: rng.random_range(-0.5..0.6),
        radius_mm,
        contrast,
        difficulty,
        phase: rng.random_range(0.0..std::f32::consts::TAU),
        spicules: rng.random_range(6..14),
        specks,
    }
}

/// Write one exam as `dir/<StudyInstanceUID>/<L-CC|L-MLO|R-CC|R-MLO>.dcm`.
pub fn write_exam(exam: &Exam, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let study_dir = dir.join(&exam.study_uid);
    std::fs::create_dir_all(&study_dir).map_err(|source| Error::Io { path: study_dir.clone(), source })?;
    let mut paths = Vec::with_capacity(exam.views.len());
    for (i, view) in exam.views.iter().enumerate() {
        let path = study_dir.join(format!("{}.dcm", view.label()));
        let obj = to_dicom(exam, i);
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).map_err(|e| Error::Encode { path: path.clone(), source: Box::new(e) })?;
        std::fs::write(&path, bytes).map_err(|source| Error::Io { path: path.clone(), source })?;
        paths.push(path);
    }
    Ok(paths)
}

/// Summary of a written data set.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Exams written.
    pub studies: u64,
    /// Exams with a lesion.
    pub cancers: u64,
    /// Instances written.
    pub instances: u64,
}

/// Write `studies` exams of `seed` under `out`, with `labels.csv`
/// (`study_uid,cancer,laterality`) and `lesions.csv` (lesion details for researchers).
/// `progress` is called after each exam.
pub fn write_dataset(
    out: &Path,
    studies: u64,
    seed: u64,
    options: &Options,
    mut progress: impl FnMut(u64),
) -> Result<Summary, Error> {
    if !(0.0..=1.0).contains(&options.cancer_fraction) {
        return Err(Error::Options(format!("cancer fraction must be within 0..=1, found {}", options.cancer_fraction)));
    }
    std::fs::create_dir_all(out).map_err(|source| Error::Io { path: out.to_owned(), source })?;
    let mut labels = String::from("study_uid,cancer,laterality\n");
    let mut lesions = String::from("study_uid,laterality,kind,difficulty,from_nipple_mm,radius_mm,contrast\n");
    let mut summary = Summary { studies: 0, cancers: 0, instances: 0 };
    for index in 0..studies {
        let exam = generate_exam(seed, index, options);
        summary.instances += write_exam(&exam, out)?.len() as u64;
        summary.studies += 1;
        let lat = exam.lesion.as_ref().map(|l| l.side.code()).unwrap_or("");
        labels.push_str(&format!("{},{},{}\n", exam.study_uid, u8::from(exam.cancer), lat));
        if let Some(l) = &exam.lesion {
            summary.cancers += 1;
            let kind = serde_plain(&l.kind);
            let diff = serde_plain(&l.difficulty);
            lesions.push_str(&format!(
                "{},{},{kind},{diff},{:.1},{:.1},{:.3}\n",
                exam.study_uid,
                l.side.code(),
                l.from_nipple_mm,
                l.radius_mm,
                l.contrast
            ));
        }
        progress(index + 1);
    }
    for (name, text) in [("labels.csv", labels), ("lesions.csv", lesions)] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })?;
    }
    Ok(summary)
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
