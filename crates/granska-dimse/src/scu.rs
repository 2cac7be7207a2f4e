//! The C-STORE SCU that sends result SRs back to the PACS: the DICOM side of the core's
//! [`ResultSender`] seam. One association per report: propose the SR's SOP class with its own
//! transfer syntax (and the uncompressed little-endian ones as a fallback, converting only if
//! the peer accepts nothing else), send the C-STORE fragmented to the peer's maximum PDU, read
//! the C-STORE-RSP's status, release.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTable;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::Error as UlError;
use dicom_ul::pdu::PresentationContextResultReason;
use dicom_ul::{ClientAssociationOptions, Pdu};
use granska_app::{ResultSender, SendError};

use crate::error::{DestinationError, check_ae_title};
use crate::protocol::{Assembled, Command, Reassembler, fragment};

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";

/// Where results go: a DICOM application entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Its AE title (called AE).
    pub ae_title: String,
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl FromStr for Destination {
    type Err = DestinationError;

    /// Parses `AE@host:port` (`PACS@10.0.0.5:104`, `PACS@[fd00::5]:104`).
    fn from_str(input: &str) -> Result<Destination, DestinationError> {
        let format = || DestinationError::Format { input: input.to_owned() };
        let (ae, address) = input.trim().rsplit_once('@').ok_or_else(format)?;
        check_ae_title(ae).map_err(|message| DestinationError::AeTitle { input: input.to_owned(), message })?;
        let (host, port) =
            address.rsplit_once(':').ok_or_else(|| DestinationError::Port { input: input.to_owned() })?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if host.is_empty() || host.contains(['@', '/', ' ']) {
            return Err(format());
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(DestinationError::Port { input: input.to_owned() }),
        };
        Ok(Destination { ae_title: ae.trim().to_owned(), host: host.to_owned(), port })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.ae_title, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.ae_title, self.host, self.port)
        }
    }
}

/// Sends Part 10 reports by C-STORE, one association each.
#[derive(Debug, Clone)]
pub struct StoreScu {
    destination: Destination,
    calling_ae: String,
    timeout: Duration,
    max_pdu: u32,
    label: String,
}

impl StoreScu {
    /// A sender to `destination` as `calling_ae`; `timeout` bounds the connection and every
    /// send and receive; `max_pdu` is the largest PDU this side accepts.
    pub fn new(destination: Destination, calling_ae: impl Into<String>, timeout: Duration, max_pdu: u32) -> StoreScu {
        let label = destination.to_string();
        StoreScu { destination, calling_ae: calling_ae.into(), timeout, max_pdu, label }
    }

    fn protocol(&self, reason: impl Into<String>) -> SendError {
        SendError::Protocol { destination: self.label.clone(), reason: reason.into() }
    }

