//! Preprocessing: one decoded view → the model's `[1, H, W]` float32 input, as the spec says.
//!
//! Steps, in order (the NumPy reference `tests/oracle/reference.py` implements the same):
//! 1. stored value `s` → `x = s · slope + intercept` (modality rescale);
//! 2. `x` → `v ∈ [0, 1]`: the header's first VOI window (LINEAR as DICOM PS3.3 C.11.2.1.2.1,
//!    LINEAR_EXACT, SIGMOID), or percentiles of `x`, or a fixed range; `window` falls back to
//!    `percentile` when the header has no usable window;
//! 3. MONOCHROME1: `v → 1 − v`, so tissue is bright for every image;
//! 4. the chest wall side comes from PatientOrientation's row direction (`A`: chest wall at
//!    column 0, `P`: at the last column), else from which half of the image is brighter; the
//!    image is mirrored when that differs from the spec's side;
//! 5. crop to the bounding box of the largest 8-connected component of `v > crop_threshold`;
//! 6. resize keeping the aspect ratio with antialiased linear (triangle) weights whose support
//!    widens with the reduction factor (PIL's `BILINEAR`), into the largest `h × w` that fits;
//! 7. pad with zeros to `H × W`: vertically centred, against the chest wall side;
//! 8. `(v − mean) / std`, as f32.
//!
//! Why it is shaped like this: mammograms are 10–30 Mpixel, so nothing image-sized is
//! allocated beyond the decoded pixels. Stored values are integers of at most 16 bits in
//! practice, so steps 1–3 become one lookup table; the component labelling works on runs, not
//! pixels; and the resize reads the (mirrored) crop straight from the stored values, with
//! an intermediate of `crop rows × w` only. All arithmetic before the final cast is f64.
//! That is why the resize is hand-written rather than an image crate's (`image`,
//! `fast_image_resize`): it must reproduce PIL's `BILINEAR` of the NumPy reference within the
//! oracle tests' 1e-5, in f64, reading through the lookup table and the mirrored crop without
//! an image-sized copy.

use granska_dicom::{MammoMeta, Photometric, PixelArray, Samples};

use crate::PreprocessError;
use crate::contract::{ChestWall, Normalisation, PreprocessSpec};

/// A preprocessed view.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `H × W` values, row-major.
    pub tensor: Vec<f32>,
    /// Whether the image was mirrored to put the chest wall on the spec's side.
    pub mirrored: bool,
    /// Crop in stored-image coordinates: rows `[0]..[1]`, columns `[2]..[3]` (end exclusive).
    pub crop: [usize; 4],
    /// The normalisation actually applied (`window` may have fallen back to `percentile`).
    pub normalisation: Normalisation,
}

/// Preprocesses one view for a model with input `height × width`.
pub fn preprocess(
    meta: &MammoMeta,
    pixels: &PixelArray,
    spec: &PreprocessSpec,
    height: usize,
    width: usize,
) -> Result<Prepared, PreprocessError> {
    let shape_err = || PreprocessError::Shape { shape: pixels.shape.clone() };
    let (rows, cols) = match pixels.shape[..] {
        [r, c] => (r, c),
        // Multi-frame: the first frame (mammograms are single-frame; this keeps odd exports usable).
        [f, r, c] if f > 1 && meta.number_of_frames > 1 => (r, c),
        _ => return Err(shape_err()),
    };
    if rows == 0 || cols == 0 || pixels.samples.len() < rows * cols {
        return Err(shape_err());
    }
    let n = rows * cols;
    match &pixels.samples {
        Samples::U8(v) => run(&v[..n], rows, cols, meta, spec, height, width),
        Samples::I8(v) => run(&v[..n], rows, cols, meta, spec, height, width),
        Samples::U16(v) => run(&v[..n], rows, cols, meta, spec, height, width),
        Samples::I16(v) => run(&v[..n], rows, cols, meta, spec, height, width),
        Samples::U32(v) => run(&v[..n], rows, cols, meta, spec, height, width),
        Samples::I32(v) => run(&v[..n], rows, cols, meta, spec, height, width),
    }
}

