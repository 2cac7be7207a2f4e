//! The audit log: who accessed which study, when, how, and with what outcome (patient data
//! law: every access to a study by a person is logged). Records are committed before the
//! answer that they describe is sent.

use rusqlite::params;

use crate::error::{Ctx, Result};
use crate::index::Archive;

/// One access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Sequence number (commit order).
    pub seq: i64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The authenticated principal.
    pub principal: String,
    /// Its role.
    pub role: String,
    /// The RPC or action, e.g. `Worklist.ClaimNext`.
    pub action: String,
    /// The study concerned, if any.
    pub study_uid: Option<String>,
    /// `ok`, or the error code and message.
    pub outcome: String,
}

/// Which records to return (all `None`: every record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this study.
    pub study_uid: Option<String>,
    /// Only this principal.
    pub principal: Option<String>,
    /// Only the last this many matching records (still oldest first); all when `None`.
    pub last: Option<u32>,
}

impl Archive {
    /// Appends audit records in one transaction (one per study an answer touches).
    pub(crate) fn audit(
        &self,
        at_ms: i64,
        principal: &str,
        role: &str,
        action: &str,
        studies: &[Option<&str>],
        outcome: &str,
    ) -> Result<()> {
        let mut conn = self.connection();
        let tx = conn.transaction().ctx("writing the audit log")?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO audit (at, principal, role, action, study_uid, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .ctx("writing the audit log")?;
            for study in studies {
                stmt.execute(params![at_ms, principal, role, action, study, outcome]).ctx("writing the audit log")?;
            }
        }
        tx.commit().ctx("writing the audit log")
    }

    /// Audit records matching `filter`, oldest first.
    pub(crate) fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let conn = self.connection();
        let mut stmt = conn
            .prepare(
                "SELECT * FROM (SELECT seq, at, principal, role, action, study_uid, outcome FROM audit
                 WHERE (?1 IS NULL OR study_uid = ?1) AND (?2 IS NULL OR principal = ?2)
                 ORDER BY seq DESC LIMIT ?3) ORDER BY seq",
            )
            .ctx("reading the audit log")?;
        stmt.query_map(params![filter.study_uid, filter.principal, filter.last.map_or(-1, i64::from)], |r| {
            Ok(AuditRecord {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                principal: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                study_uid: r.get(5)?,
                outcome: r.get(6)?,
            })
        })
        .and_then(|rows| rows.collect())
        .ctx("reading the audit log")
    }
}
