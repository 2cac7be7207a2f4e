//! How every operation of [`super::PgArchive`] talks to PostgreSQL: one transaction per
//! operation, re-run a few times after a deadlock or a serialisation failure (another replica
//! won a race; nothing was changed) before the caller hears `Busy`, and stored values decoded
//! without panicking (an unexpected value is [`Error::Corrupt`]).

use std::time::Duration;

use postgres::types::FromSql;
use postgres::{IsolationLevel, Row, Transaction};

use granska_types::Uid;

use crate::error::{BackendError, Error, Result, pg, pg_plumbing};

use super::PgArchive;

/// Attempts of one operation, the first included, before a deadlock or serialisation failure
/// is reported as `Busy`.
const ATTEMPTS: u32 = 5;

/// How long a write waits for another transaction's row or blob lock before the operation
/// fails as `Busy` (SQLSTATE 55P03, transient): 30 s, as the SQLite index's busy handler waits.
/// PostgreSQL's default is to wait for ever, which would let one stuck replica stall the others.
const LOCK_WAIT: &str = "SET LOCAL lock_timeout = '30s'";

/// Why one attempt of a transaction's body stopped.
#[derive(Debug)]
pub(super) enum Fail {
    /// A statement failed; the transaction is rolled back and, when the failure was a deadlock
    /// or a serialisation failure, run again.
    Pg(postgres::Error),
    /// The operation's answer is an archive error (unknown study, conflict…): rolled back and
    /// returned as it is.
    Archive(Error),
    /// A concurrent change removed what an earlier statement of this transaction found (e.g.
    /// a row another replica deleted between two statements): rolled back and run again.
    Raced,
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Archive(e)
    }
}

/// How a transaction ends when its body succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Keep what it wrote.
    Commit,
    /// Nothing it wrote holds (e.g. a put that turned out to be a duplicate).
    Rollback,
}

/// Kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// READ COMMITTED: writers lock the rows they decide on (`SELECT … FOR UPDATE`) and let
    /// unique constraints arbitrate inserts, so every statement sees what committed before it.
    Write,
    /// REPEATABLE READ, READ ONLY: several statements see one snapshot (a study with its
    /// instances and scorings as of one moment). Read-only snapshots never fail to serialise.
    Read,
}

/// The retries ran out while other transactions kept winning.
#[derive(Debug, thiserror::Error)]
#[error("concurrent changes interfered with {attempts} attempts in a row")]
struct Contended {
    attempts: u32,
}

impl PgArchive {
    /// Runs `body` in one READ COMMITTED transaction and commits it.
    pub(super) fn write<T>(
        &self,
        operation: &'static str,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T> {
        self.run(operation, Access::Write, |tx| Ok((body(tx)?, End::Commit)))
    }