fn run<T: Copy + Ord + Into<i64>>(
    data: &[T],
    rows: usize,
    cols: usize,
    meta: &MammoMeta,
    spec: &PreprocessSpec,
    height: usize,
    width: usize,
) -> Result<Prepared, PreprocessError> {
    let norm = Normaliser::new(data, meta, spec)?;
    let v = |i: usize| norm.value(data[i].into());

    // Chest wall side of the stored image.
    let on_right = match meta.patient_orientation.first().map(|s| s.trim().to_ascii_uppercase()) {
        Some(s) if s.starts_with('P') => true,
        Some(s) if s.starts_with('A') => false,
        _ => {
            let half = cols / 2;
            let (mut left, mut right) = (0.0f64, 0.0f64);
            for r in 0..rows {
                let row = r * cols;
                left += (0..half).map(|c| v(row + c)).sum::<f64>();
                right += (cols - half..cols).map(|c| v(row + c)).sum::<f64>();
            }
            right > left
        }
    };
    let mirrored = on_right != (spec.chest_wall == ChestWall::Right);

    // Tissue is `v > crop_threshold`. The normalisation is monotonic in the stored value (a
    // window, a range, a sigmoid; inverted for MONOCHROME1), so over the table that is a
    // prefix or a suffix of stored values: one integer comparison per pixel instead of a
    // lookup in a 512 KiB table (the same pixels, decided by the same f64 comparisons).
    let threshold = spec.crop_threshold;
    let cut =
        norm.table.as_deref().and_then(|t| stored_cut(t, threshold)).map(|(k, above)| (norm.min + k as i64, above));
    let tissue = |i: usize| match cut {
        Some((at, true)) => data[i].into() >= at,
        Some((at, false)) => data[i].into() < at,
        None => v(i) > threshold,
    };
    let [r0, r1, c0, c1] = largest_component_box(rows, cols, tissue)
        .ok_or(PreprocessError::NoTissue { threshold: spec.crop_threshold })?;
    let (ch, cw) = (r1 - r0, c1 - c0);
    let (nh, nw) = fit_size(ch, cw, height, width);
    let wy = resample_weights(ch, nh);
    let wx = resample_weights(cw, nw);

    // Horizontal pass over the crop's rows, reading the mirrored crop when needed. Each row is
    // normalised once into a buffer in reading order, so every output is a plain dot product
    // over contiguous values (each input was looked up ~2× per output before, with the
    // mirroring decided per tap); the sums run in the same order, so the result is identical.
    let mut tmp = vec![0.0f64; ch * nw];
    let mut row_values = vec![0.0f64; cw];
    for (k, out_row) in tmp.chunks_exact_mut(nw).enumerate() {
        let row = (r0 + k) * cols;
        if mirrored {
            row_values.iter_mut().zip((c0..c1).rev()).for_each(|(x, col)| *x = v(row + col));
        } else {
            row_values.iter_mut().zip(c0..c1).for_each(|(x, col)| *x = v(row + col));
        }
        for (out, (start, w)) in out_row.iter_mut().zip(&wx) {
            *out = w.iter().zip(&row_values[*start..]).map(|(wt, x)| wt * x).sum();
        }
    }

    let pad = ((0.0 - spec.mean) / spec.std) as f32;
    let mut tensor = vec![pad; height * width];
    let top = (height - nh) / 2;
    let left = if spec.chest_wall == ChestWall::Left { 0 } else { width - nw };
    for (p, (start, w)) in wy.iter().enumerate() {
        let out_row = &mut tensor[(top + p) * width + left..][..nw];
        for (q, out) in out_row.iter_mut().enumerate() {
            let s: f64 = w.iter().enumerate().map(|(t, wt)| wt * tmp[(start + t) * nw + q]).sum();
            *out = ((s - spec.mean) / spec.std) as f32;
        }
    }
    Ok(Prepared { tensor, mirrored, crop: [r0, r1, c0, c1], normalisation: norm.used })
}

