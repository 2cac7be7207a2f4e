//! The report's content tree (TID 4000), chosen by what the scoring said:
//!
//! - scored: findings summary 111241 "All algorithms succeeded; without findings", or 111242
//!   "… with findings" when the exam carries the extra-high-risk flag (see [`findings`]), with
//!   the algorithm, the certainty of impression (the exam score in percent) and the impression
//!   description; analyses "Succeeded" with one "Successful Analyses" entry;
//! - not scored (unscorable or incomplete, as the core routes them): 111245 "No algorithms
//!   succeeded; without findings" with the algorithm and a description saying why and that the
//!   exam goes to double reading, no certainty; analyses "Failed" with one "Failed Analyses"
//!   entry.
//!
//! Detections are never attempted: the model gives an exam-level score, not locations.

use granska_types::{ExamStatus, Flag, ModelIdentity};

use crate::codes::{self, Code};
use crate::source::{Side, SourceImage};
use crate::tree::{Item, Rel};
use crate::{ReportError, ReportInput};

/// The longest Impression Description written: long enough for every field, short enough for
/// a PACS to show whole.
pub(crate) const MAX_DESCRIPTION: usize = 1024;

/// What the report says about the exam.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A usable score and category: the policy routed on them.
    Scored { percent: String, extra_high: bool },
    /// No usable score: the exam is read without the AI (double reading under every policy).
    NotScored,
}

impl Outcome {
    /// Mirrors the core's routing (`granska-app`'s `route`): only a `scored` exam with a
    /// category was triaged on its score; everything else went the unscored way.
    pub fn of(input: &ReportInput) -> Result<Outcome, ReportError> {
        let s = input.scoring;
        match (s.status, s.category, s.exam_score) {
            (ExamStatus::Scored, Some(_), Some(score)) => {
                if !(0.0..=1.0).contains(&score) {
                    return Err(ReportError::ScoreOutOfRange { score });
                }
                let extra_high = s.extra_high || input.flags.contains(&Flag::ExtraHigh);
                Ok(Outcome::Scored { percent: percent(score), extra_high })
            }
            _ => Ok(Outcome::NotScored),
        }
    }
}

