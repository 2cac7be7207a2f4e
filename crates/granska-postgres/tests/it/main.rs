//! The plumbing against a real PostgreSQL: migrations (once, concurrently, refusing a newer
//! schema), the schema-scoped pools, and which failures are transient.

use std::time::Duration;

use granska_postgres::testing::TempPostgres;
use granska_postgres::{Error, Migration, PoolOptions, migrate, pool, schema_version};

const MIGRATIONS: &[Migration] = &[
    Migration { name: "0001_one", sql: "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);" },
    Migration { name: "0002_two", sql: "ALTER TABLE items ADD COLUMN size BIGINT;" },
];

fn options(url: String) -> PoolOptions {
    PoolOptions { url, max_size: 4, acquire_timeout: Duration::from_secs(2) }
}

#[test]
fn migrations_apply_once_in_their_schema_and_a_newer_schema_is_refused() {
    let server = TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database("plumbing").unwrap();
    let pool = pool(&options(url.clone()), "things").unwrap();
    // Four "replicas" migrating at once: one applies, the others find nothing to do.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || migrate(&mut pool.get().unwrap(), "things", MIGRATIONS).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2);
    }
    let mut client = pool.get().unwrap();
    // Unqualified names resolve in the pool's schema.
    client.execute("INSERT INTO items (name, size) VALUES ('a', 1)", &[]).unwrap();
    let n: i64 = client.query_one("SELECT COUNT(*) FROM things.items", &[]).unwrap().get(0);
    assert_eq!(n, 1);
    let applied: i64 = client.query_one("SELECT COUNT(*) FROM things.schema_version", &[]).unwrap().get(0);
    assert_eq!(applied, 2);
    assert_eq!(schema_version(&mut client, "things").unwrap(), 2);
    assert_eq!(schema_version(&mut client, "absent").unwrap(), 0);

    // An older build (knowing only the first migration) refuses the newer schema.
    let err = migrate(&mut client, "things", &MIGRATIONS[..1]).unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { found: 2, supported: 1, .. }), "{err}");
    assert_eq!(err.to_string(), "schema things is at version 2, newer than this granska supports (1)");
}

#[test]
fn a_failed_migration_leaves_the_previous_version_and_says_which() {
    let server = TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database("broken").unwrap();
    let pool = pool(&options(url), "things").unwrap();
    let broken = [MIGRATIONS[0], Migration { name: "0002_broken", sql: "ALTER TABLE nowhere ADD COLUMN x INT;" }];
    let err = migrate(&mut pool.get().unwrap(), "things", &broken).unwrap_err();
    assert!(err.to_string().starts_with("migration 0002_broken (version 2) of schema things failed"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(schema_version(&mut pool.get().unwrap(), "things").unwrap(), 1);
}

#[test]
fn a_stopped_server_is_transient_and_the_pool_recovers_when_it_is_back() {
    let server = TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database("restart").unwrap();
    let pool = pool(&PoolOptions { url, max_size: 2, acquire_timeout: Duration::from_millis(500) }, "things").unwrap();
    migrate(&mut pool.get().unwrap(), "things", MIGRATIONS).unwrap();
    server.stop().unwrap();
    let err = pool.get().and_then(|mut c| c.execute("SELECT 1", &[]).map_err(Error::from)).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{}/restart", server.port())), "{err}");
    server.start_again().unwrap();
    let n: i32 = pool.get().unwrap().query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn passwords_never_reach_messages() {
    assert_eq!(granska_postgres::redact("postgres://u:secret@db:5432/g"), "postgres://u:***@db:5432/g");
    assert_eq!(granska_postgres::redact("host=db password=secret user=u"), "host=db password=*** user=u");
    let err = pool(&options("postgres://u:secret@db:notaport/g".into()), "things").unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    assert!(!format!("{:?}", options("postgres://u:secret@db/g".into())).contains("secret"));
}

#[test]
fn notifications_reach_every_listener_and_a_reconnect_is_reported() {
    use granska_postgres::notify::{Heard, Notifier, listen};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, mpsc};
    let server = TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database("notify").unwrap();
    let opts = PoolOptions { url, max_size: 2, acquire_timeout: Duration::from_millis(500) };
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    listen(&opts, "changes", stop.clone(), move |h| tx.send((1, h)).unwrap()).unwrap();
    listen(&opts, "changes", stop.clone(), move |h| tx2.send((2, h)).unwrap()).unwrap();
    let wait = || rx.recv_timeout(Duration::from_secs(20)).expect("a notification in time");
    let mut connected = [wait(), wait()];
    connected.sort_by_key(|(n, _)| *n);
    assert_eq!(connected, [(1, Heard::Connected), (2, Heard::Connected)]);
    let notifier = Notifier::start(pool(&opts, "public").unwrap(), "changes", 16).unwrap();
    notifier.send("one".into());
    notifier.send("two".into());
    let mut got: Vec<_> = (0..4).map(|_| wait()).collect();
    got.sort_by_key(|(n, _)| *n);
    assert_eq!(
        got,
        [
            (1, Heard::Payload("one".into())),
            (1, Heard::Payload("two".into())),
            (2, Heard::Payload("one".into())),
            (2, Heard::Payload("two".into())),
        ]
    );
    // Too large for PostgreSQL: dropped and counted, never truncated.
    notifier.send("x".repeat(granska_postgres::notify::MAX_PAYLOAD + 1));
    assert_eq!(notifier.dropped(), 1);
    // A restart breaks the listening connections; each reconnects and says so.
    server.stop().unwrap();
    server.start_again().unwrap();
    let mut again = [wait(), wait()];
    again.sort_by_key(|(n, _)| *n);
    assert_eq!(again, [(1, Heard::Connected), (2, Heard::Connected)]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}
