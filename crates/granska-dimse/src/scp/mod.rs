//! The C-STORE/C-ECHO SCP: the DICOM edge through which a PACS pushes mammograms. It admits a
//! connection by IP, negotiates with dicom-ul (called AE, calling AE per peer, the MG classes,
//! Verification and the accept-and-drop list), bounds associations with a semaphore, and hands
//! each received instance to the core, answering only after the core made it durable.

mod association;
mod peers;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason, AssociationRJSource,
};
use granska_app::App;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use peers::{IpNet, Peer};
pub use store::store_status;

use crate::error::{DimseError, check_ae_title};
use peers::Admission;

/// Verification SOP class (C-ECHO).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Digital Mammography X-Ray Image Storage – For Presentation.
pub const MG_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.2";
/// Digital Mammography X-Ray Image Storage – For Processing.
pub const MG_FOR_PROCESSING: &str = "1.2.840.10008.5.1.4.1.1.1.2.1";

/// The label of associations refused for want of a slot in `granska_refused_total`.
pub const REFUSED_LABEL: &str = "dicom_associations";

/// How the SCP is run.
#[derive(Debug, Clone)]
pub struct ScpOptions {
    /// The called AE title peers must use (1–16 characters).
    pub ae_title: String,
    /// Associations served at once; one more is refused (A-ASSOCIATE-RJ, transient).
    pub max_associations: usize,
    /// The largest PDU accepted (the peer fragments to it), bytes.
    pub max_pdu: u32,
    /// An association that sends nothing for this long (between or inside PDUs) is aborted
    /// and its slot freed.
    pub idle_timeout: Duration,
    /// SOP classes accepted and answered with success but not stored (see
    /// [`ScpOptions::default_accept_and_drop`]).
    pub accept_and_drop: Vec<String>,
    /// Senders allowed to store; empty: any calling AE, from loopback only.
    pub peers: Vec<Peer>,
    /// The largest data set accepted, bytes; a larger one is read, discarded and refused with
    /// 0xA700.
    pub max_instance_bytes: usize,
}

impl ScpOptions {
    /// Options with `ae_title` and defaults: 16 associations, 64 KiB PDUs, a 60 s idle timeout,
    /// the default accept-and-drop list, no peers (loopback only), 256 MiB instances.
    pub fn new(ae_title: impl Into<String>) -> ScpOptions {
        ScpOptions {
            ae_title: ae_title.into(),
            max_associations: 16,
            max_pdu: 65_536,
            idle_timeout: Duration::from_secs(60),
            accept_and_drop: Self::default_accept_and_drop(),
            peers: Vec::new(),
            max_instance_bytes: 256 << 20,
        }
    }

    /// What a PACS forwards with a mammography study that Granska does not use: Secondary
    /// Capture (single- and multi-frame), Grayscale Softcopy Presentation State, Key Object
    /// Selection and the structured reports (Basic, Enhanced, Comprehensive, Comprehensive 3D,
    /// Mammography CAD, X-Ray Radiation Dose).
    pub fn default_accept_and_drop() -> Vec<String> {
        [
            "1.2.840.10008.5.1.4.1.1.7",
            "1.2.840.10008.5.1.4.1.1.7.1",
            "1.2.840.10008.5.1.4.1.1.7.2",
            "1.2.840.10008.5.1.4.1.1.7.3",
            "1.2.840.10008.5.1.4.1.1.7.4",
            "1.2.840.10008.5.1.4.1.1.11.1",
            "1.2.840.10008.5.1.4.1.1.88.59",
            "1.2.840.10008.5.1.4.1.1.88.11",
            "1.2.840.10008.5.1.4.1.1.88.22",
            "1.2.840.10008.5.1.4.1.1.88.33",
            "1.2.840.10008.5.1.4.1.1.88.34",
            "1.2.840.10008.5.1.4.1.1.88.50",
            "1.2.840.10008.5.1.4.1.1.88.67",
        ]
        .map(String::from)
        .to_vec()
    }