    async fn store(&self, report: &[u8]) -> Result<u16, SendError> {
        let (meta, data_set) = read_meta(report).map_err(|reason| self.protocol(reason))?;
        let class = meta.media_storage_sop_class_uid().trim_end_matches('\0').to_owned();
        let instance = meta.media_storage_sop_instance_uid().trim_end_matches('\0').to_owned();
        let own_ts = meta.transfer_syntax().trim_end_matches('\0').to_owned();
        let mut options = ClientAssociationOptions::new()
            .calling_ae_title(self.calling_ae.as_str())
            .called_ae_title(self.destination.ae_title.as_str())
            .max_pdu_length(self.max_pdu)
            .read_timeout(self.timeout)
            .write_timeout(self.timeout)
            .connection_timeout(self.timeout)
            .with_presentation_context(class.as_str(), vec![own_ts.as_str()]);
        if own_ts != EXPLICIT_VR_LE && own_ts != IMPLICIT_VR_LE {
            options = options.with_presentation_context(class.as_str(), vec![EXPLICIT_VR_LE, IMPLICIT_VR_LE]);
        } else {
            let other = if own_ts == EXPLICIT_VR_LE { IMPLICIT_VR_LE } else { EXPLICIT_VR_LE };
            options = options.with_presentation_context(class.as_str(), vec![other]);
        }
        let address = (self.destination.host.clone(), self.destination.port);
        let mut assoc = options.establish_async(address).await.map_err(|e| self.establish_error(e))?;
        // The first accepted context, in the order proposed: the SR's own syntax first.
        let accepted = assoc
            .presentation_contexts()
            .iter()
            .find(|pc| pc.reason == PresentationContextResultReason::Acceptance)
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_owned()));
        let Some((context_id, ts)) = accepted else {
            let _ = assoc.abort().await;
            return Err(SendError::Rejected {
                destination: self.label.clone(),
                reason: format!("no presentation context accepted for SOP class {class}"),
            });
        };
        let converted;
        let data: &[u8] = if ts == own_ts {
            data_set
        } else {
            converted = convert(data_set, &own_ts, &ts).map_err(|reason| self.protocol(reason))?;
            &converted
        };
        let message_id = 1;
        let command = Command::StoreRq { message_id, sop_class_uid: class, sop_instance_uid: instance, priority: 0 };
        let command = command.encode().map_err(|e| self.protocol(e.to_string()))?;
        let max = assoc.acceptor_max_pdu_length();
        let sent = async {
            for pdu in fragment(context_id, true, &command, max).chain(fragment(context_id, false, data, max)) {
                assoc.send(&pdu).await.map_err(|e| self.protocol(format!("sending the C-STORE: {e}")))?;
            }
            self.response(&mut assoc, message_id).await
        }
        .await;
        match sent {
            Ok(status) => {
                if let Err(e) = assoc.release().await {
                    tracing::warn!(destination = %self.label, error = %e, "releasing the association after C-STORE failed");
                }
                Ok(status)
            }
            Err(e) => {
                let _ = assoc.abort().await;
                Err(e)
            }
        }
    }

    /// Reads PDUs until the C-STORE-RSP to `message_id` is whole; its status.
    async fn response(
        &self,
        assoc: &mut dicom_ul::association::AsyncClientAssociation<tokio::net::TcpStream>,
        message_id: u16,
    ) -> Result<u16, SendError> {
        let mut reassembler = Reassembler::new(0);
        loop {
            let pdu = assoc.receive().await.map_err(|e| self.protocol(format!("waiting for the C-STORE-RSP: {e}")))?;
            let values = match pdu {
                Pdu::PData { data } => data,
                Pdu::AbortRQ { source } => {
                    return Err(self.protocol(format!("the peer aborted the association ({source:?})")));
                }
                other => return Err(self.protocol(format!("expected a C-STORE-RSP, found {other:?}"))),
            };
            for value in values {
                match reassembler.push(value).map_err(|e| self.protocol(e.to_string()))? {
                    None => {}
                    Some(Assembled::Command { bytes, .. }) => match Command::parse(&bytes) {
                        Ok(Command::StoreRsp(rsp)) if rsp.message_id_responded == message_id => {
                            if let Some(comment) = &rsp.error_comment {
                                tracing::info!(destination = %self.label, status = rsp.status, comment = %comment, "C-STORE-RSP");
                            }
                            return Ok(rsp.status);
                        }
                        Ok(other) => {
                            return Err(self
                                .protocol(format!("expected a C-STORE-RSP to message {message_id}, found {other:?}")));
                        }
                        Err(e) => return Err(self.protocol(e.to_string())),
                    },
                    Some(Assembled::Data { .. } | Assembled::DataTooLarge { .. }) => {
                        return Err(self.protocol("expected a C-STORE-RSP, found a data set"));
                    }
                }
            }
        }
    }

    fn establish_error(&self, e: UlError) -> SendError {
        let destination = self.label.clone();
        match e {
            UlError::Rejected { association_rj, .. } => SendError::Rejected {
                destination,
                reason: format!("{:?}: {}", association_rj.result, association_rj.source),
            },
            UlError::NoAcceptedPresentationContexts { .. } => {
                SendError::Rejected { destination, reason: "no presentation context accepted".into() }
            }
            UlError::Aborted { .. } => SendError::Rejected { destination, reason: "association aborted".into() },
            e @ (UlError::Connect { .. } | UlError::ToAddress { .. } | UlError::Timeout { .. }) => {
                SendError::Unreachable { destination, reason: e.to_string() }
            }
            other => SendError::Protocol { destination, reason: other.to_string() },
        }
    }
}

/// The file meta of a Part 10 report and its data set's bytes.
fn read_meta(report: &[u8]) -> Result<(FileMetaTable, &[u8]), String> {
    let after_preamble = report.get(128..).ok_or("the report is shorter than a Part 10 preamble")?;
    let meta = FileMetaTable::from_reader(after_preamble).map_err(|e| format!("the report's file meta: {e}"))?;
    let start = 128 + 4 + 12 + meta.information_group_length as usize;
    let data_set = report.get(start..).ok_or("the report ends inside its file meta")?;
    Ok((meta, data_set))
}

/// Re-encodes a data set from one transfer syntax to another (only when the peer accepted
/// nothing but the fallback).
fn convert(data_set: &[u8], from: &str, to: &str) -> Result<Vec<u8>, String> {
    let registry = TransferSyntaxRegistry;
    let from_ts = registry.get(from).ok_or_else(|| format!("unknown transfer syntax {from}"))?;
    let to_ts = registry.get(to).ok_or_else(|| format!("unknown transfer syntax {to}"))?;
    let obj =
        InMemDicomObject::read_dataset_with_ts(data_set, from_ts).map_err(|e| format!("reading the report: {e}"))?;
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, to_ts).map_err(|e| format!("re-encoding the report as {to}: {e}"))?;
    Ok(out)
}

impl ResultSender for StoreScu {
    fn destination(&self) -> &str {
        &self.label
    }

    fn send<'a>(&'a self, report: &'a [u8]) -> Pin<Box<dyn Future<Output = Result<u16, SendError>> + Send + 'a>> {
        Box::pin(self.store(report))
    }
}
