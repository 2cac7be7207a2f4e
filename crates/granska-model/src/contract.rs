//! The model contract: `models/<name>/model.toml` beside `model.onnx`.
//!
//! Any directory that satisfies this contract runs, so researchers can drop in their own model.
//! Loading checks everything that can be checked without ONNX Runtime (fields, ranges, the
//! sha256 of the graph); [`crate::Engine`] then checks the graph's input and output signature.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// A loaded, verified model directory.
#[derive(Debug, Clone)]
pub struct Model {
    /// The directory.
    pub dir: PathBuf,
    /// Path of the ONNX graph.
    pub onnx_path: PathBuf,
    /// The parsed model.toml.
    pub card: ModelToml,
}

/// The contents of model.toml.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelToml {
    /// Who the model is and what it is for.
    pub identity: Identity,
    /// The input tensor.
    pub input: Input,
    /// How a view becomes the input tensor.
    pub preprocess: PreprocessSpec,
    /// The output tensor.
    pub output: Output,
    /// How view probabilities become an exam score.
    pub aggregation: Aggregation,
    /// Exam score to category 1–10 and the extra-high flag.
    pub calibration: Calibration,
}

/// Identity and documentation of a model.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Model name, e.g. `granska-phantom-v1`.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Lower-case hex sha256 of model.onnx.
    pub sha256: String,
    /// Intended use, in words.
    pub intended_use: String,
    /// What the model was trained on.
    pub training_data: String,
    /// Held-out metrics, by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// The input tensor: `[N, 1, H, W]` float32.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Tensor name in the graph.
    pub name: String,
    /// `[N, 1, H, W]`; N is -1 (dynamic) or a fixed batch size.
    pub shape: [i64; 4],
    /// Element type; only `float32` is supported.
    pub dtype: String,
}

impl Input {
    /// Height H of the input image.
    pub fn height(&self) -> usize {
        self.shape[2] as usize
    }
    /// Width W of the input image.
    pub fn width(&self) -> usize {
        self.shape[3] as usize
    }
    /// The fixed batch size, if the graph has one.
    pub fn fixed_batch(&self) -> Option<usize> {
        (self.shape[0] > 0).then_some(self.shape[0] as usize)
    }
}

/// How stored values are turned into `[0, 1]` before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalisation {
    /// The first VOI window of the header (LINEAR, LINEAR_EXACT or SIGMOID); images without a
    /// usable window fall back to `percentile`.
    Window,
    /// The `percentiles` of the rescaled values map to 0 and 1.
    Percentile,
    /// The `fixed` range of rescaled values maps to 0 and 1.
    Fixed,
}

/// Which image side the chest wall is placed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChestWall {
    /// Column 0.
    Left,
    /// The last column.
    Right,
}

/// The preprocessing spec (see ARCHITECTURE.md and `tests/oracle/reference.py`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessSpec {
    /// Normalisation to `[0, 1]`.
    pub normalisation: Normalisation,
    /// Lower and upper percentile (0–100) for `percentile` and the window fallback.
    #[serde(default = "default_percentiles")]
    pub percentiles: [f64; 2],
    /// Range of rescaled values for `fixed`.
    #[serde(default)]
    pub fixed: Option<[f64; 2]>,
    /// Where the chest wall goes.
    pub chest_wall: ChestWall,
    /// Normalised value above which a pixel counts as breast for the crop.
    pub crop_threshold: f64,
    /// Subtracted from the padded image.
    #[serde(default)]
    pub mean: f64,
    /// Divides the padded image after `mean`.
    #[serde(default = "one")]
    pub std: f64,
}

fn default_percentiles() -> [f64; 2] {
    [0.5, 99.5]
}
fn one() -> f64 {
    1.0
}

/// The output tensor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Tensor name in the graph: `[N]` or `[N, 1]` probabilities.
    pub name: String,
    /// What the value means.
    pub meaning: String,
}

/// Per-breast aggregation of view probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BreastAggregation {
    /// Highest view probability of the breast.
    Max,
    /// Mean of the breast's view probabilities.
    Mean,
}

/// Per-exam aggregation of breast scores. An exam with one breast scored takes that breast's
/// score under either rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExamAggregation {
    /// The higher of the two breasts.
    Max,
    /// The mean of the two breasts.
    Mean,
}

/// Aggregation settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Aggregation {
    /// Views → breast.
    pub breast: BreastAggregation,
    /// Breasts → exam.
    pub exam: ExamAggregation,
}

