//! Power-law (1/f^β) Gaussian random fields: the standard statistical model of mammographic
//! fibroglandular texture (β ≈ 3, Burgess et al. 2001).

use rand::Rng;
use rustfft::{FftPlanner, num_complex::Complex};

/// A periodic N×N field with zero mean and unit standard deviation.
pub(crate) struct Field {
    n: usize,
    values: Vec<f32>,
}

impl Field {
    /// Synthesize a field whose power spectrum falls as 1/f^beta.
    pub(crate) fn power_law(n: usize, beta: f64, rng: &mut impl Rng) -> Field {
        let mut spectrum = vec![Complex::new(0.0f64, 0.0); n * n];
        for ky in 0..n {
            let fy = if ky <= n / 2 { ky as f64 } else { ky as f64 - n as f64 };
            for kx in 0..n {
                let fx = if kx <= n / 2 { kx as f64 } else { kx as f64 - n as f64 };
                let f = (fx * fx + fy * fy).sqrt();
                let (a, b) = crate::gaussian_pair(rng);
                if f > 0.0 {
                    let amp = f.powf(-beta / 2.0);
                    spectrum[ky * n + kx] = Complex::new(a * amp, b * amp);
                }
            }
        }
        fft2(&mut spectrum, n, &*FftPlanner::new().plan_fft_inverse(n));
        let real: Vec<f64> = spectrum.iter().map(|c| c.re).collect();
        let mean = real.iter().sum::<f64>() / real.len() as f64;
        let var = real.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / real.len() as f64;
        let sd = var.sqrt().max(f64::MIN_POSITIVE);
        Field { n, values: real.iter().map(|v| ((v - mean) / sd) as f32).collect() }
    }

    /// Bilinear sample at grid coordinates (wrapping), so any image size reads the same field.
    pub(crate) fn sample(&self, gx: f32, gy: f32) -> f32 {
        let n = self.n as f32;
        let gx = gx.rem_euclid(n);
        let gy = gy.rem_euclid(n);
        let x0 = gx.floor() as usize % self.n;
        let y0 = gy.floor() as usize % self.n;
        let x1 = (x0 + 1) % self.n;
        let y1 = (y0 + 1) % self.n;
        let tx = gx - gx.floor();
        let ty = gy - gy.floor();
        let v = |x: usize, y: usize| self.values[y * self.n + x];
        let top = v(x0, y0) * (1.0 - tx) + v(x1, y0) * tx;
        let bottom = v(x0, y1) * (1.0 - tx) + v(x1, y1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// In-place 2-D FFT of an n×n matrix (rows, transpose, rows; the result is transposed,
/// which a statistically isotropic field does not mind).
fn fft2(m: &mut [Complex<f64>], n: usize, fft: &dyn rustfft::Fft<f64>) {
    for row in m.chunks_exact_mut(n) {
        fft.process(row);
    }
    transpose(m, n);
    for row in m.chunks_exact_mut(n) {
        fft.process(row);
    }
}

fn transpose(m: &mut [Complex<f64>], n: usize) {
    for y in 0..n {
        for x in (y + 1)..n {
            m.swap(y * n + x, x * n + y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn spectrum_slope_is_close_to_beta() {
        // Radially averaged power at two frequency bands: the ratio must follow f^-3 within a
        // loose tolerance (one random realisation, so ±0.5 on the fitted exponent).
        let n = 128;
        let field = Field::power_law(n, 3.0, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
        let mut data: Vec<Complex<f64>> = field.values.iter().map(|&v| Complex::new(f64::from(v), 0.0)).collect();
        fft2(&mut data, n, &*FftPlanner::new().plan_fft_forward(n));
        let band = |lo: f64, hi: f64| {
            let (mut sum, mut count) = (0.0, 0);
            for ky in 0..n {
                for kx in 0..n {
                    let fx = if kx <= n / 2 { kx as f64 } else { kx as f64 - n as f64 };
                    let fy = if ky <= n / 2 { ky as f64 } else { ky as f64 - n as f64 };
                    let f = (fx * fx + fy * fy).sqrt();
                    if f >= lo && f < hi {
                        sum += data[ky * n + kx].norm_sqr();
                        count += 1;
                    }
                }
            }
            sum / f64::from(count)
        };
        let slope = (band(16.0, 20.0) / band(4.0, 5.0)).ln() / (18.0f64 / 4.5).ln();
        assert!((slope + 3.0).abs() < 0.5, "fitted exponent {slope}");
    }
}
