//! One association, from negotiation to its end: the calling AE checked against the peer the
//! connection's IP belongs to, then a loop of P-DATA → whole messages → C-ECHO / C-STORE /
//! "unrecognised operation" answers, until release, abort, the idle timeout or shutdown. One
//! log line and one metric per association at its end.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dicom_ul::association::Association;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{AssociationRJServiceUserReason, PresentationContextResultReason, UserIdentity};
use dicom_ul::{Pdu, ServerAssociationOptions};
use granska_app::{Caller, Edge};
use granska_types::{Role, Uid};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Shared;
use super::peers::Admission;
use super::store::{data_set_sop_class, part10, store_status};
use crate::protocol::{Assembled, Command, ProtocolError, Reassembler, StoreRsp, fragment, status};

type Assoc = dicom_ul::association::AsyncServerAssociation<TcpStream>;

/// dicom-rs's access control with the connection's IP: the called AE must be ours, the calling
/// AE a peer of the network the IP is in. Records the AE titles seen, for the log line.
struct Access {
    admission: Admission,
    ip: IpAddr,
    seen: Arc<Mutex<(String, String)>>,
}

impl AccessControl for Access {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = (calling_ae_title.trim().to_owned(), called_ae_title.trim().to_owned());
        }
        if called_ae_title.trim() != this_ae_title.trim() {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        match self.admission.principal(self.ip, calling_ae_title) {
            Some(_) => Ok(()),
            None => Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized),
        }
    }
}

/// How an association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Released,
    Aborted,
    Idle,
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::Aborted => "aborted",
            Outcome::Idle => "idle",
            Outcome::Rejected => "rejected",
        }
    }
}

/// A data set as received.
enum DataSet {
    Bytes(Vec<u8>),
    TooLarge(u64),
}

/// The association's counters and identity.
struct Session<'a> {
    shared: &'a Shared,
    caller: Caller,
    calling_ae: String,
    stored: u32,
    duplicates: u32,
    dropped: u32,
    refused: u32,
    studies: Vec<Uid>,
    /// Studies with an instance refused for resources (0xA700): the sender retries it, so the
    /// release does not complete them.
    retried_later: Vec<Uid>,
}

/// Runs one association on an admitted connection to its end.
pub(super) async fn run(shared: &Shared, socket: TcpStream, ip: IpAddr, stopping: watch::Receiver<bool>) {
    let started = Instant::now();
    let seen = Arc::new(Mutex::new((String::new(), String::new())));
    let access = Access { admission: shared.admission.clone(), ip, seen: seen.clone() };
    let options = &shared.options;
    let mut negotiation = ServerAssociationOptions::new()
        .ae_access_control(access)
        .ae_title(options.ae_title.as_str())
        .max_pdu_length(options.max_pdu)
        .strict(true)
        .read_timeout(options.idle_timeout)
        .write_timeout(options.idle_timeout);
    for uid in &shared.abstract_syntaxes {
        negotiation = negotiation.with_abstract_syntax(uid.as_str());
    }
    let established = negotiation.establish_async(socket).await;
    let (calling_ae, called_ae) = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut assoc = match established {
        Ok(a) => a,
        Err(e) => {
            let outcome = if is_timeout(&e) { Outcome::Idle } else { Outcome::Rejected };
            shared.app.metrics().associations.with_label_values(&[outcome.as_str()]).inc();
            tracing::info!(peer = %ip, calling_ae = %calling_ae, called_ae = %called_ae, outcome = outcome.as_str(),
                reason = %e, duration_ms = started.elapsed().as_millis() as u64, "DICOM association ended");
            return;
        }
    };
    let calling_ae = assoc.peer_ae_title().trim().to_owned();
    // Access control let it through, so the admission has a principal for it.
    let principal = shared.admission.principal(ip, &calling_ae).unwrap_or_else(|| format!("dicom-{calling_ae}"));
    let mut session = Session {
        shared,
        caller: Caller { principal, role: Role::Pacs, edge: Edge::Dicom },
        calling_ae: calling_ae.clone(),
        stored: 0,
        duplicates: 0,
        dropped: 0,
        refused: 0,
        studies: Vec::new(),
        retried_later: Vec::new(),
    };
    let (outcome, abort, reason) = session.serve(&mut assoc, stopping).await;
    if abort {
        let _ = assoc.abort().await;
    } else {
        drop(assoc);
    }
    session.studies.retain(|s| !session.retried_later.contains(s));
    if outcome == Outcome::Released && !session.studies.is_empty() {
        // A completion hint: the sender says it sent what it had.
        if let Err(e) = shared.app.association_released(&session.caller, &session.studies).await {
            tracing::warn!(peer = %ip, calling_ae = %calling_ae, error = %e, "completing the released association's studies failed");
        }
    }
    shared.app.metrics().associations.with_label_values(&[outcome.as_str()]).inc();
    tracing::info!(peer = %ip, calling_ae = %calling_ae, called_ae = %called_ae, stored = session.stored,
        duplicates = session.duplicates, dropped = session.dropped, refused = session.refused,
        outcome = outcome.as_str(), reason = reason.as_deref().unwrap_or(""),
        duration_ms = started.elapsed().as_millis() as u64, "DICOM association ended");
}