/// Calibration of the exam score.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Nine ascending cuts: category = 1 + the number of cuts the score reaches (`>=`).
    pub thresholds: Vec<f64>,
    /// Scores at or above this are extra-high risk (about the top 1 % of a screening population).
    pub extra_high: f64,
}

impl Calibration {
    /// Category 1–10 of an exam score.
    pub fn category(&self, score: f64) -> u8 {
        1 + self.thresholds.iter().filter(|&&t| score >= t).count() as u8
    }
    /// Whether an exam score is extra-high risk.
    pub fn is_extra_high(&self, score: f64) -> bool {
        score >= self.extra_high
    }
}

impl ModelToml {
    /// Parses and validates the text of a model.toml (fields and ranges; the sha256 of the
    /// .onnx is checked by [`Model::load`]). `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ModelToml, Error> {
        let card: ModelToml =
            toml::from_str(text).map_err(|source| Error::Toml { path: path.to_path_buf(), source })?;
        validate(&card).map_err(|what| Error::Contract { path: path.to_path_buf(), what })?;
        Ok(card)
    }
}

impl Model {
    /// Reads and verifies `dir/model.toml` and `dir/model.onnx` (fields, ranges, sha256).
    pub fn load(dir: impl AsRef<Path>) -> Result<Model, Error> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::ModelDirMissing { dir });
        }
        let toml_path = dir.join("model.toml");
        let text = fs::read_to_string(&toml_path).map_err(|source| Error::Io { path: toml_path.clone(), source })?;
        let card = ModelToml::parse(&text, &toml_path)?;
        let onnx_path = dir.join("model.onnx");
        let found = sha256_file(&onnx_path)?;
        if !found.eq_ignore_ascii_case(card.identity.sha256.trim()) {
            return Err(Error::Sha256Mismatch { path: onnx_path, expected: card.identity.sha256.clone(), found });
        }
        Ok(Model { dir, onnx_path, card })
    }

    /// Name, version and sha256, as attached to every result.
    pub fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            name: self.card.identity.name.clone(),
            version: self.card.identity.version.clone(),
            sha256: self.card.identity.sha256.to_ascii_lowercase(),
        }
    }
}

pub use granska_types::ModelIdentity;

/// Lower-case hex sha256 of a file, read in 1 MiB chunks.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let mut f = fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn validate(c: &ModelToml) -> Result<(), String> {
    let s = &c.input.shape;
    if s[1] != 1 || s[2] <= 0 || s[3] <= 0 || (s[0] == 0 || s[0] < -1) {
        return Err(format!("input.shape must be [N, 1, H, W] with N = -1 or N > 0 and H, W > 0, found {s:?}"));
    }
    if s[2] > 8192 || s[3] > 8192 {
        return Err(format!("input.shape H and W must be at most 8192, found {s:?}"));
    }
    if c.input.dtype != "float32" {
        return Err(format!("input.dtype must be \"float32\", found {:?}", c.input.dtype));
    }
    let hex = &c.identity.sha256;
    if hex.len() != 64 || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(format!("identity.sha256 must be 64 hex digits, found {hex:?}"));
    }
    let p = &c.preprocess;
    if !(0.0..=100.0).contains(&p.percentiles[0])
        || !(0.0..=100.0).contains(&p.percentiles[1])
        || p.percentiles[0] >= p.percentiles[1]
    {
        return Err(format!("preprocess.percentiles must be ascending within 0–100, found {:?}", p.percentiles));
    }
    if p.normalisation == Normalisation::Fixed {
        match p.fixed {
            Some([lo, hi]) if lo < hi => {}
            other => return Err(format!("preprocess.fixed must be [low, high] with low < high, found {other:?}")),
        }
    }
    if !p.crop_threshold.is_finite() || !(0.0..1.0).contains(&p.crop_threshold) {
        return Err(format!("preprocess.crop_threshold must be in [0, 1), found {}", p.crop_threshold));
    }
    if !p.mean.is_finite() || !p.std.is_finite() || p.std <= 0.0 {
        return Err(format!("preprocess.std must be positive and mean finite, found mean {} std {}", p.mean, p.std));
    }
    let t = &c.calibration.thresholds;
    if t.len() != 9 {
        return Err(format!("calibration.thresholds must hold 9 values, found {}", t.len()));
    }
    if t.iter().any(|x| !x.is_finite()) || t.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!("calibration.thresholds must be finite and ascending, found {t:?}"));
    }
    if !c.calibration.extra_high.is_finite() {
        return Err(format!("calibration.extra_high must be finite, found {}", c.calibration.extra_high));
    }
    Ok(())
}
