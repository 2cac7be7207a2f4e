//! The breast model: outline, thickness, fibroglandular texture, skin, nipple, pectoral
//! muscle and lesions, all in millimetres so that `small` and `full` images of one exam show
//! the same anatomy. Lesions are placed by their distance from the nipple, which is kept
//! between the CC and MLO views as in real mammograms.

use rand::Rng;

use crate::noise::Field;
use crate::{Lesion, LesionKind, Side, ViewKind};

/// Texture grid: 512 samples over 256 mm (0.5 mm). β = 3 fields carry little power finer
/// than that; quantum noise supplies the fine grain.
const GRID: usize = 512;
const GRID_MM: f32 = 256.0;

/// Per-breast shape parameters shared by both of its views.
#[derive(Debug, Clone)]
pub(crate) struct Breast {
    /// Nipple-to-chest-wall depth in the CC view (mm).
    pub depth_cc: f32,
    /// Half of the medio-lateral extent in the CC view (mm).
    pub half_height_cc: f32,
    /// Vertical offset of the CC outline's centre from the image centre (mm).
    pub offset_cc: f32,
    /// Depth in the MLO view (mm).
    pub depth_mlo: f32,
    /// Pectoral muscle: width at the top edge and height along the chest wall (mm).
    pub pectoral: (f32, f32),
    /// Fraction of the breast that is fibroglandular, 0.05–0.7.
    pub density: f32,
    /// Nipple radius (mm).
    pub nipple: f32,
}

impl Breast {
    pub(crate) fn random(rng: &mut impl Rng, width_mm: f32, height_mm: f32, density: f32) -> Breast {
        let depth_cc = rng.random_range(80.0..(width_mm - 25.0).min(150.0));
        Breast {
            depth_cc,
            half_height_cc: rng.random_range(0.30..0.44) * height_mm,
            offset_cc: rng.random_range(-0.04..0.04) * height_mm,
            depth_mlo: (depth_cc * rng.random_range(1.05..1.15)).min(width_mm - 12.0),
            pectoral: (rng.random_range(0.4..0.6) * depth_cc, rng.random_range(0.4..0.6) * height_mm),
            density: density + rng.random_range(-0.03..0.03),
            nipple: rng.random_range(3.0..5.5),
        }
    }
}

/// Geometry of one view in chest-wall-left coordinates (x from the chest wall, y down).
struct Outline {
    center_y: f32,
    depth: f32,
    half_height: f32,
    pectoral: Option<(f32, f32)>,
}

impl Outline {
    fn new(breast: &Breast, view: ViewKind, height_mm: f32) -> Outline {
        match view {
            ViewKind::Cc => Outline {
                center_y: height_mm / 2.0 + breast.offset_cc,
                depth: breast.depth_cc,
                half_height: breast.half_height_cc,
                pectoral: None,
            },
            ViewKind::Mlo => {
                let center_y = 0.42 * height_mm;
                Outline {
                    center_y,
                    depth: breast.depth_mlo,
                    // The top runs off the image into the axilla.
                    half_height: (0.6 * height_mm).min(0.94 * height_mm - center_y),
                    pectoral: Some(breast.pectoral),
                }
            }
        }
    }

    /// Normalised elliptical radius: 0 at the chest-wall centre, 1 on the skin.
    fn radius(&self, x: f32, y: f32) -> f32 {
        let u = x / self.depth;
        let v = (y - self.center_y) / self.half_height;
        (u * u + v * v).sqrt()
    }

    /// Where a lesion at `from_nipple` mm behind the nipple and `across` (−1..1 of the local
    /// half-height) sits in this view.
    fn place(&self, from_nipple: f32, across: f32) -> (f32, f32) {
        let x = (self.depth - from_nipple).max(5.0);
        let local = self.half_height * (1.0 - (x / self.depth).powi(2)).max(0.0).sqrt();
        let mut y = self.center_y + across * local;
        if let Some((pw, ph)) = self.pectoral {
            // Keep MLO lesions out of the pectoral muscle: slide them below it.
            let edge = ph * (1.0 - x / pw);
            if y < edge + 4.0 {
                y = edge + 4.0;
            }
        }
        (x, y)
    }
}

/// A lesion resolved to one view's coordinates.
struct Placed<'a> {
    lesion: &'a Lesion,
    x: f32,
    y: f32,
    /// Bounding radius of everything the lesion draws (mm).
    reach: f32,
}

