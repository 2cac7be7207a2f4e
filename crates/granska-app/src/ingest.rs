//! Ingest use cases: store one instance (validate → durable → acknowledge), complete a study,
//! and the admin's needs-attention queue (list, retry, remove an instance).

use std::sync::Arc;
use std::time::Instant;

use granska_archive::{Attention, Completion, NewInstance, PutOutcome, StudyState};
use granska_dicom::DicomFile;
use granska_types::Uid;

use crate::error::invalid_instance;
use crate::scoring::free_bytes;
use crate::{Action, App, AppError, Caller, Limit, blocking, now_ms};

/// An acknowledged instance: durable before this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// `false`: stored now; `true`: the same bytes were stored before.
    pub duplicate: bool,
    /// SOP Instance UID.
    pub sop_instance_uid: Uid,
    /// Study Instance UID.
    pub study_uid: Uid,
    /// sha256 of the bytes.
    pub sha256: String,
}

/// A refused instance: why, and which instance when its header could be read.
#[derive(Debug)]
pub struct Rejected {
    /// Why.
    pub error: AppError,
    /// (field, description) pairs for the sender.
    pub violations: Vec<(String, String)>,
    /// SOP Instance UID, empty when the header could not be read.
    pub sop_instance_uid: String,
    /// Study Instance UID, empty when the header could not be read.
    pub study_uid: String,
}

impl Rejected {
    fn of(error: AppError, sop_instance_uid: String, study_uid: String) -> Rejected {
        let violations = match &error {
            AppError::InvalidInstance { field, kind, .. } => {
                vec![(field.clone().unwrap_or_default(), kind.to_string())]
            }
            AppError::Exhausted { limit: Limit::DiskSpace, .. } => {
                vec![(Limit::DiskSpace.to_string(), "free disk space below the watermark".into())]
            }
            AppError::Exhausted { limit: Limit::InstanceSize, .. } => {
                vec![(String::new(), "too large".into())]
            }
            AppError::Archive(e) => vec![("SOPInstanceUID (0008,0018)".into(), e.to_string())],
            _ => Vec::new(),
        };
        Rejected { error, violations, sop_instance_uid, study_uid }
    }
}

impl App {
    /// Validates and stores one instance, then audits the outcome. `Err(Rejected)` when the
    /// instance was refused (nothing stored); an audit failure refuses it too, after storing:
    /// the sender re-sends and gets a duplicate.
    pub async fn ingest(
        self: &Arc<Self>,
        caller: &Caller,
        bytes: Vec<u8>,
        instance_ref: String,
    ) -> Result<Ingested, Rejected> {
        caller.authorize(Action::Upload).map_err(|e| Rejected::of(e, String::new(), String::new()))?;
        let result = self.store(bytes, instance_ref).await;
        let (study, outcome) = match &result {
            Ok(i) => (Some(i.study_uid.to_string()), if i.duplicate { "ok: duplicate" } else { "ok: stored" }.into()),
            Err(r) => (
                (!r.study_uid.is_empty()).then(|| r.study_uid.clone()),
                format!("rejected: {}", r.error.rejection_class()),
            ),
        };
        if let Err(e) = self.audit(caller, Action::Upload, vec![study], outcome).await {
            let (sop, study) = match &result {
                Ok(i) => (i.sop_instance_uid.to_string(), i.study_uid.to_string()),
                Err(r) => (r.sop_instance_uid.clone(), r.study_uid.clone()),
            };
            return Err(Rejected::of(e, sop, study));
        }
        result
    }

    /// Counts and audits an instance the edge refused before it reached [`App::ingest`] (too
    /// large, a stream cut inside it); `reason` is a short class for the metric and the audit.
    pub async fn refused_upload(&self, caller: &Caller, reason: &'static str) -> Result<(), AppError> {
        caller.authorize(Action::Upload)?;
        self.metrics.rejections.with_label_values(&[reason]).inc();
        self.audit(caller, Action::Upload, vec![None], format!("rejected: {reason}")).await
    }

