//! The evaluation report: ROC curve and category histogram (SVG and PNG, plotters) and one
//! self-contained HTML page with the figures inline, the tables, the model card summary and
//! the exact command. Rendering returns bytes; the caller writes the files.

use plotters::prelude::*;

use crate::metrics::{Metrics, RocPoint};
use crate::simulate::Arm;

/// Errors while drawing.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// plotters failed (e.g. no font to draw text into a PNG).
    #[error("cannot draw {figure}: {message}")]
    Draw {
        /// Which figure.
        figure: &'static str,
        /// plotters' message.
        message: String,
    },
    /// No TrueType font was found for PNG text.
    #[error(
        "no font for PNG figures: expected DejaVuSans.ttf under /usr/share/fonts (Debian: apt-get install fonts-dejavu-core)"
    )]
    NoFont,
}

fn draw_err<E: std::fmt::Display>(figure: &'static str) -> impl Fn(E) -> ReportError {
    move |e| ReportError::Draw { figure, message: e.to_string() }
}

/// Registers a system TrueType font as `sans-serif` for figure text (once per process).
pub fn register_font() -> Result<(), ReportError> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        let candidates = [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        ];
        for c in candidates {
            if let Ok(bytes) = std::fs::read(c) {
                // plotters keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    });
    if ok { Ok(()) } else { Err(ReportError::NoFont) }
}

fn roc_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    curve: &[RocPoint],
    auc: Option<f64>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let caption = match auc {
        Some(a) => format!("ROC (AUC {a:.3})"),
        None => "ROC".into(),
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc("1 − specificity").y_desc("sensitivity").draw().map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], &RGBColor(180, 180, 180)))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            curve.iter().map(|p| (p.false_positive_rate, p.true_positive_rate)),
            ShapeStyle::from(&RGBColor(200, 30, 60)).stroke_width(3),
        ))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn histogram_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    counts: &[[usize; 3]],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // Fractions within each class, so cancers and normals compare despite the prevalence.
    let (cancers, normals) = counts.iter().fold((0, 0), |(c, n), r| (c + r[1], n + r[2]));
    let frac = |x: usize, total: usize| if total == 0 { 0.0 } else { x as f64 / total as f64 };
    let top = counts.iter().map(|r| frac(r[1], cancers).max(frac(r[2], normals))).fold(0.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("Category by label (share of each class)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.5f64..10.5f64, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc("category").y_desc("share").x_labels(10).draw().map_err(|e| e.to_string())?;
    let bars = |offset: f64, color: RGBColor, col: usize, total: usize| {
        counts.iter().enumerate().map(move |(i, r)| {
            let x = i as f64 + 1.0 + offset;
            Rectangle::new([(x - 0.18, 0.0), (x + 0.18, frac(r[col], total))], color.filled())
        })
    };
    chart
        .draw_series(bars(-0.2, RGBColor(70, 110, 200), 2, normals))
        .map_err(|e| e.to_string())?
        .label("normal")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(70, 110, 200).filled()));
    chart
        .draw_series(bars(0.2, RGBColor(200, 30, 60), 1, cancers))
        .map_err(|e| e.to_string())?
        .label("cancer")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(200, 30, 60).filled()));
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

const W: u32 = 640;
const H: u32 = 480;

/// The ROC curve as SVG.
pub fn roc_svg(curve: &[RocPoint], auc: Option<f64>) -> Result<String, ReportError> {
    register_font()?; // plotters measures text with it, even for SVG
    let mut out = String::new();
    roc_chart(SVGBackend::with_string(&mut out, (W, H)).into_drawing_area(), curve, auc)
        .map_err(draw_err("roc.svg"))?;
    Ok(out)
}

/// The ROC curve as PNG.
pub fn roc_png(curve: &[RocPoint], auc: Option<f64>) -> Result<Vec<u8>, ReportError> {
    register_font()?;
    let mut rgb = vec![0u8; (W * H * 3) as usize];
    roc_chart(BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area(), curve, auc)
        .map_err(draw_err("roc.png"))?;
    encode_png(&rgb)
}

