//! Viewing a stored image in the reading station: one view's stored pixel values and the
//! header values a display needs (rows, columns, photometric, rescale, VOI windows), decoded
//! by the same code as scoring. Only a reader who holds or has held a task on the exam, or the
//! admin, may look; every look, allowed or refused, is audited like any study access.

use granska_dicom::{DicomFile, MammoMeta, Samples};
use granska_types::{Role, Uid};

use crate::{Action, App, AppError, Caller, blocking};

/// One view for display.
#[derive(Debug, Clone)]
pub enum ViewImage {
    /// The instance's bytes are those the caller already has (`if_none_match` matched).
    NotModified {
        /// The instance's sha256 (its ETag).
        sha256: String,
    },
    /// The decoded view.
    Image {
        /// The instance's sha256: the image never changes under a SOP Instance UID, so this is
        /// its cache validator.
        sha256: String,
        /// What a display needs to interpret the values (no patient identity).
        meta: Box<MammoMeta>,
        /// Stored values, row-major, no rescale, VOI or inversion (the display applies them).
        samples: Samples,
    },
}

impl App {
    /// One stored view of `study_uid` for the reading station. A radiologist must hold or have
    /// held a task on the exam (`NotYourExam` otherwise); the admin may look at any. Skips the
    /// decode when `if_none_match` is the instance's sha256.
    pub async fn view_image(
        &self,
        caller: &Caller,
        study_uid: &Uid,
        sop_instance_uid: &Uid,
        if_none_match: Option<&str>,
    ) -> Result<ViewImage, AppError> {
        caller.authorize(Action::ViewImage)?;
        let (archive, worklist) = (self.archive.clone(), self.worklist.clone());
        let (study, sop, who, role) =
            (study_uid.to_string(), sop_instance_uid.clone(), caller.principal.clone(), caller.role);
        let known = if_none_match.map(str::to_owned);
        let profile = self.options.profile;
        let result = blocking(move || {
            if role != Role::Admin {
                let history = match worklist.history(&study) {
                    Ok(h) => Some(h),
                    Err(granska_worklist::Error::UnknownStudy { .. }) => None,
                    Err(e) => return Err(AppError::from(e)),
                };
                let has_held = history.is_some_and(|h| {
                    h.tasks.iter().any(|t| t.claimed_by.as_deref() == Some(who.as_str()))
                        || h.reads.iter().any(|r| r.reader == who)
                        || h.events.iter().any(|e| e.kind == "claimed" && e.actor.as_deref() == Some(who.as_str()))
                });
                if !has_held {
                    return Err(AppError::NotYourExam { study_uid: study });
                }
            }
            let record = archive.study(&study)?.ok_or_else(|| AppError::UnknownStudy { study_uid: study.clone() })?;
            let instance = record
                .instances
                .iter()
                .find(|i| i.instance.sop_instance_uid == sop)
                .ok_or_else(|| AppError::UnknownInstance { sop_instance_uid: sop.to_string() })?;
            if known.as_deref() == Some(instance.sha256.as_str()) {
                return Ok(ViewImage::NotModified { sha256: instance.sha256.clone() });
            }
            let bytes = archive.read_blob(&instance.sha256)?;
            let file = DicomFile::from_vec(bytes, sop.as_str()).map_err(|e| crate::invalid_instance(e.kind))?;
            let meta = file.mammogram(profile).map_err(|e| crate::invalid_instance(e.kind))?;
            let pixels = file.pixels().map_err(|e| crate::invalid_instance(e.kind))?;
            Ok(ViewImage::Image { sha256: instance.sha256.clone(), meta: Box::new(meta), samples: pixels.samples })
        })
        .await;
        self.audited(caller, Action::ViewImage, vec![Some(study_uid.to_string())], result).await
    }
}