fn is_timeout(e: &dicom_ul::association::Error) -> bool {
    matches!(e, dicom_ul::association::Error::Timeout { .. })
}

impl Session<'_> {
    /// The message loop: `(outcome, whether to send A-ABORT, why it ended unusually)`.
    async fn serve(
        &mut self,
        assoc: &mut Assoc,
        mut stopping: watch::Receiver<bool>,
    ) -> (Outcome, bool, Option<String>) {
        let mut reassembler = Reassembler::new(self.shared.options.max_instance_bytes);
        let mut pending: Option<(Command, u8)> = None;
        loop {
            let stop = async {
                if stopping.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let received = tokio::select! {
                () = stop => return (Outcome::Aborted, true, Some("shutting down".into())),
                r = assoc.receive() => r,
            };
            let values = match received {
                Ok(Pdu::PData { data }) => data,
                Ok(Pdu::ReleaseRQ) => {
                    if reassembler.in_progress() || pending.is_some() {
                        return (Outcome::Aborted, true, Some("release inside a message".into()));
                    }
                    let answered = assoc.send(&Pdu::ReleaseRP).await;
                    return match answered {
                        Ok(()) => (Outcome::Released, false, None),
                        Err(e) => (Outcome::Aborted, false, Some(format!("answering the release: {e}"))),
                    };
                }
                Ok(Pdu::AbortRQ { .. }) => return (Outcome::Aborted, false, Some("aborted by the peer".into())),
                Ok(other) => return (Outcome::Aborted, true, Some(format!("unexpected PDU {}", pdu_name(&other)))),
                Err(e) if is_timeout(&e) => return (Outcome::Idle, true, Some("idle timeout".into())),
                Err(e) => return (Outcome::Aborted, false, Some(e.to_string())),
            };
            for value in values {
                let result = match reassembler.push(value) {
                    Ok(None) => Ok(()),
                    Ok(Some(Assembled::Command { context_id, bytes })) => {
                        match (pending.take(), Command::parse(&bytes)) {
                            (Some((open, _)), _) => {
                                Err(format!("a command arrived while the data set of {open:?} was expected"))
                            }
                            (None, Err(e)) => Err(e.to_string()),
                            (None, Ok(command)) if command.has_data_set() => {
                                pending = Some((command, context_id));
                                Ok(())
                            }
                            (None, Ok(command)) => self.answer(assoc, context_id, command, None).await,
                        }
                    }
                    Ok(Some(Assembled::Data { context_id, bytes })) => {
                        self.data(assoc, &mut pending, context_id, DataSet::Bytes(bytes)).await
                    }
                    Ok(Some(Assembled::DataTooLarge { context_id, size })) => {
                        self.data(assoc, &mut pending, context_id, DataSet::TooLarge(size)).await
                    }
                    Err(e) => Err(e.to_string()),
                };
                if let Err(reason) = result {
                    return (Outcome::Aborted, true, Some(reason));
                }
            }
        }
    }

    async fn data(
        &mut self,
        assoc: &mut Assoc,
        pending: &mut Option<(Command, u8)>,
        context_id: u8,
        data: DataSet,
    ) -> Result<(), String> {
        match pending.take() {
            Some((command, id)) if id == context_id => self.answer(assoc, context_id, command, Some(data)).await,
            Some((_, id)) => Err(format!("a data set on presentation context {context_id} followed a command on {id}")),
            None => Err("a data set arrived without a command".into()),
        }
    }

    /// Answers one whole message.
    async fn answer(
        &mut self,
        assoc: &mut Assoc,
        context_id: u8,
        command: Command,
        data: Option<DataSet>,
    ) -> Result<(), String> {
        let response = match command {
            Command::EchoRq { message_id, sop_class_uid } => {
                Command::EchoRsp { message_id_responded: message_id, sop_class_uid, status: status::SUCCESS }.encode()
            }
            Command::StoreRq { message_id, sop_class_uid, sop_instance_uid, .. } => {
                let Some(DataSet::Bytes(bytes)) = data else {
                    let size = match data {
                        Some(DataSet::TooLarge(size)) => size,
                        _ => 0,
                    };
                    let rsp = self.too_large(message_id, sop_class_uid, sop_instance_uid, size).await;
                    return send(assoc, context_id, &Command::StoreRsp(rsp)).await;
                };
                let rsp = self.store(assoc, context_id, message_id, sop_class_uid, sop_instance_uid, bytes).await;
                Command::StoreRsp(rsp).encode()
            }
            other @ Command::Other { .. } => match other.unrecognized_response() {
                Some(bytes) => Ok(bytes),
                None => return Ok(()),
            },
            // Responses to requests this SCP never sent: nothing to answer.
            Command::EchoRsp { .. } | Command::StoreRsp(_) => return Ok(()),
        };
        let bytes = response.map_err(|e| e.to_string())?;
        send_bytes(assoc, context_id, &bytes).await
    }

    async fn too_large(&mut self, message_id: u16, class: String, instance: String, size: u64) -> StoreRsp {
        self.refused += 1;
        if let Err(e) = self.shared.app.refused_upload(&self.caller, "too-large").await {
            tracing::warn!(error = %e, "recording a refused instance failed");
        }
        tracing::info!(calling_ae = %self.calling_ae, message_id, size, limit = self.shared.options.max_instance_bytes,
            "C-STORE refused: data set over the size limit");
        StoreRsp {
            message_id_responded: message_id,
            sop_class_uid: class,
            sop_instance_uid: instance,
            status: status::OUT_OF_RESOURCES,
            error_comment: Some("instance larger than the configured limit".into()),
        }
    }

    async fn store(
        &mut self,
        assoc: &Assoc,
        context_id: u8,
        message_id: u16,
        sop_class_uid: String,
        sop_instance_uid: String,
        bytes: Vec<u8>,
    ) -> StoreRsp {
        let (status, comment) =
            self.store_status(assoc, context_id, message_id, &sop_class_uid, &sop_instance_uid, bytes).await;
        StoreRsp { message_id_responded: message_id, sop_class_uid, sop_instance_uid, status, error_comment: comment }
    }

    async fn store_status(
        &mut self,
        assoc: &Assoc,
        context_id: u8,
        message_id: u16,
        class: &str,
        instance: &str,
        bytes: Vec<u8>,
    ) -> (u16, Option<String>) {
        let app = &self.shared.app;
        let context = assoc
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == context_id && pc.reason == PresentationContextResultReason::Acceptance);
        let Some(context) = context else {
            self.refused += 1;
            return (status::SOP_CLASS_NOT_SUPPORTED, Some(format!("presentation context {context_id} not accepted")));
        };
        if context.abstract_syntax != class {
            self.refused += 1;
            return (status::SOP_CLASS_NOT_SUPPORTED, Some("AffectedSOPClassUID differs from the context".into()));
        }
        if self.shared.options.accept_and_drop.iter().any(|c| c == class) {
            return match app.drop_instance(&self.caller, class).await {
                Ok(()) => {
                    self.dropped += 1;
                    (status::SUCCESS, None)
                }
                Err(e) => {
                    self.refused += 1;
                    store_status(&e)
                }
            };
        }
        let transfer_syntax = context.transfer_syntax.trim_end_matches('\0').to_owned();
        if let Some(found) = data_set_sop_class(&bytes, &transfer_syntax)
            && found != class
        {
            self.refused += 1;
            if let Err(e) = app.refused_upload(&self.caller, "sop-class-mismatch").await {
                tracing::warn!(error = %e, "recording a refused instance failed");
            }
            return (status::DATA_SET_MISMATCH, Some("SOPClassUID differs from AffectedSOPClassUID".into()));
        }
        let file = match part10(class, instance, &transfer_syntax, &self.calling_ae, &bytes) {
            Ok(file) => file,
            Err(e) => {
                self.refused += 1;
                tracing::warn!(error = %e, "wrapping a received data set as Part 10 failed");
                return (status::PROCESSING_FAILURE, Some("cannot write the file meta".into()));
            }
        };
        drop(bytes);
        let instance_ref = format!("{} message {message_id}", self.calling_ae);
        match app.ingest(&self.caller, file, instance_ref).await {
            Ok(ingested) => {
                if ingested.duplicate {
                    self.duplicates += 1;
                } else {
                    self.stored += 1;
                }
                if !self.studies.contains(&ingested.study_uid) {
                    self.studies.push(ingested.study_uid);
                }
                (status::SUCCESS, None)
            }
            Err(rejected) => {
                self.refused += 1;
                tracing::info!(calling_ae = %self.calling_ae, message_id, error = %rejected.error, "C-STORE refused");
                let answer = store_status(&rejected.error);
                // Out of resources: the sender will send it again later, so the release of
                // this association must not complete its study without it.
                if answer.0 == status::OUT_OF_RESOURCES
                    && let Ok(study) = Uid::parse(&rejected.study_uid)
                    && !self.retried_later.contains(&study)
                {
                    self.retried_later.push(study);
                }
                answer
            }
        }
    }
}

async fn send(assoc: &mut Assoc, context_id: u8, command: &Command) -> Result<(), String> {
    let bytes = command.encode().map_err(|e: ProtocolError| e.to_string())?;
    send_bytes(assoc, context_id, &bytes).await
}

async fn send_bytes(assoc: &mut Assoc, context_id: u8, bytes: &[u8]) -> Result<(), String> {
    let max = assoc.requestor_max_pdu_length();
    for pdu in fragment(context_id, true, bytes, max) {
        assoc.send(&pdu).await.map_err(|e| format!("sending a response: {e}"))?;
    }
    Ok(())
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::PData { .. } => "P-DATA-TF",
        Pdu::ReleaseRQ => "A-RELEASE-RQ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        Pdu::AbortRQ { .. } => "A-ABORT",
        Pdu::Unknown { .. } => "unknown",
    }
}