/// The exam score as a DS percentage: at most four decimals, trailing zeros dropped.
fn percent(score: f64) -> String {
    let text = format!("{:.4}", score * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() { "0".to_owned() } else { text.to_owned() }
}

/// Which findings summary a scored exam gets. The extra-high-risk flag is the strongest thing
/// the model says and puts the exam first on the worklist; a summary reading "without
/// findings" on such an exam could be taken as reassurance by whoever sees only the summary in
/// the PACS. So a flagged exam is "with findings" (its finding is the exam-level impression
/// under the summary: there are no localised marks), every other scored exam "without".
pub(crate) fn findings(extra_high: bool) -> Code {
    if extra_high { codes::ALL_SUCCEEDED_WITH_FINDINGS } else { codes::ALL_SUCCEEDED_WITHOUT_FINDINGS }
}

/// Orders images R-CC, L-CC, R-MLO, L-MLO, then other views, keeping input order among equals.
pub(crate) fn library_order(images: &mut [SourceImage]) {
    images.sort_by_key(|i| {
        let view = match i.view {
            Some(granska_types::View::Cc) => 0,
            Some(granska_types::View::Mlo) => 1,
            Some(_) => 2,
            None => 3,
        };
        let side = match i.laterality {
            Some(Side::One(granska_types::Laterality::Right)) => 0,
            Some(Side::One(granska_types::Laterality::Left)) => 1,
            Some(Side::Both) => 2,
            None => 3,
        };
        (view, side)
    });
}

/// The document's root container.
pub(crate) fn document(images: &[SourceImage], input: &ReportInput, outcome: &Outcome) -> Item {
    let (name, version) = algorithm(input.scoring.model.as_ref());
    let algorithm = || {
        vec![
            (Rel::HasProperties, Item::text(codes::ALGORITHM_NAME, name.clone())),
            (Rel::HasProperties, Item::text(codes::ALGORITHM_VERSION, version.clone())),
        ]
    };
    let description = (Rel::HasProperties, Item::text(codes::IMPRESSION_DESCRIPTION, describe(input, outcome)));
    let (summary, analyses, analyses_container) = match outcome {
        Outcome::Scored { percent, extra_high } => {
            // TID 4002's row order: the description (row 5) before the certainty (row 10).
            let mut props = algorithm();
            props.push(description);
            props
                .push((Rel::HasProperties, Item::num(codes::CERTAINTY_OF_IMPRESSION, percent.clone(), codes::PERCENT)));
            (
                Item::code(codes::FINDINGS_SUMMARY, findings(*extra_high)).with(props),
                codes::SUCCEEDED,
                codes::SUCCESSFUL_ANALYSES,
            )
        }
        Outcome::NotScored => {
            let mut props = algorithm();
            props.push(description);
            (
                Item::code(codes::FINDINGS_SUMMARY, codes::NONE_SUCCEEDED_WITHOUT_FINDINGS).with(props),
                codes::FAILED,
                codes::FAILED_ANALYSES,
            )
        }
    };
    let mut performed = algorithm();
    performed.extend(
        images.iter().map(|i| (Rel::HasProperties, Item::image(i.sop_class_uid.clone(), i.sop_instance_uid.clone()))),
    );
    let analysis = Item::code(codes::ANALYSIS_PERFORMED, codes::OVERALL_IMPRESSION_ANALYSIS).with(performed);
    Item::container(
        codes::MAMMOGRAPHY_CAD_REPORT,
        vec![
            (Rel::HasConceptMod, Item::code(codes::LANGUAGE, codes::ENGLISH)),
            (Rel::Contains, Item::container(codes::IMAGE_LIBRARY, images.iter().map(library_entry).collect())),
            (Rel::Contains, summary),
            (Rel::Contains, Item::code(codes::SUMMARY_OF_DETECTIONS, codes::NOT_ATTEMPTED)),
            (
                Rel::Contains,
                Item::code(codes::SUMMARY_OF_ANALYSES, analyses).with(vec![(
                    Rel::InferredFrom,
                    Item::container(analyses_container, vec![(Rel::Contains, analysis)]),
                )]),
            ),
        ],
    )
}

fn library_entry(image: &SourceImage) -> (Rel, Item) {
    let mut context = Vec::new();
    let side = match image.laterality {
        Some(Side::One(granska_types::Laterality::Right)) => Some(codes::RIGHT_BREAST),
        Some(Side::One(granska_types::Laterality::Left)) => Some(codes::LEFT_BREAST),
        Some(Side::Both) => Some(codes::BOTH_BREASTS),
        None => None,
    };
    if let Some(side) = side {
        context.push((Rel::HasAcqContext, Item::code(codes::IMAGE_LATERALITY, side)));
    }
    if let Some(view) = image.view.and_then(codes::view_code) {
        context.push((Rel::HasAcqContext, Item::code(codes::IMAGE_VIEW, view)));
    }
    (Rel::Contains, Item::image(image.sop_class_uid.clone(), image.sop_instance_uid.clone()).with(context))
}

/// Algorithm Name and Algorithm Version: the model's name, and its version with the first 12
/// hex digits of its sha256 (the full digest is in the description). With no model (nothing
/// ran), Granska itself is the algorithm that tried.
fn algorithm(model: Option<&ModelIdentity>) -> (String, String) {
    match model {
        Some(m) => {
            let name = if m.name.trim().is_empty() { "unnamed model" } else { m.name.as_str() };
            let version = if m.version.trim().is_empty() { "unversioned" } else { m.version.as_str() };
            let version = match m.sha256.get(..12) {
                Some(prefix) => format!("{version} (sha256 {prefix})"),
                None => version.to_owned(),
            };
            (clip(name, 64), clip(&version, 96))
        }
        None => ("Granska".to_owned(), format!("granska-report {}", env!("CARGO_PKG_VERSION"))),
    }
}

/// The Impression Description: everything a reader or auditor needs to know about the
/// decision, in one line of at most [`MAX_DESCRIPTION`] characters.
pub(crate) fn describe(input: &ReportInput, outcome: &Outcome) -> String {
    let s = input.scoring;
    let mut parts = Vec::new();
    match outcome {
        Outcome::Scored { extra_high, .. } => {
            let category = s.category.map_or(0, |c| c.get());
            parts.push(format!("category {category} of 10"));
            parts.push(format!("reading mode {}", input.reading_mode));
            parts.push(format!("extra-high risk flag: {}", if *extra_high { "yes" } else { "no" }));
        }
        Outcome::NotScored => {
            let reason = s.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("no reason given");
            parts.push(format!("not scored by the AI ({}): {}", s.status, clip(reason, 400)));
            let mode = input.reading_mode;
            if mode == granska_types::ReadingMode::Double {
                parts.push(format!("reading mode {mode}: the exam goes to double reading without the AI"));
            } else {
                parts.push(format!("reading mode {mode}"));
            }
        }
    }
    let others: Vec<&str> = input.flags.iter().filter(|f| **f != Flag::ExtraHigh).map(|f| f.as_str()).collect();
    if !others.is_empty() {
        parts.push(format!("flags: {}", others.join(", ")));
    }
    parts.push(format!("policy {}", clip(input.policy, 64)));
    parts.push(match &s.model {
        Some(m) => format!("model {} {} sha256 {}", clip(&m.name, 64), clip(&m.version, 64), clip(&m.sha256, 64)),
        None => "no model ran".to_owned(),
    });
    parts.push("research use only: synthetic-data model, not a clinical device".to_owned());
    clip(&parts.join("; "), MAX_DESCRIPTION)
}

/// `text` cut to at most `max` characters (on a character boundary), marked with "…" if cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_short_ds_text() {
        assert_eq!(percent(0.0), "0");
        assert_eq!(percent(1.0), "100");
        assert_eq!(percent(0.123456), "12.3456");
        assert_eq!(percent(0.5), "50");
    }

    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(clip("Åsa", 3), "Åsa");
        assert_eq!(clip("Åsaåsa", 3), "Ås…");
    }
}
