//! Looking things up: everything about one study (for researchers and the admin; patient
//! identity for the admin only), and the loaded model with the active policy.

use granska_archive::StudyRecord;
use granska_types::Uid;
use granska_worklist::model::StudyHistory;

use granska_types::ScoringRecord;

use crate::{Action, App, AppError, Caller, blocking};

/// Everything known about one study.
#[derive(Debug, Clone)]
pub struct StudyView {
    /// Received instances, state, completion, attention, scorings as stored.
    pub record: StudyRecord,
    /// Its scorings, oldest first, with when each was recorded (Unix ms).
    pub scorings: Vec<(ScoringRecord, i64)>,
    /// Routings, tasks, reads and outcome, once routed; the reads' notes only for the admin.
    pub history: Option<StudyHistory>,
    /// `(PatientID, PatientName)` of its first instance; only for the admin.
    pub patient: Option<(Option<String>, Option<String>)>,
    /// Result reports made for its routings, oldest first, with their delivery state.
    pub reports: Vec<granska_archive::ReportRecord>,
}

/// The loaded model and the active policy.
#[derive(Debug, Clone)]
pub struct ModelsView {
    /// The model card.
    pub card: granska_model::ModelToml,
    /// The model's directory; only for the admin (a researcher learns what runs, not where).
    pub dir: Option<std::path::PathBuf>,
    /// The execution device, e.g. `cpu`.
    pub device: String,
    /// The ONNX Runtime library; only for the admin.
    pub onnxruntime_library: Option<std::path::PathBuf>,
    /// The active policy.
    pub policy: std::sync::Arc<granska_triage::Policy>,
    /// The policy's TOML as loaded.
    pub policy_toml: String,
}

/// The admin's view of the whole service.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Exams by reading mode and state, tasks by kind and state.
    pub counts: granska_worklist::model::Counts,
    /// Queued tasks past their due time, in priority order.
    pub overdue: Vec<granska_worklist::model::WorklistEntry>,
    /// The loaded model and the active policy.
    pub models: ModelsView,
    /// The most recent audit records, oldest first.
    pub audit: Vec<granska_archive::AuditRecord>,
}

impl App {
    /// Everything about one study; patient identity only for the admin.
    pub async fn get_study(&self, caller: &Caller, study_uid: &Uid) -> Result<StudyView, AppError> {
        caller.authorize(Action::GetStudy)?;
        let with_patient = caller.role == granska_types::Role::Admin;
        let (archive, worklist, uid) = (self.archive.clone(), self.worklist.clone(), study_uid.to_string());
        let result = blocking(move || {
            let record = archive.study(&uid)?.ok_or_else(|| AppError::UnknownStudy { study_uid: uid.clone() })?;
            let history = match worklist.history(&uid) {
                Ok(mut h) if !with_patient => {
                    // A reader's free-text note may name the woman: the admin's only.
                    h.reads.iter_mut().for_each(|r| r.note = None);
                    Some(h)
                }
                Ok(h) => Some(h),
                Err(granska_worklist::Error::UnknownStudy { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let reports = archive.reports(&uid)?;
            Ok((record, history, reports))
        })
        .await
        .map(|(record, history, reports)| {
            let scorings = record.scorings.iter().map(|s| (s.record.clone(), s.at_ms)).collect();
            let patient = with_patient.then(|| {
                let first = record.instances.first();
                (first.and_then(|i| i.instance.patient_id.clone()), first.and_then(|i| i.instance.patient_name.clone()))
            });
            StudyView { record, scorings, history, patient, reports }
        });
        self.audited(caller, Action::GetStudy, vec![Some(study_uid.to_string())], result).await
    }

    /// The loaded model and the active policy; file paths only for the admin.
    pub fn models(&self, caller: &Caller) -> Result<ModelsView, AppError> {
        caller.authorize(Action::Models)?;
        let admin = caller.role == granska_types::Role::Admin;
        let info = self.scorer.engine.info();
        Ok(ModelsView {
            card: self.scorer.model.card.clone(),
            dir: admin.then(|| self.scorer.model.dir.clone()),
            device: info.device.clone(),
            onnxruntime_library: admin.then(|| info.library.clone()),
            policy: self.policy.clone(),
            policy_toml: self.policy_toml.clone(),
        })
    }

    /// The admin's overview: queue counts, overdue queued tasks (at most `max_rows`), the
    /// loaded model and policy, and the last `max_rows` audit records.
    pub async fn overview(&self, caller: &Caller, max_rows: u32) -> Result<Overview, AppError> {
        caller.authorize(Action::Overview)?;
        let models = self.models(caller)?;
        let (archive, worklist, me) = (
            self.archive.clone(),
            self.worklist.clone(),
            granska_worklist::model::Reader::new(caller.principal.clone()),
        );
        let result = blocking(move || {
            let counts = worklist.counts()?;
            // The admin's own worklist holds every queued task (an admin may take any), overdue
            // ones first; a task claimed by someone is not overdue for the queue.
            let page = granska_worklist::model::PageRequest { offset: 0, limit: max_rows };
            let overdue = worklist.worklist(&me, page)?.entries.into_iter().filter(|e| e.overdue).collect();
            let filter = granska_archive::AuditFilter { last: Some(max_rows), ..Default::default() };
            let audit = archive.audit_records(&filter)?;
            Ok::<_, AppError>(Overview { counts, overdue, models, audit })
        })
        .await;
        self.audited(caller, Action::Overview, vec![None], result).await
    }
}
