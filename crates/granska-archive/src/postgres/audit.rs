//! The audit log on PostgreSQL. `seq` is an identity column: numbers are taken as rows are
//! inserted, so two transactions committing at the same moment may show their records with
//! interleaved numbers (a later number can become visible a moment before an earlier one);
//! each transaction's own records are consecutive and in order.

use postgres::Row;

use crate::audit::{AuditFilter, AuditRecord};
use crate::error::Result;

use super::PgArchive;
use super::txn::{Fail, col};

fn row(r: &Row) -> Result<AuditRecord, Fail> {
    Ok(AuditRecord {
        seq: col(r, 0)?,
        at_ms: col(r, 1)?,
        principal: col(r, 2)?,
        role: col(r, 3)?,
        action: col(r, 4)?,
        study_uid: col(r, 5)?,
        outcome: col(r, 6)?,
    })
}

impl PgArchive {
    pub(super) fn audit(
        &self,
        at_ms: i64,
        principal: &str,
        role: &str,
        action: &str,
        studies: &[Option<&str>],
        outcome: &str,
    ) -> Result<()> {
        self.write("writing the audit log", |tx| {
            let insert = tx.prepare(
                "INSERT INTO audit (at, principal, role, action, study_uid, outcome) VALUES ($1, $2, $3, $4, $5, $6)",
            )?;
            for study in studies {
                tx.execute(&insert, &[&at_ms, &principal, &role, &action, study, &outcome])?;
            }
            Ok(())
        })
    }

    pub(super) fn audit_records(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        // LIMIT NULL is no limit.
        let last = filter.last.map(i64::from);
        self.read("reading the audit log", |tx| {
            tx.query(
                "SELECT * FROM (SELECT seq, at, principal, role, action, study_uid, outcome FROM audit
                 WHERE ($1::TEXT IS NULL OR study_uid = $1) AND ($2::TEXT IS NULL OR principal = $2)
                 ORDER BY seq DESC LIMIT $3) last ORDER BY seq",
                &[&filter.study_uid, &filter.principal, &last],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }
}