    /// An instance of an accept-and-drop SOP class (secondary capture, presentation state, key
    /// objects, other SRs a PACS forwards with the study): answered as stored by the edge, not
    /// kept, counted by class, audited.
    pub async fn drop_instance(&self, caller: &Caller, sop_class_uid: &str) -> Result<(), AppError> {
        caller.authorize(Action::Upload)?;
        self.metrics.dropped.with_label_values(&[sop_class_uid]).inc();
        self.audit(caller, Action::Upload, vec![None], format!("dropped: SOP class {sop_class_uid} is accept-and-drop"))
            .await
    }

    /// The DICOM association that sent instances of `studies` was released: the sender says it
    /// sent what it had, so each such study still receiving is completed (scored now), next to
    /// the four-views rule and the quiet timer. Returns the studies completed by this call.
    pub async fn association_released(&self, caller: &Caller, studies: &[Uid]) -> Result<Vec<Uid>, AppError> {
        caller.authorize(Action::CompleteStudy)?;
        let (archive, uids) = (self.archive.clone(), studies.to_vec());
        let result = blocking(move || {
            let mut completed = Vec::new();
            for uid in uids {
                // A study whose every instance was refused is unknown: nothing to complete.
                match archive.complete(uid.as_str(), Completion::AssociationReleased) {
                    Ok(true) => completed.push(uid),
                    Ok(false) | Err(granska_archive::Error::UnknownStudy { .. }) => {}
                    Err(e) => return Err(AppError::from(e)),
                }
            }
            Ok(completed)
        })
        .await;
        if let Ok(completed) = &result
            && !completed.is_empty()
        {
            self.score_soon();
        }
        let audited = studies.iter().map(|u| Some(u.to_string())).collect();
        self.audited(caller, Action::CompleteStudy, audited, result).await
    }

    async fn store(self: &Arc<Self>, bytes: Vec<u8>, instance_ref: String) -> Result<Ingested, Rejected> {
        let started = Instant::now();
        let profile = self.options.profile;
        let archive = self.archive.clone();
        let size = bytes.len() as u64;
        let min_free = self.options.min_free_bytes;
        let max_instance = self.options.max_instance_bytes;
        let outcome = blocking(move || {
            if bytes.len() > max_instance {
                let error = AppError::Exhausted {
                    limit: Limit::InstanceSize,
                    message: format!(
                        "instance is {} bytes, larger than ingest.max_instance_mib = {} MiB",
                        bytes.len(),
                        max_instance >> 20
                    ),
                };
                return Err(Box::new(Rejected::of(error, String::new(), String::new())));
            }
            let file = DicomFile::from_bytes(&bytes, &instance_ref)
                .map_err(|e| Box::new(Rejected::of(invalid_instance(e.kind), String::new(), String::new())))?;
            let meta = file.mammogram(profile).map_err(|e| {
                // Name the instance when its header could be read, even though it is refused.
                let (sop, study) = file.identifying_uids();
                Box::new(Rejected::of(invalid_instance(e.kind), sop, study))
            })?;
            let (patient_id, patient_name) = file.patient_identity();
            let free = free_bytes(archive.root());
            if free < min_free {
                let error = AppError::Exhausted {
                    limit: Limit::DiskSpace,
                    message: format!(
                        "the data disk has {} MiB free, below ingest.min_free_mib = {} MiB: ingest is paused \
                         (reading and scoring go on); free space and re-send",
                        free >> 20,
                        min_free >> 20
                    ),
                };
                return Err(Box::new(Rejected::of(
                    error,
                    meta.sop_instance_uid.to_string(),
                    meta.study_instance_uid.to_string(),
                )));
            }
            let instance = NewInstance {
                sop_instance_uid: meta.sop_instance_uid.clone(),
                study_uid: meta.study_instance_uid.clone(),
                series_uid: meta.series_instance_uid.clone(),
                sop_class_uid: meta.sop_class_uid.clone(),
                laterality: meta.laterality,
                view: meta.view,
                transfer_syntax_uid: file.transfer_syntax_uid().to_owned(),
                patient_id,
                patient_name,
            };
            let put = archive.put(&bytes, &instance, now_ms()).map_err(|e| {
                Box::new(Rejected::of(
                    AppError::Archive(e),
                    instance.sop_instance_uid.to_string(),
                    instance.study_uid.to_string(),
                ))
            })?;
            Ok::<_, Box<Rejected>>((instance, put))
        })
        .await;
        let (instance, put) = match outcome {
            Ok(v) => v,
            Err(r) => {
                self.metrics.rejections.with_label_values(&[r.error.rejection_class()]).inc();
                return Err(*r);
            }
        };
        self.metrics.observe("store", started.elapsed().as_secs_f64());
        let (duplicate, sha256) = match put {
            PutOutcome::Duplicate { sha256 } => {
                self.metrics.duplicates.inc();
                (true, sha256)
            }
            PutOutcome::Stored { sha256, became_complete, .. } => {
                self.metrics.instances.inc();
                self.metrics.bytes.inc_by(size);
                tracing::debug!(study_uid = %instance.study_uid, sop_instance_uid = %instance.sop_instance_uid, "instance stored");
                if became_complete {
                    self.score_soon();
                }
                (false, sha256)
            }
        };
        Ok(Ingested { duplicate, sop_instance_uid: instance.sop_instance_uid, study_uid: instance.study_uid, sha256 })
    }

