//! Exam scoring: decoded views → preprocessing → batched inference → per-breast and exam
//! scores → category 1–10 and the extra-high flag, with the model identity attached.
//!
//! Nothing is dropped: a view that cannot be decoded, preprocessed or inferred stays in the
//! result with its reason, the exam is scored on what is left and marked `incomplete`; an exam
//! with no scorable view is `unscorable` with the reasons (the triage then double-reads it).

use std::time::Instant;

use granska_dicom::{Laterality, MammoMeta, PixelArray, PresentationIntent, View};
use serde::Serialize;

use crate::contract::{Aggregation, BreastAggregation, ExamAggregation, ModelIdentity};
use crate::preprocess::preprocess;
use crate::{Engine, Model};

/// One instance of an exam, as handed to the scorer.
#[derive(Debug)]
pub struct ViewInput {
    /// Where it came from (file name or blob id), for reasons and reports.
    pub source: String,
    /// Its metadata (the header parsed; needed to place the view in the exam).
    pub meta: MammoMeta,
    /// Decoded pixels, or why reading or decoding failed.
    pub pixels: Result<PixelArray, granska_dicom::Error>,
}

/// Why one view was not scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViewError {
    /// A For Processing image whose view also has a For Presentation image: the latter is
    /// scored (this is no failure, and not reported as one).
    #[error("For Processing image not scored: a For Presentation image of this view is present")]
    SupersededForProcessing,
    /// Reading or decoding the pixels failed.
    #[error("pixels could not be decoded: {0}")]
    Decode(String),
    /// Preprocessing failed.
    #[error("preprocessing failed: {0}")]
    Preprocess(String),
    /// Preprocessing hit a defect (a panic) on this image; only this view is lost.
    #[error("preprocessing failed: internal error (panic) on this image")]
    PreprocessPanic,
    /// ONNX Runtime failed on the batch holding this view.
    #[error("inference failed: {0}")]
    Inference(String),
}

impl Serialize for ViewError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

pub use granska_types::ExamStatus;

/// One view's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ViewResult {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// L or R.
    pub laterality: Laterality,
    /// View position.
    pub view: View,
    /// Model probability; `null` when the view was not scored.
    pub score: Option<f64>,
    /// Why the view was not scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ViewError>,
    /// Where the instance came from.
    pub source: String,
}

/// Milliseconds spent per stage for one exam.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Reading and decoding pixels (measured by the caller).
    pub decode: f64,
    /// Preprocessing all views.
    pub preprocess: f64,
    /// Waiting for inference (queue and batch), wall time.
    pub infer: f64,
    /// The exam's share of ONNX Runtime `run` time (pure inference).
    pub infer_run: f64,
}

/// Per-breast scores.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Breasts {
    /// Left breast score, if any left view was scored.
    #[serde(rename = "L")]
    pub left: Option<f64>,
    /// Right breast score.
    #[serde(rename = "R")]
    pub right: Option<f64>,
}

/// The scoring result of one exam.
#[derive(Debug, Clone, Serialize)]
pub struct ExamResult {
    /// Study Instance UID.
    pub study_uid: String,
    /// scored | incomplete | unscorable.
    pub status: ExamStatus,
    /// Why the exam is incomplete or unscorable (`null` when scored).
    pub reason: Option<String>,
    /// All four standard views present and scored.
    pub complete: bool,
    /// Exam score 0–1 (`null` when unscorable).
    pub exam_score: Option<f64>,
    /// Category 1–10 (`null` when unscorable).
    pub category: Option<u8>,
    /// At or above the model's extra-high cut.
    pub extra_high: bool,
    /// Per-breast scores.
    pub breasts: Breasts,
    /// Every instance, scored or not.
    pub views: Vec<ViewResult>,
    /// The model that scored it.
    pub model: ModelIdentity,
    /// Time per stage.
    pub timings_ms: Timings,
}

pub use granska_types::STANDARD_VIEWS;

