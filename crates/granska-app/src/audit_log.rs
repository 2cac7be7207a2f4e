//! Reading the audit log: who accessed which study, when and with what outcome. The admin's use
//! case (the web station and any edge serve it from here); reading it is itself audited.
//! `granska audit` on the server's machine reads the data directory directly (file access is
//! already the operator's).

use granska_archive::{AuditFilter, AuditRecord};

use crate::{Action, App, AppError, Caller, blocking};

impl App {
    /// The audit records matching `filter`, oldest first.
    pub async fn read_audit(&self, caller: &Caller, filter: AuditFilter) -> Result<Vec<AuditRecord>, AppError> {
        caller.authorize(Action::ReadAudit)?;
        let study = filter.study_uid.clone();
        let archive = self.archive.clone();
        let result = blocking(move || archive.audit_records(&filter)).await.map_err(AppError::from);
        self.audited(caller, Action::ReadAudit, vec![study], result).await
    }
}