/// Where `table[k] > threshold` starts or stops, when the table is monotonic: `(k, true)` when
/// it holds exactly for `k >= k0` (non-decreasing), `(k, false)` when exactly for `k < k0`
/// (non-increasing); `None` when the table is neither.
fn stored_cut(table: &[f64], threshold: f64) -> Option<(usize, bool)> {
    let pairs = || table.windows(2).map(|w| (w[0], w[1]));
    if pairs().all(|(a, b)| a <= b) {
        Some((table.partition_point(|&x| x <= threshold), true))
    } else if pairs().all(|(a, b)| a >= b) {
        Some((table.partition_point(|&x| x > threshold), false))
    } else {
        None
    }
}

/// Largest `h × w` with the crop's aspect ratio that fits `height × width`.
pub fn fit_size(h: usize, w: usize, height: usize, width: usize) -> (usize, usize) {
    let scale = (height as f64 / h as f64).min(width as f64 / w as f64);
    let nh = ((h as f64 * scale + 0.5).floor() as usize).clamp(1, height);
    let nw = ((w as f64 * scale + 0.5).floor() as usize).clamp(1, width);
    (nh, nw)
}

/// Triangle-filter weights from `n_in` samples to `n_out`: for each output, the first input
/// index and the normalised weights that follow it.
pub fn resample_weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f64>)> {
    let s = n_in as f64 / n_out as f64;
    let support = s.max(1.0);
    (0..n_out)
        .map(|i| {
            let centre = (i as f64 + 0.5) * s;
            let lo = ((centre - support - 0.5).floor().max(0.0)) as usize;
            let hi = ((centre + support - 0.5).ceil() as usize).min(n_in - 1);
            let mut w: Vec<f64> =
                (lo..=hi).map(|j| (1.0 - ((j as f64 + 0.5 - centre) / support).abs()).max(0.0)).collect();
            let sum: f64 = w.iter().sum();
            w.iter_mut().for_each(|x| *x /= sum);
            (lo, w)
        })
        .collect()
}

/// Maps stored values to normalised `[0, 1]` values (steps 1–3), through a table when the
/// stored range is small enough (always, for images of up to 16 bits).
struct Normaliser {
    used: Normalisation,
    slope: f64,
    intercept: f64,
    curve: Curve,
    invert: bool,
    min: i64,
    table: Option<Vec<f64>>,
}

#[derive(Clone, Copy)]
enum Curve {
    Linear { c: f64, w: f64 },
    LinearExact { c: f64, w: f64 },
    Sigmoid { c: f64, w: f64 },
    Range { lo: f64, hi: f64 },
}

const MAX_TABLE: i64 = 1 << 22;

impl Normaliser {
    fn new<T: Copy + Ord + Into<i64>>(
        data: &[T],
        meta: &MammoMeta,
        spec: &PreprocessSpec,
    ) -> Result<Self, PreprocessError> {
        // In the stored type (16-bit lanes vectorise; i64 ones did not), then widened.
        let (min, max) = match (data.iter().copied().min(), data.iter().copied().max()) {
            (Some(lo), Some(hi)) => (lo.into(), hi.into()),
            _ => (i64::MAX, i64::MIN),
        };
        let slope = meta.rescale_slope;
        let intercept = meta.rescale_intercept;
        let window = meta.windows.first().filter(|w| w.width > 0.0);
        let mut used = spec.normalisation;
        if used == Normalisation::Window && window.is_none() {
            used = Normalisation::Percentile;
        }
        let curve = match used {
            Normalisation::Window => {
                let w = window.expect("checked above");
                let (c, w) = (w.center, w.width);
                match meta.voi_lut_function.as_deref().map(|f| f.trim().to_ascii_uppercase()).as_deref() {
                    Some("SIGMOID") => Curve::Sigmoid { c, w },
                    Some("LINEAR_EXACT") => Curve::LinearExact { c, w },
                    _ => Curve::Linear { c, w },
                }
            }
            Normalisation::Percentile => {
                let [lo, hi] = percentiles(data, min, max, slope, intercept, spec.percentiles);
                Curve::Range { lo, hi }
            }
            Normalisation::Fixed => {
                let [lo, hi] = spec.fixed.unwrap_or([0.0, 0.0]);
                if lo >= hi {
                    return Err(PreprocessError::EmptyRange { low: lo, high: hi });
                }
                Curve::Range { lo, hi }
            }
        };
        let invert = meta.photometric == Photometric::Monochrome1;
        let mut n = Normaliser { used, slope, intercept, curve, invert, min, table: None };
        if max - min < MAX_TABLE {
            n.table = Some((min..=max).map(|s| n.compute(s)).collect());
        }
        Ok(n)
    }

