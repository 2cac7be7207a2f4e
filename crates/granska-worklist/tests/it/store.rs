//! What only the SQLite store has: durability settings, migrations and reopening a file. The
//! behaviour every store shares is checked by the conformance suite (`conformance.rs`).

use granska_triage::Policy;
use granska_worklist::model::Reader;
use granska_worklist::{Error, ManualClock, SCHEMA_VERSION, SqliteStore, WorklistStore};

use crate::support::{LEASE_S, T0, options, route_input, scored};

fn uid(i: usize) -> String {
    format!("1.2.826.0.1.3680043.8.498.{}", 1000 + i)
}

#[test]
fn the_file_is_durable_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let clock = ManualClock::new(T0);
    let policy = Policy::builtin("masai").unwrap();
    {
        let store = SqliteStore::open(&path, options(&clock, &policy)).unwrap();
        assert_eq!(store.durability().unwrap(), ("wal".to_owned(), 2), "WAL with synchronous = FULL (2)");
        store.route(&route_input(&policy, &uid(1), &scored(4, false), T0)).unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // Reopening keeps everything and migrates nothing twice.
    let store = SqliteStore::open(&path, options(&clock, &policy)).unwrap();
    assert_eq!(store.history(&uid(1)).unwrap().tasks.len(), 1);
    drop(store);
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    let err = SqliteStore::open(&path, options(&clock, &policy)).unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "worklist database schema version {} is newer than this granska supports ({SCHEMA_VERSION})",
            SCHEMA_VERSION + 1
        )
    );
}

#[test]
fn opening_returns_expired_leases_to_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let clock = ManualClock::new(T0);
    let policy = Policy::builtin("masai").unwrap();
    let task = {
        let store = SqliteStore::open(&path, options(&clock, &policy)).unwrap();
        store.route(&route_input(&policy, &uid(1), &scored(4, false), T0)).unwrap();
        store.claim_next(&Reader::new("alice")).unwrap().unwrap().task.id
    };
    clock.advance(LEASE_S as i64 * 1000 + 1);
    let store = SqliteStore::open(&path, options(&clock, &policy)).unwrap();
    let h = store.history(&uid(1)).unwrap();
    assert_eq!(h.tasks[0].state, granska_worklist::model::TaskState::Queued);
    assert_eq!(h.events.last().unwrap().kind, "lease-expired");
    assert_eq!(h.events.last().unwrap().task_id, Some(task));
}