    /// Runs `body` in one READ COMMITTED transaction that it decides to commit or roll back.
    pub(super) fn write_or_undo<T>(
        &self,
        operation: &'static str,
        body: impl FnMut(&mut Transaction<'_>) -> Result<(T, End), Fail>,
    ) -> Result<T> {
        self.run(operation, Access::Write, body)
    }

    /// Runs `body` in one read-only snapshot.
    pub(super) fn read<T>(
        &self,
        operation: &'static str,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T> {
        self.run(operation, Access::Read, |tx| Ok((body(tx)?, End::Commit)))
    }

    fn run<T>(
        &self,
        operation: &'static str,
        access: Access,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<(T, End), Fail>,
    ) -> Result<T> {
        let mut client = self.pool.get().map_err(pg_plumbing(operation))?;
        let mut attempt = 1;
        loop {
            let outcome = (|| {
                let mut tx = match access {
                    Access::Write => {
                        let mut tx =
                            client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start()?;
                        tx.batch_execute(LOCK_WAIT)?;
                        tx
                    }
                    Access::Read => client
                        .build_transaction()
                        .isolation_level(IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()?,
                };
                let (value, end) = body(&mut tx)?;
                match end {
                    End::Commit => tx.commit()?,
                    End::Rollback => tx.rollback()?,
                }
                Ok::<_, Fail>(value)
            })();
            let again = match outcome {
                Ok(value) => return Ok(value),
                Err(Fail::Archive(e)) => return Err(e),
                Err(Fail::Pg(e)) if attempt < ATTEMPTS && lost_a_race(&e) => e.to_string(),
                Err(Fail::Pg(e)) => return Err(pg(operation, e)),
                Err(Fail::Raced) if attempt < ATTEMPTS => "a row changed between two statements".to_owned(),
                Err(Fail::Raced) => {
                    return Err(Error::Busy { operation, source: BackendError::new(Contended { attempts: attempt }) });
                }
            };
            tracing::debug!(operation, attempt, reason = %again, "archive transaction lost a race, running it again");
            std::thread::sleep(backoff(attempt));
            attempt += 1;
        }
    }
}

/// A deadlock or a serialisation failure: PostgreSQL rolled this transaction back so that
/// another could go on; running it again will see that one's result.
fn lost_a_race(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// 2, 4, 8, 16 ms, plus up to as much again (from the clock's nanoseconds) so that replicas
/// which collided do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(10);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    Duration::from_millis(base) + Duration::from_micros(u64::from(nanos) % (base * 1000))
}

/// Column `i` of `row`; a column of an unexpected type is a backend error, not a panic.
pub(super) fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, Fail> {
    row.try_get(i).map_err(Fail::Pg)
}

/// A UID column read back; a value that is not a UID is a corrupt row, not a guess.
pub(super) fn uid(row: &Row, i: usize) -> Result<Uid, Fail> {
    let text: String = col(row, i)?;
    match Uid::parse(&text) {
        Ok(uid) => Ok(uid),
        Err(_) => Err(Error::Corrupt { what: "UID", found: text }.into()),
    }
}

/// A vocabulary code column (state, laterality, view…) read back through its `parse`.
pub(super) fn code<T>(row: &Row, i: usize, what: &'static str, parse: fn(&str) -> Option<T>) -> Result<T, Fail> {
    let text: String = col(row, i)?;
    match parse(&text) {
        Some(value) => Ok(value),
        None => Err(Error::Corrupt { what, found: text }.into()),
    }
}

/// A count or size column: never negative in a sound index.
pub(super) fn count(row: &Row, i: usize) -> Result<u64, Fail> {
    Ok(col::<i64>(row, i)?.max(0) as u64)
}

/// Key space of the blob locks (`pg_advisory_xact_lock(int, int)`: "arch"), apart from the
/// single-`bigint` keys the migrations use.
const BLOB_LOCKS: i32 = 0x6172_6368;

/// How a transaction holds a blob's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlobLock {
    /// Writing the blob and a row that names it: any number at once.
    Shared,
    /// Deciding that no row names it any more and deleting the file.
    Exclusive,
}

/// Takes the transaction-scoped lock of the blob `sha256` (keyed by its first 32 bits: two
/// blobs sharing a key only wait for each other). Every writer takes it before the study's row,
/// so a removal never deletes a file that a concurrent put on another replica found present
/// and is about to name.
pub(super) fn lock_blob(tx: &mut Transaction<'_>, sha256: &str, how: BlobLock) -> Result<(), Fail> {
    let key = sha256.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0) as i32;
    let sql = match how {
        BlobLock::Shared => "SELECT pg_advisory_xact_lock_shared($1, $2)",
        BlobLock::Exclusive => "SELECT pg_advisory_xact_lock($1, $2)",
    };
    tx.execute(sql, &[&BLOB_LOCKS, &key])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use granska_postgres::PoolOptions;
    use granska_postgres::testing::TempPostgres;

    use super::*;

    fn archive() -> (PgArchive, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let pg = PoolOptions {
            url: TempPostgres::shared().fresh_database(),
            max_size: 2,
            acquire_timeout: Duration::from_secs(10),
        };
        (PgArchive::open(&pg, dir.path()).unwrap(), dir)
    }

    /// Fails the statement as PostgreSQL does when it broke a deadlock.
    const DEADLOCK: &str = "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '40P01'; END $$";

    #[test]
    fn a_lost_race_is_run_again_and_its_writes_are_undone() {
        let (archive, _dir) = archive();
        let mut attempts = 0;
        let done = archive
            .write("testing", |tx| {
                attempts += 1;
                tx.execute(
                    "INSERT INTO audit (at, principal, role, action, outcome) VALUES (1, 'p', 'r', 'a', 'o')",
                    &[],
                )?;
                if attempts < 3 {
                    tx.batch_execute(DEADLOCK)?;
                }
                Ok(attempts)
            })
            .unwrap();
        assert_eq!(done, 3);
        let rows = archive.read("testing", |tx| count(&tx.query_one("SELECT COUNT(*) FROM audit", &[])?, 0)).unwrap();
        assert_eq!(rows, 1, "the attempts that lost left nothing");
    }

    #[test]
    fn a_race_lost_every_time_is_busy_and_other_failures_are_not_retried() {
        let (archive, _dir) = archive();
        let mut attempts = 0;
        let err = archive
            .write("testing", |tx| {
                attempts += 1;
                tx.batch_execute(DEADLOCK)?;
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::Busy { operation: "testing", .. }), "{err}");
        assert_eq!(attempts, ATTEMPTS);
        let mut attempts = 0;
        let err = archive
            .write("testing", |tx| {
                attempts += 1;
                tx.batch_execute("SELECT * FROM no_such_table")?;
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        assert_eq!(attempts, 1);
        let mut attempts = 0;
        let err = archive
            .write("testing", |_| {
                attempts += 1;
                Err::<(), _>(Fail::Raced)
            })
            .unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert_eq!(attempts, ATTEMPTS);
    }
}