    fn validate(&self) -> Result<(), DimseError> {
        let invalid = |option, message| Err(DimseError::InvalidOption { option, message });
        if let Err(m) = check_ae_title(&self.ae_title) {
            return invalid("ae_title", m);
        }
        if self.max_associations == 0 {
            return invalid("max_associations", "expected at least 1, found 0".into());
        }
        let (min, max) = (dicom_ul::pdu::MINIMUM_PDU_SIZE, dicom_ul::pdu::MAXIMUM_PDU_SIZE);
        if !(min..=max).contains(&self.max_pdu) {
            return invalid("max_pdu", format!("expected {min}–{max} bytes, found {}", self.max_pdu));
        }
        if self.idle_timeout.is_zero() {
            return invalid("idle_timeout", "expected more than 0 s, found 0".into());
        }
        for peer in &self.peers {
            if let Err(m) = check_ae_title(&peer.ae_title) {
                return invalid("peers.ae_title", m);
            }
            if peer.principal.trim().is_empty() {
                return invalid("peers.principal", format!("expected a principal for peer {}", peer.ae_title));
            }
        }
        Ok(())
    }

    /// Every abstract syntax accepted at negotiation.
    fn abstract_syntaxes(&self) -> Vec<String> {
        let mut all = vec![VERIFICATION.to_owned(), MG_FOR_PRESENTATION.to_owned(), MG_FOR_PROCESSING.to_owned()];
        all.extend(self.accept_and_drop.iter().cloned());
        all
    }
}

/// What every association task shares.
struct Shared {
    app: Arc<App>,
    options: ScpOptions,
    admission: Admission,
    abstract_syntaxes: Vec<String>,
}

/// Serves DICOM associations on `listener` until `shutdown` resolves, then stops accepting,
/// aborts associations between messages (an instance being stored is finished and answered
/// first) and returns once every one has ended. A failure inside an association ends that
/// association only.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    options: ScpOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DimseError> {
    options.validate()?;
    let slots = Arc::new(Semaphore::new(options.max_associations));
    // Refusals are answered by short tasks of their own, at most this many at once; beyond
    // that a connection is closed without an answer.
    let refusals = Arc::new(Semaphore::new(16));
    let shared = Arc::new(Shared {
        app,
        admission: Admission::new(options.peers.clone()),
        abstract_syntaxes: options.abstract_syntaxes(),
        options,
    });
    let local = listener.local_addr().map_err(DimseError::Listener)?;
    tracing::debug!(address = %local, ae_title = %shared.options.ae_title, "DICOM SCP listening");
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "a DICOM association task failed");
                }
            }
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "DICOM accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let ip = peer.ip().to_canonical();
                let metrics = shared.app.metrics();
                if !shared.admission.ip_allowed(ip) {
                    metrics.associations.with_label_values(&["rejected"]).inc();
                    tracing::info!(peer = %ip, outcome = "rejected", reason = "address not allowed",
                        "DICOM association ended");
                    continue;
                }
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (shared, stopping) = (shared.clone(), stopping.clone());
                        tasks.spawn(async move {
                            association::run(&shared, socket, ip, stopping).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        metrics.associations.with_label_values(&["refused"]).inc();
                        metrics.refused.with_label_values(&[REFUSED_LABEL]).inc();
                        tracing::info!(peer = %ip, outcome = "refused", max_associations = shared.options.max_associations,
                            "DICOM association ended");
                        if let Ok(permit) = refusals.clone().try_acquire_owned() {
                            let max_pdu = shared.options.max_pdu;
                            tokio::spawn(async move {
                                refuse(socket, max_pdu).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
        }
    }
    let _ = stop.send(true);
    drop(listener);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "a DICOM association task failed");
        }
    }
    Ok(())
}

/// Answers an association request with A-ASSOCIATE-RJ (transient, local limit exceeded): the
/// sender retries later. Reads the request first (bounded in time), as the protocol expects.
async fn refuse(mut socket: TcpStream, max_pdu: u32) {
    use tokio::io::AsyncWriteExt;
    let mut buffer = bytes_buffer();
    let request = tokio::time::timeout(
        Duration::from_secs(5),
        dicom_ul::association::read_pdu_from_wire_async(&mut socket, &mut buffer, max_pdu, true),
    )
    .await;
    if !matches!(request, Ok(Ok(dicom_ul::Pdu::AssociationRQ(_)))) {
        return;
    }
    let rj = dicom_ul::Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut out = Vec::new();
    if dicom_ul::write_pdu(&mut out, &rj).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.write_all(&out)).await;
        let _ = socket.shutdown().await;
    }
}

fn bytes_buffer() -> bytes::BytesMut {
    bytes::BytesMut::with_capacity(4096)
}
