//! Change notifications between replicas through PostgreSQL's `LISTEN`/`NOTIFY`: a replica
//! publishes each change it commits ([`Notifier`]), and every replica listens on one
//! dedicated connection ([`listen`]) and hands what arrives to its local watchers.
//!
//! Notifications are not durable: a listener that lost its connection cannot know what it
//! missed, so after every (re)connection it reports [`Heard::Connected`] and the caller tells
//! its watchers to list again (the Watch API's `resync`). A notifier that cannot keep up drops
//! rather than blocking the transition that produced the change, and counts the drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use crate::{Pool, PoolOptions, redact};

/// Largest payload PostgreSQL accepts in one notification (bytes, less than 8000).
pub const MAX_PAYLOAD: usize = 7999;

/// Sends payloads on one channel from a background thread, in order, through a pool.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    /// Starts the sending thread: up to `capacity` payloads wait for it.
    pub fn start(pool: Pool, channel: &str, capacity: usize) -> std::io::Result<Notifier> {
        let (tx, rx) = sync_channel::<String>(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let (channel, lost) = (channel.to_owned(), dropped.clone());
        std::thread::Builder::new().name("pg-notify".into()).spawn(move || send_loop(&pool, &channel, &rx, &lost))?;
        Ok(Notifier { tx, dropped })
    }

    /// Queues `payload` (truncated payloads are never sent: one over [`MAX_PAYLOAD`] is
    /// dropped and counted, as is one arriving while the queue is full).
    pub fn send(&self, payload: String) {
        if payload.len() > MAX_PAYLOAD {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.tx.try_send(payload) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Payloads dropped so far (queue full, too large, or the database unreachable).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn send_loop(pool: &Pool, channel: &str, rx: &Receiver<String>, dropped: &AtomicU64) {
    while let Ok(payload) = rx.recv() {
        let sent = pool
            .get()
            .and_then(|mut c| c.execute("SELECT pg_notify($1, $2)", &[&channel, &payload]).map_err(crate::Error::from));
        if let Err(e) = sent {
            dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "cannot notify the other replicas of a change; their watchers resync when the database is back");
        }
    }
}

/// What a listener hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The listening connection was (re)established: anything sent while it was down is lost.
    Connected,
    /// One notification's payload.
    Payload(String),
}

/// Listens on `channel` on a dedicated connection from a background thread, calling `heard`
/// for each notification, reconnecting (with [`Heard::Connected`] each time) until `stop`.
pub fn listen(
    options: &PoolOptions,
    channel: &str,
    stop: Arc<AtomicBool>,
    mut heard: impl FnMut(Heard) + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let url = options.url.clone();
    let channel = channel.to_owned();
    assert!(channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "channel names are identifiers");
    std::thread::Builder::new().name("pg-listen".into()).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        while !stop.load(Ordering::Relaxed) {
            match postgres::Client::connect(&url, postgres::NoTls) {
                Ok(mut client) => {
                    if let Err(e) = client.batch_execute(&format!("LISTEN {channel}")) {
                        tracing::warn!(error = %e, "cannot LISTEN for other replicas' changes");
                    } else {
                        backoff = Duration::from_millis(100);
                        heard(Heard::Connected);
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let next = client.notifications().timeout_iter(Duration::from_millis(500)).next();
                            match next {
                                Ok(Some(n)) => heard(Heard::Payload(n.payload().to_owned())),
                                // A quiet half second: check the connection is still there.
                                Ok(None) => {
                                    if client.is_closed() || client.simple_query("").is_err() {
                                        break;
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "the connection listening for other replicas' changes broke; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, url = %redact(&url), "cannot connect to listen for other replicas' changes; retrying");
                }
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}