/// Per-breast scores and the exam score of scored views, by the model's aggregation rules:
/// each breast's scored views give its score (`breast`: max or mean), and the scored breasts
/// give the exam's (`exam`: max or mean). Unscored views are ignored; `None` when none is scored.
pub fn aggregate(aggregation: &Aggregation, views: &[ViewResult]) -> (Breasts, Option<f64>) {
    let max = |xs: &[f64]| xs.iter().copied().fold(f64::MIN, f64::max);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let breast = |lat| {
        let s: Vec<f64> = views.iter().filter(|v| v.laterality == lat).filter_map(|v| v.score).collect();
        (!s.is_empty()).then(|| match aggregation.breast {
            BreastAggregation::Max => max(&s),
            BreastAggregation::Mean => mean(&s),
        })
    };
    let breasts = Breasts { left: breast(Laterality::Left), right: breast(Laterality::Right) };
    let scored: Vec<f64> = [breasts.left, breasts.right].into_iter().flatten().collect();
    let exam = match aggregation.exam {
        ExamAggregation::Max => scored.iter().copied().reduce(f64::max),
        ExamAggregation::Mean => (!scored.is_empty()).then(|| mean(&scored)),
    };
    (breasts, exam)
}

/// A model with its running engine.
pub struct Scorer {
    /// The verified model.
    pub model: Model,
    /// Its engine.
    pub engine: Engine,
}