    #[inline]
    fn value(&self, s: i64) -> f64 {
        match &self.table {
            Some(t) => t[(s - self.min) as usize],
            None => self.compute(s),
        }
    }

    fn compute(&self, s: i64) -> f64 {
        let x = s as f64 * self.slope + self.intercept;
        let v = match self.curve {
            Curve::Linear { c, w } => {
                let w = w.max(1.0);
                if w > 1.0 {
                    ((x - (c - 0.5)) / (w - 1.0) + 0.5).clamp(0.0, 1.0)
                } else if x > c - 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Curve::LinearExact { c, w } => ((x - c) / w + 0.5).clamp(0.0, 1.0),
            Curve::Sigmoid { c, w } => 1.0 / (1.0 + (-4.0 * (x - c) / w).exp()),
            Curve::Range { lo, hi } => {
                if hi > lo {
                    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
        };
        if self.invert { 1.0 - v } else { v }
    }
}

/// NumPy's `percentile(x, p, method="linear")` of the rescaled values, from a histogram of the
/// stored values when their range allows (no copy of the image), else from a sorted copy.
fn percentiles<T: Copy + Into<i64>>(
    data: &[T],
    min: i64,
    max: i64,
    slope: f64,
    intercept: f64,
    p: [f64; 2],
) -> [f64; 2] {
    let n = data.len();
    // k-th smallest stored value, for k in ascending order of the *rescaled* values.
    let sorted: Box<dyn Fn(usize) -> i64> = if max - min < MAX_TABLE {
        let mut cum = vec![0usize; (max - min + 1) as usize];
        for &s in data {
            cum[(s.into() - min) as usize] += 1;
        }
        for i in 1..cum.len() {
            cum[i] += cum[i - 1];
        }
        Box::new(move |k| min + cum.partition_point(|&c| c <= k) as i64)
    } else {
        let mut v: Vec<i64> = data.iter().map(|&s| s.into()).collect();
        v.sort_unstable();
        Box::new(move |k| v[k])
    };
    let x = |k: usize| {
        let k = if slope >= 0.0 { k } else { n - 1 - k };
        sorted(k) as f64 * slope + intercept
    };
    p.map(|q| {
        let idx = q / 100.0 * (n - 1) as f64;
        let lo = idx.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        let t = idx - lo as f64;
        let (a, b) = (x(lo), x(hi));
        // NumPy's _lerp: exact at both ends.
        let d = b - a;
        if t >= 0.5 { b - d * (1.0 - t) } else { a + d * t }
    })
}

/// Bounding box `[r0, r1, c0, c1]` of the largest 8-connected component of `mask`, labelled by
/// runs (union-find over each row's runs and the runs of the row above). Ties go to the
/// component met first in raster order. `None` when the mask is empty.
fn largest_component_box(rows: usize, cols: usize, mask: impl Fn(usize) -> bool) -> Option<[usize; 4]> {
    struct Run {
        row: usize,
        start: usize,
        end: usize,
    }
    let mut runs: Vec<Run> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut prev = 0..0;
    for r in 0..rows {
        let first = runs.len();
        let base = r * cols;
        let mut c = 0;
        while c < cols {
            if mask(base + c) {
                let start = c;
                while c < cols && mask(base + c) {
                    c += 1;
                }
                runs.push(Run { row: r, start, end: c });
                parent.push(runs.len() - 1);
            } else {
                c += 1;
            }
        }
        let cur = first..runs.len();
        let mut j = prev.start;
        for a in cur.clone() {
            while j < prev.end && runs[j].end < runs[a].start {
                j += 1;
            }
            let mut k = j;
            while k < prev.end && runs[k].start <= runs[a].end {
                let (ra, rk) = (find(&mut parent, a), find(&mut parent, k));
                if ra != rk {
                    let (lo, hi) = (ra.min(rk), ra.max(rk));
                    parent[hi] = lo; // the root is always the earliest run: raster-order ties
                }
                k += 1;
            }
        }
        prev = cur;
    }
    if runs.is_empty() {
        return None;
    }
    let mut area = vec![0usize; runs.len()];
    let mut boxes = vec![[usize::MAX, 0, usize::MAX, 0]; runs.len()];
    for (i, run) in runs.iter().enumerate() {
        let root = find(&mut parent, i);
        area[root] += run.end - run.start;
        let b = &mut boxes[root];
        b[0] = b[0].min(run.row);
        b[1] = b[1].max(run.row + 1);
        b[2] = b[2].min(run.start);
        b[3] = b[3].max(run.end);
    }
    let best = (0..runs.len()).max_by(|&a, &b| area[a].cmp(&area[b]).then(b.cmp(&a)))?;
    Some(boxes[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_eight_connected_and_the_largest_wins() {
        #[rustfmt::skip]
        let m = [
            1, 0, 0, 0, 0, 0,
            0, 1, 0, 0, 1, 1,
            0, 0, 1, 0, 1, 1,
            0, 0, 0, 0, 1, 1,
        ];
        // The diagonal (3 pixels) is one component; the 2×3 block (6 pixels) is larger.
        assert_eq!(largest_component_box(4, 6, |i| m[i] == 1), Some([1, 4, 4, 6]));
        assert_eq!(largest_component_box(4, 6, |_| false), None);
    }

    #[test]
    fn u_shape_merges_two_runs_into_one_component() {
        #[rustfmt::skip]
        let m = [
            1, 0, 0, 1,
            1, 0, 0, 1,
            1, 1, 1, 1,
            0, 0, 0, 0,
        ];
        assert_eq!(largest_component_box(4, 4, |i| m[i] == 1), Some([0, 3, 0, 4]));
    }

    #[test]
    fn resample_weights_sum_to_one_and_identity_is_exact() {
        for (a, b) in [(10, 10), (2294, 384), (100, 384), (7, 3)] {
            for (_, w) in resample_weights(a, b) {
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        assert!(resample_weights(5, 5).iter().enumerate().all(|(i, (s, w))| w[i - s] == 1.0));
    }

    #[test]
    fn a_monotonic_table_cuts_where_the_threshold_is_crossed() {
        let up = [0.0, 0.1, 0.1, 0.5, 1.0];
        assert_eq!(stored_cut(&up, 0.1), Some((3, true)));
        let down: Vec<f64> = up.iter().rev().copied().collect();
        assert_eq!(stored_cut(&down, 0.1), Some((2, false)));
        for (table, (k, above)) in [(&up[..], (3, true)), (&down[..], (2, false))] {
            for (i, &x) in table.iter().enumerate() {
                assert_eq!(x > 0.1, if above { i >= k } else { i < k }, "{table:?} at {i}");
            }
        }
        assert_eq!(stored_cut(&[0.0, 1.0, 0.0], 0.5), None, "not monotonic");
    }

    #[test]
    fn fit_size_keeps_aspect_ratio() {
        assert_eq!(fit_size(2000, 1000, 384, 320), (384, 192));
        assert_eq!(fit_size(100, 400, 384, 320), (80, 320));
    }
}
