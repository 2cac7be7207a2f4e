//! P-DATA reassembly and fragmentation (PS3.8 §9.3.5, PS3.7 §E.2). A message is a command set
//! and, if it says so, a data set; each may be split over any number of PDVs in any number of
//! P-DATA-TF PDUs, ending with the PDV whose "last" bit is set. The fragments of one message
//! never interleave with another's; the data set's fragments follow its command's.

use dicom_ul::pdu::{PDV_HEADER_SIZE, PDataValue, PDataValueType, Pdu};

use super::ProtocolError;

/// The largest command set accepted. Real ones are under 200 bytes; a peer that sends more is
/// not speaking DIMSE.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// One whole command set or data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A command set's bytes.
    Command {
        /// Its presentation context.
        context_id: u8,
        /// The bytes of all its fragments.
        bytes: Vec<u8>,
    },
    /// A data set's bytes (within the limit).
    Data {
        /// Its presentation context.
        context_id: u8,
        /// The bytes of all its fragments.
        bytes: Vec<u8>,
    },
    /// A data set larger than the limit: its bytes were read and discarded.
    DataTooLarge {
        /// Its presentation context.
        context_id: u8,
        /// How many bytes it had.
        size: u64,
    },
}

#[derive(Debug)]
struct Partial {
    command: bool,
    context_id: u8,
    bytes: Vec<u8>,
    size: u64,
}

/// Collects PDV fragments into whole command and data sets. It holds at most one unfinished
/// message part, never more than its limit (a data set over `max_data` is counted, not kept).
#[derive(Debug)]
pub struct Reassembler {
    max_data: usize,
    partial: Option<Partial>,
}

fn kind(command: bool) -> &'static str {
    if command { "command" } else { "data" }
}

impl Reassembler {
    /// A reassembler that keeps data sets of at most `max_data` bytes.
    pub fn new(max_data: usize) -> Reassembler {
        Reassembler { max_data, partial: None }
    }

    /// Bytes held for the unfinished message part.
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.bytes.len())
    }

    /// Whether a command or data set is unfinished.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Adds one fragment; a whole command or data set when it was the last of its part.
    pub fn push(&mut self, pdv: PDataValue) -> Result<Option<Assembled>, ProtocolError> {
        let command = pdv.value_type == PDataValueType::Command;
        let context_id = pdv.presentation_context_id;
        let partial = match &mut self.partial {
            Some(p) if p.command != command || p.context_id != context_id => {
                return Err(ProtocolError::Interleaved {
                    found: kind(command),
                    found_context: context_id,
                    open: kind(p.command),
                    open_context: p.context_id,
                });
            }
            Some(p) => p,
            None => self.partial.insert(Partial { command, context_id, bytes: Vec::new(), size: 0 }),
        };
        partial.size += pdv.data.len() as u64;
        let limit = if command { MAX_COMMAND_BYTES } else { self.max_data };
        if partial.size > limit as u64 {
            if command {
                self.partial = None;
                return Err(ProtocolError::CommandTooLarge { limit: MAX_COMMAND_BYTES });
            }
            // Over the limit: free what was held and only count from here on.
            partial.bytes = Vec::new();
        } else {
            partial.bytes.extend_from_slice(&pdv.data);
        }
        if !pdv.is_last {
            return Ok(None);
        }
        let Some(done) = self.partial.take() else { return Ok(None) };
        Ok(Some(if done.command {
            Assembled::Command { context_id, bytes: done.bytes }
        } else if done.size > self.max_data as u64 {
            Assembled::DataTooLarge { context_id, size: done.size }
        } else {
            Assembled::Data { context_id, bytes: done.bytes }
        }))
    }
}

/// Splits one command or data set into P-DATA-TF PDUs of at most `max_pdu` bytes (the peer's
/// negotiated maximum PDU length: the PDU's variable field, PDV headers included), one PDV per
/// PDU, the last one marked. An empty set is one empty last PDV.
pub fn fragment(context_id: u8, command: bool, bytes: &[u8], max_pdu: u32) -> impl Iterator<Item = Pdu> + '_ {
    // Never below the standard's minimum PDU (dicom-ul refuses smaller), never a PDU larger than
    // 1 MiB however large the peer allows: memory per send stays small.
    let max_pdu = max_pdu.clamp(dicom_ul::pdu::MINIMUM_PDU_SIZE, 1 << 20);
    let chunk = (max_pdu - PDV_HEADER_SIZE) as usize;
    let count = bytes.len().div_ceil(chunk).max(1);
    let value_type = if command { PDataValueType::Command } else { PDataValueType::Data };
    (0..count).map(move |i| {
        let data = bytes.get(i * chunk..((i + 1) * chunk).min(bytes.len())).unwrap_or_default().to_vec();
        Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context_id,
                value_type: value_type.clone(),
                is_last: i + 1 == count,
                data,
            }],
        }
    })
}