    /// Declares a study complete (score it now): `(completed_now, state)`.
    pub async fn complete_study(&self, caller: &Caller, study_uid: &Uid) -> Result<(bool, StudyState), AppError> {
        caller.authorize(Action::CompleteStudy)?;
        let (archive, uid) = (self.archive.clone(), study_uid.to_string());
        let result = blocking(move || {
            let now = archive.complete(&uid, Completion::CompleteStudyCall)?;
            let state = archive.study(&uid)?.map_or(StudyState::Receiving, |s| s.state);
            Ok::<_, AppError>((now, state))
        })
        .await;
        if let Ok((true, _)) = result {
            self.score_soon();
        }
        self.audited(caller, Action::CompleteStudy, vec![Some(study_uid.to_string())], result).await
    }

    /// The studies parked after repeated scoring/routing failures, with their reasons.
    pub async fn needs_attention(&self, caller: &Caller) -> Result<Vec<Attention>, AppError> {
        caller.authorize(Action::ListNeedsAttention)?;
        let archive = self.archive.clone();
        let result = blocking(move || archive.needs_attention()).await.map_err(AppError::from);
        let studies = match &result {
            Ok(list) => list.iter().map(|a| Some(a.study_uid.clone())).collect(),
            Err(_) => vec![],
        };
        self.audited(caller, Action::ListNeedsAttention, studies, result).await
    }

    /// An admin's retry: forgets the study's failures and queues it if it waits for scoring
    /// (`true`). Takes the UID as listed, even one stored before ingest validated UIDs.
    pub async fn retry_study(&self, caller: &Caller, study_uid: &str) -> Result<bool, AppError> {
        caller.authorize(Action::RetryStudy)?;
        if study_uid.is_empty() || study_uid.len() > 1024 {
            return Err(AppError::InvalidArgument {
                field: "study_instance_uid".into(),
                message: format!("expected 1–1024 bytes, found {}", study_uid.len()),
            });
        }
        let result = self.requeue(study_uid).await.map_err(AppError::from);
        self.audited(caller, Action::RetryStudy, vec![Some(study_uid.to_owned())], result).await
    }

    /// Removes one stored instance (so a corrected copy can be re-sent), saying why.
    pub async fn remove_instance(
        &self,
        caller: &Caller,
        sop_instance_uid: &Uid,
        reason: &str,
    ) -> Result<granska_archive::Removed, AppError> {
        caller.authorize(Action::RemoveInstance)?;
        if reason.trim().is_empty() || reason.len() > 1024 {
            return Err(AppError::InvalidArgument {
                field: "reason".into(),
                message: "say why the instance is removed (1–1024 bytes)".into(),
            });
        }
        let (archive, sop) = (self.archive.clone(), sop_instance_uid.to_string());
        let result = blocking(move || archive.remove_instance(&sop, now_ms())).await.map_err(AppError::from);
        let study = result.as_ref().ok().map(|r| r.study_uid.clone());
        let outcome = match &result {
            Ok(_) => format!("ok: removed {sop_instance_uid} ({})", reason.trim()),
            Err(e) => format!("failed: {e}"),
        };
        self.audit(caller, Action::RemoveInstance, vec![study], outcome).await?;
        if let Ok(r) = &result {
            tracing::info!(study_uid = %r.study_uid, sop_instance_uid = %sop_instance_uid,
                "instance removed by an admin; the study waits for its re-sent copy");
        }
        result
    }
}