/// Render one view into MONOCHROME2 stored values with the given bit depth.
#[allow(clippy::too_many_arguments)]
pub(crate) fn render(
    breast: &Breast,
    view: ViewKind,
    side: Side,
    lesion: Option<&Lesion>,
    rows: usize,
    columns: usize,
    spacing_mm: f32,
    bits_stored: u16,
    rng: &mut impl Rng,
) -> Vec<u16> {
    let height_mm = rows as f32 * spacing_mm;
    let outline = Outline::new(breast, view, height_mm);
    let texture = Field::power_law(GRID, 3.0, rng);
    let texture_offset = (rng.random_range(0.0..GRID as f32), rng.random_range(0.0..GRID as f32));
    // Glandular tissue is where the texture exceeds a threshold set by the density.
    let threshold = inverse_normal_cdf(1.0 - f64::from(breast.density.clamp(0.02, 0.9))) as f32;
    let placed = lesion.map(|l| {
        let (x, y) = outline.place(
            l.from_nipple_mm,
            match view {
                ViewKind::Cc => l.across_cc,
                ViewKind::Mlo => l.across_mlo,
            },
        );
        let reach = match l.kind {
            LesionKind::CircumscribedMass => l.radius_mm * 1.3,
            LesionKind::SpiculatedMass => l.radius_mm * 3.5,
            LesionKind::Calcifications => l.radius_mm + 1.5,
        };
        Placed { lesion: l, x, y, reach }
    });

    let max = f32::from((1u16 << bits_stored) - 1);
    let grid_per_mm = GRID as f32 / GRID_MM;
    let mut out = Vec::with_capacity(rows * columns);
    let mut noise = crate::GaussianStream::new(rng.random());
    for r in 0..rows {
        let y = (r as f32 + 0.5) * spacing_mm;
        for c in 0..columns {
            // Chest wall on the left for left breasts, mirrored for right breasts.
            let cc = match side {
                Side::Left => c,
                Side::Right => columns - 1 - c,
            };
            let x = (cc as f32 + 0.5) * spacing_mm;
            let rad = outline.radius(x, y);
            let nipple_d = ((x - outline.depth).powi(2) + (y - outline.center_y).powi(2)).sqrt();
            let in_nipple = nipple_d < breast.nipple && x >= outline.depth - 1.0;
            let mut value = 0.03;
            if rad < 1.0 || in_nipple {
                let edge_mm = ((1.0 - rad) * outline.depth.min(outline.half_height)).max(0.0);
                let thickness = (edge_mm / 14.0).min(1.0).sqrt();
                let t = texture.sample(x * grid_per_mm + texture_offset.0, y * grid_per_mm + texture_offset.1);
                // Subcutaneous fat: glandular tissue fades in over the first ~8 mm under the skin.
                let envelope = smoothstep(3.0, 12.0, edge_mm);
                let gland = sigmoid((t - threshold) * 3.0) * envelope;
                let mut a = thickness * (0.42 + 0.33 * gland + 0.05 * t);
                a += 0.10 * (-((edge_mm - 1.2) / 0.6).powi(2)).exp(); // skin line
                if in_nipple && rad >= 1.0 {
                    a = 0.35;
                }
                if let Some((pw, ph)) = outline.pectoral {
                    let edge = ph * (1.0 - x / pw);
                    a += 0.28 * smoothstep(-2.0, 2.0, edge - y) * thickness;
                }
                if let Some(p) = &placed {
                    let (dx, dy) = (x - p.x, y - p.y);
                    if dx.abs() < p.reach && dy.abs() < p.reach {
                        a += lesion_intensity(p.lesion, dx, dy, spacing_mm) * thickness;
                    }
                }
                value = 0.22 + 0.55 * a;
            }
            let v = (value + 0.004 * noise.next() as f32) * max;
            out.push(v.round().clamp(0.0, max) as u16);
        }
    }
    out
}

/// Extra attenuation of a lesion at offset (dx, dy) mm from its centre.
fn lesion_intensity(l: &Lesion, dx: f32, dy: f32, spacing_mm: f32) -> f32 {
    let rho = (dx * dx + dy * dy).sqrt();
    match l.kind {
        LesionKind::CircumscribedMass => l.contrast * dome(rho, l.radius_mm, 0.6),
        LesionKind::SpiculatedMass => {
            let theta = dy.atan2(dx);
            // Irregular border: the radius wobbles with angle.
            let wobble = 1.0 + 0.18 * (5.0 * theta + l.phase).sin() + 0.08 * (11.0 * theta + 2.0 * l.phase).sin();
            let mut v = l.contrast * dome(rho, l.radius_mm * wobble, 1.0);
            for k in 0..l.spicules {
                let angle =
                    l.phase + k as f32 * std::f32::consts::TAU / l.spicules as f32 + 0.3 * (k as f32 * 1.7).sin();
                let (ux, uy) = (angle.cos(), angle.sin());
                let along = dx * ux + dy * uy;
                let length = l.radius_mm * (2.2 + 0.8 * (k as f32 * 2.3 + l.phase).sin());
                if along > 0.0 && along < length {
                    let across = (dx * uy - dy * ux).abs();
                    let width = 0.35 + 0.25 * (1.0 - along / length);
                    v += 0.55 * l.contrast * (1.0 - along / length) * (-(across / width).powi(2)).exp();
                }
            }
            v
        }
        LesionKind::Calcifications => {
            let mut v = 0.0;
            for &(sx, sy, r) in &l.specks {
                // Area-preserving blur: a speck smaller than a pixel still adds its integral.
                let sigma = r.max(0.5 * spacing_mm);
                let amp = l.contrast * (r * r) / (sigma * sigma);
                let d2 = (dx - sx).powi(2) + (dy - sy).powi(2);
                if d2 < 9.0 * sigma * sigma {
                    v += amp * (-d2 / (2.0 * sigma * sigma)).exp();
                }
            }
            v
        }
    }
}

/// 1 inside radius r, falling smoothly to 0 over `soft` mm at the border, with a rounded top.
fn dome(rho: f32, r: f32, soft: f32) -> f32 {
    let inside = (1.0 - (rho / r).powi(2)).max(0.0).sqrt();
    let border = 1.0 - smoothstep(r - soft, r + soft, rho);
    (0.35 + 0.65 * inside) * border
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Acklam's rational approximation (|error| < 1.2e-9), enough to set a density threshold.
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    if p < 0.02425 {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - 0.02425 {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}
