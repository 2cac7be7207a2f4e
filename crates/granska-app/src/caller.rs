//! Who is asking, through which edge, to do what, and whether their role may: the one
//! permission table (role × action). Every use case of [`crate::App`] checks it first, so an
//! edge cannot forget to, and a new edge gets the same rules.

use granska_types::Role;

/// The edge a call came through (for logs and the audit trail's context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Edge {
    /// The gRPC API (`granska-server`).
    Grpc,
    /// DICOM networking: C-STORE from a PACS, STOW-RS.
    Dicom,
    /// The web reading station.
    Web,
}

/// An authenticated caller: who, in which role, through which edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The principal's configured name (audited; never a patient's).
    pub principal: String,
    /// Its role.
    pub role: Role,
    /// Where the call came from.
    pub edge: Edge,
}

/// Every use case of the core, as the permission table and the audit trail name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
pub enum Action {
    /// Store one DICOM instance.
    Upload,
    /// Declare a study complete (score it now).
    CompleteStudy,
    /// Everything known about one study.
    GetStudy,
    /// The reader's worklist.
    List,
    /// Follow worklist changes.
    Watch,
    /// Claim the next task.
    ClaimNext,
    /// Give a held task back.
    Release,
    /// Submit a read of a held task.
    SubmitRead,
    /// The loaded model and the active policy.
    Models,
    /// Studies parked after repeated failures.
    ListNeedsAttention,
    /// Re-queue a parked study.
    RetryStudy,
    /// Remove one stored instance (so a corrected copy can be re-sent).
    RemoveInstance,
    /// Read the audit log (who accessed which study).
    ReadAudit,
    /// A study's result report (its CAD SR, which names the patient).
    GetReport,
    /// One stored view, for display in the reading station.
    ViewImage,
    /// The AI result of an exam after the caller's own read of it (a station that shows the
    /// AI only after the decision).
    AiResult,
    /// The admin's overview: queue counts, overdue tasks, model and policy, recent audit.
    Overview,
}

impl Action {
    /// `Service.Use-case`, as audit records name it (stable: audit logs are kept for years).
    pub fn name(self) -> &'static str {
        match self {
            Action::Upload => "Ingest.Upload",
            Action::CompleteStudy => "Ingest.CompleteStudy",
            Action::GetStudy => "Ingest.GetStudy",
            Action::List => "Worklist.List",
            Action::Watch => "Worklist.Watch",
            Action::ClaimNext => "Worklist.ClaimNext",
            Action::Release => "Worklist.Release",
            Action::SubmitRead => "Worklist.SubmitRead",
            Action::Models => "Models.Get",
            Action::ListNeedsAttention => "Ingest.ListNeedsAttention",
            Action::RetryStudy => "Ingest.RetryStudy",
            Action::RemoveInstance => "Ingest.RemoveInstance",
            Action::ReadAudit => "Audit.Read",
            Action::GetReport => "Ingest.GetReport",
            Action::ViewImage => "Station.ViewImage",
            Action::AiResult => "Station.AiResult",
            Action::Overview => "Station.Overview",
        }
    }

    /// The permission table: whether `role` may do this.
    pub fn allowed(self, role: Role) -> bool {
        use Role::*;
        match self {
            Action::Upload | Action::CompleteStudy => matches!(role, Pacs | Admin),
            Action::GetStudy | Action::Models => matches!(role, Researcher | Admin),
            Action::List
            | Action::Watch
            | Action::ClaimNext
            | Action::Release
            | Action::SubmitRead
            | Action::ViewImage
            | Action::AiResult => {
                matches!(role, Radiologist | Admin)
            }
            Action::ListNeedsAttention
            | Action::RetryStudy
            | Action::RemoveInstance
            | Action::ReadAudit
            | Action::GetReport
            | Action::Overview => {
                matches!(role, Admin)
            }
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Caller {
    /// `Ok` when this caller's role may do `action`.
    pub fn authorize(&self, action: Action) -> Result<(), crate::AppError> {
        if action.allowed(self.role) { Ok(()) } else { Err(crate::AppError::Forbidden { role: self.role, action }) }
    }
}