/// The category histogram as SVG.
pub fn histogram_svg(counts: &[[usize; 3]]) -> Result<String, ReportError> {
    register_font()?;
    let mut out = String::new();
    histogram_chart(SVGBackend::with_string(&mut out, (W, H)).into_drawing_area(), counts)
        .map_err(draw_err("categories.svg"))?;
    Ok(out)
}

/// The category histogram as PNG.
pub fn histogram_png(counts: &[[usize; 3]]) -> Result<Vec<u8>, ReportError> {
    register_font()?;
    let mut rgb = vec![0u8; (W * H * 3) as usize];
    histogram_chart(BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area(), counts)
        .map_err(draw_err("categories.png"))?;
    encode_png(&rgb)
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, ReportError> {
    // plotters' bitmap encoder writes to files only; encode in memory with the same png crate.
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, W, H);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(draw_err("png"))?;
        writer.write_image_data(rgb).map_err(draw_err("png"))?;
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What the HTML page shows besides the metrics.
pub struct ReportInputs<'a> {
    /// Model name, version, sha256 and the card's summary lines.
    pub model: &'a str,
    /// The command that produced the report, exactly.
    pub command: &'a str,
    /// The policy arm (reading-mode split).
    pub arm: &'a Arm,
}

/// The self-contained HTML page.
pub fn html(metrics: &Metrics, roc_svg: &str, histogram_svg: &str, inputs: &ReportInputs) -> String {
    let f = |x: Option<f64>| x.map_or("–".to_owned(), |v| format!("{v:.4}"));
    let mut rows = String::new();
    for p in &metrics.operating_points {
        rows += &format!(
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>\n",
            esc(&p.cut),
            p.sensitivity,
            p.specificity,
            p.positive_fraction
        );
    }
    let mut cats = String::new();
    for (i, c) in metrics.category_counts.iter().enumerate() {
        cats += &format!("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", i + 1, c[0], c[1], c[2]);
    }
    let a = inputs.arm;
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Granska evaluation</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1400px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #bbb; padding: 4px 10px; text-align: right; }}
th {{ background: #eee; }} .figs {{ display: flex; flex-wrap: wrap; gap: 1em; }} code, pre {{ background: #f4f4f4; padding: 2px 4px; }}
</style></head><body>
<h1>Granska evaluation</h1>
<p><b>{n}</b> exams, <b>{c}</b> cancers, {u} without a score. AUC <b>{auc}</b> (95 % CI {lo}–{hi}, {method}).</p>
<div class="figs"><figure>{roc}</figure><figure>{hist}</figure></div>
<h2>Operating points</h2>
<table><tr><th>positive if</th><th>sensitivity</th><th>specificity</th><th>share positive</th></tr>
{rows}</table>
<h2>Categories</h2>
<table><tr><th>category</th><th>exams</th><th>cancers</th><th>normals</th></tr>
{cats}</table>
<h2>Policy {policy} v{version}</h2>
<p>{single} single-read, {double} double-read, {flagged} flagged; {rpe:.3} screen reads per exam
({red:.1} % fewer than double reading every exam).</p>
<h2>Model</h2>
<pre>{model}</pre>
<h2>Command</h2>
<pre>{command}</pre>
</body></html>
"#,
        n = metrics.n_exams,
        c = metrics.n_cancers,
        u = metrics.n_unscored,
        auc = f(metrics.auc),
        lo = f(metrics.auc_ci_low),
        hi = f(metrics.auc_ci_high),
        method = metrics.auc_ci_method,
        roc = roc_svg,
        hist = histogram_svg,
        policy = esc(&a.policy),
        version = esc(&a.policy_version),
        single = a.single_read,
        double = a.double_read,
        flagged = a.flagged,
        rpe = a.reads_per_exam,
        red = a.workload_reduction * 100.0,
        model = esc(inputs.model),
        command = esc(inputs.command),
    )
}