impl Scorer {
    /// Scores one exam. `decode_ms` is what the caller spent decoding its views.
    pub fn score_exam(&self, study_uid: &str, mut views: Vec<ViewInput>, decode_ms: f64) -> ExamResult {
        let card = &self.model.card;
        let mut timings = Timings { decode: decode_ms, ..Timings::default() };
        // Score For Presentation images; a For Processing image is only used for a view that
        // has no For Presentation image.
        views.sort_by(|a, b| {
            (a.meta.laterality, a.meta.view, &a.source).cmp(&(b.meta.laterality, b.meta.view, &b.source))
        });
        let presentation = |l, v| {
            views.iter().any(|x| {
                x.meta.laterality == l
                    && x.meta.view == v
                    && x.meta.presentation_intent != Some(PresentationIntent::ForProcessing)
            })
        };
        let mut results = Vec::with_capacity(views.len());
        let mut tensors = Vec::new();
        let mut slots = Vec::new();
        let started = Instant::now();
        for v in &views {
            let mut r = ViewResult {
                sop_instance_uid: v.meta.sop_instance_uid.to_string(),
                laterality: v.meta.laterality,
                view: v.meta.view,
                score: None,
                error: None,
                source: v.source.clone(),
            };
            let processing = v.meta.presentation_intent == Some(PresentationIntent::ForProcessing);
            match &v.pixels {
                _ if processing && presentation(v.meta.laterality, v.meta.view) => {
                    r.error = Some(ViewError::SupersededForProcessing)
                }
                Err(e) => r.error = Some(ViewError::Decode(e.to_string())),
                // A defect on one view's odd input costs that view only, never the exam.
                Ok(px) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    preprocess(&v.meta, px, &card.preprocess, card.input.height(), card.input.width())
                })) {
                    Ok(Ok(p)) => {
                        slots.push(results.len());
                        tensors.push(p.tensor);
                    }
                    Ok(Err(e)) => r.error = Some(ViewError::Preprocess(e.to_string())),
                    Err(_) => r.error = Some(ViewError::PreprocessPanic),
                },
            }
            results.push(r);
        }
        timings.preprocess = started.elapsed().as_secs_f64() * 1e3;

        let started = Instant::now();
        if !tensors.is_empty() {
            match self.engine.infer(tensors) {
                Ok(out) => {
                    for (slot, inf) in slots.iter().zip(out) {
                        results[*slot].score = Some(f64::from(inf.probability));
                        timings.infer_run += inf.run_ms;
                    }
                }
                Err(e) => {
                    for slot in &slots {
                        results[*slot].error = Some(ViewError::Inference(e.to_string()));
                    }
                }
            }
        }
        timings.infer = started.elapsed().as_secs_f64() * 1e3;
        self.assemble(study_uid, results, timings)
    }

    fn assemble(&self, study_uid: &str, views: Vec<ViewResult>, timings: Timings) -> ExamResult {
        let card = &self.model.card;
        let (breasts, exam_score) = aggregate(&card.aggregation, &views);
        let mut problems = Vec::new();
        for (lat, view) in STANDARD_VIEWS {
            let label = format!("{}-{}", lat.code(), view.code());
            let of_view: Vec<&ViewResult> = views.iter().filter(|v| v.laterality == lat && v.view == view).collect();
            if of_view.is_empty() {
                problems.push(format!("{label} missing"));
            } else if of_view.iter().all(|v| v.score.is_none()) {
                let why = of_view
                    .iter()
                    .filter_map(|v| v.error.as_ref().map(|e| e.to_string()))
                    .collect::<Vec<_>>()
                    .join("; ");
                problems.push(format!("{label} not scored ({why})"));
            }
        }
        // Failures of extra (non-standard or duplicate) views are reported too.
        for v in views.iter().filter(|v| v.score.is_none()) {
            let standard = STANDARD_VIEWS.contains(&(v.laterality, v.view));
            let covered = views.iter().any(|o| o.laterality == v.laterality && o.view == v.view && o.score.is_some());
            if (!standard || covered) && v.error != Some(ViewError::SupersededForProcessing) {
                problems.push(format!(
                    "{}-{} {} not scored ({})",
                    v.laterality.code(),
                    v.view.code(),
                    v.source,
                    v.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
                ));
            }
        }
        let complete = problems.is_empty();
        let (status, reason) = match exam_score {
            None if views.is_empty() => (ExamStatus::Unscorable, Some("no views".to_string())),
            None => (ExamStatus::Unscorable, Some(format!("no view could be scored: {}", problems.join("; ")))),
            Some(_) if complete => (ExamStatus::Scored, None),
            Some(_) => (ExamStatus::Incomplete, Some(problems.join("; "))),
        };
        ExamResult {
            study_uid: study_uid.to_string(),
            status,
            reason,
            complete,
            exam_score,
            category: exam_score.map(|s| card.calibration.category(s)),
            extra_high: exam_score.is_some_and(|s| card.calibration.is_extra_high(s)),
            breasts,
            views,
            model: self.model.identity(),
            timings_ms: timings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(laterality: Laterality, view: View, score: Option<f64>) -> ViewResult {
        ViewResult {
            sop_instance_uid: "1.2.3".into(),
            laterality,
            view,
            score,
            error: score.is_none().then(|| ViewError::Decode("test".into())),
            source: "test".into(),
        }
    }

    /// L-CC 0.2, L-MLO 0.6, R-CC 0.1, R-MLO 0.3, and a failed right view that counts for nothing.
    fn views() -> Vec<ViewResult> {
        vec![
            view(Laterality::Left, View::Cc, Some(0.2)),
            view(Laterality::Left, View::Mlo, Some(0.6)),
            view(Laterality::Right, View::Cc, Some(0.1)),
            view(Laterality::Right, View::Mlo, Some(0.3)),
            view(Laterality::Right, View::Mlo, None),
        ]
    }

    fn score(
        breast: BreastAggregation,
        exam: ExamAggregation,
        views: &[ViewResult],
    ) -> (Option<f64>, Option<f64>, Option<f64>) {
        let (b, e) = aggregate(&Aggregation { breast, exam }, views);
        (b.left, b.right, e)
    }

    // Tolerance: the expected values are sums and halves of the inputs, exact up to one rounding.
    fn close(got: (Option<f64>, Option<f64>, Option<f64>), want: (f64, f64, f64)) -> bool {
        let near = |g: Option<f64>, w: f64| g.is_some_and(|g| (g - w).abs() < 1e-12);
        near(got.0, want.0) && near(got.1, want.1) && near(got.2, want.2)
    }

    #[test]
    fn the_exam_score_follows_the_configured_rules() {
        use BreastAggregation as B;
        use ExamAggregation as E;
        let v = views();
        // Breasts by mean: L 0.4, R 0.2; by max: L 0.6, R 0.3.
        assert!(close(score(B::Mean, E::Max, &v), (0.4, 0.2, 0.4)));
        assert!(close(score(B::Mean, E::Mean, &v), (0.4, 0.2, 0.3)));
        assert!(close(score(B::Max, E::Max, &v), (0.6, 0.3, 0.6)));
        assert!(close(score(B::Max, E::Mean, &v), (0.6, 0.3, 0.45)));
    }

    #[test]
    fn one_scored_breast_is_the_exam_score_under_either_rule() {
        let left_only: Vec<ViewResult> = views().into_iter().filter(|v| v.laterality == Laterality::Left).collect();
        for exam in [ExamAggregation::Max, ExamAggregation::Mean] {
            let (b, e) = aggregate(&Aggregation { breast: BreastAggregation::Mean, exam }, &left_only);
            assert_eq!(b.right, None);
            assert!(e.is_some_and(|e| (e - 0.4).abs() < 1e-12), "{exam:?}: {e:?}");
        }
        let none = [view(Laterality::Left, View::Cc, None)];
        assert_eq!(
            aggregate(&Aggregation { breast: BreastAggregation::Max, exam: ExamAggregation::Mean }, &none).1,
            None
        );
    }
}
