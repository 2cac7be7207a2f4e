//! Upload stream reassembly: chunks in, whole instances out, as a pure state machine so that
//! its rules are tested and fuzzed without a network.
//!
//! An instance's chunks are contiguous and end with `last = true`; the next instance starts with
//! the next chunk. A chunk for another instance before `last` ends the stream with an error
//! (the client is confused, and guessing would mix two instances' bytes). An instance over the
//! size limit keeps being read to its `last` chunk, buffering nothing, and is then refused on
//! its own; the stream goes on. A stream that ends inside an instance yields that instance as
//! [`Unfinished`], so the caller can say it was not stored rather than drop it silently.

/// One chunk as received (the edge's protobuf message, translated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The sender's name for the instance (1–1024 bytes).
    pub instance_ref: String,
    /// The next bytes of the instance.
    pub data: Vec<u8>,
    /// The instance's last chunk.
    pub last: bool,
}

/// Longest accepted `instance_ref`, bytes.
pub const MAX_REF: usize = 1024;

/// What a chunk completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A whole instance, to validate and store.
    Instance {
        /// The sender's name for it.
        instance_ref: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// An instance larger than the limit: its bytes were discarded as they came.
    TooLarge {
        /// The sender's name for it.
        instance_ref: String,
        /// How many bytes were sent.
        size: u64,
    },
}

/// Why the stream cannot go on (the caller ends it with INVALID_ARGUMENT).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// `instance_ref` empty or too long.
    #[error("instance_ref must be 1–1024 bytes, found {len}")]
    BadRef {
        /// Its length.
        len: usize,
    },
    /// A chunk of another instance before this one's `last` chunk.
    #[error(
        "chunk for {next:?} arrived before instance {current:?} ended (send last = true on an instance's last chunk)"
    )]
    Interleaved {
        /// The unfinished instance.
        current: String,
        /// The chunk's instance.
        next: String,
    },
}

/// An instance whose `last` chunk never came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// The sender's name for it.
    pub instance_ref: String,
    /// Bytes received of it.
    pub received: u64,
}

#[derive(Debug)]
struct Partial {
    instance_ref: String,
    bytes: Vec<u8>,
    size: u64,
    too_large: bool,
}

/// The reassembly state of one stream.
#[derive(Debug)]
pub struct Reassembler {
    max_instance: usize,
    current: Option<Partial>,
}

impl Reassembler {
    /// A stream whose instances may be at most `max_instance` bytes.
    pub fn new(max_instance: usize) -> Reassembler {
        Reassembler { max_instance, current: None }
    }

    /// Bytes held for the unfinished instance (what the caller accounts against its budget).
    pub fn buffered(&self) -> usize {
        self.current.as_ref().map_or(0, |p| p.bytes.len())
    }

    /// How many of `chunk`'s bytes [`Reassembler::push`] would buffer (0 once the instance is
    /// over the limit): the caller reserves that much of its memory budget first.
    pub fn would_buffer(&self, chunk: &Chunk) -> usize {
        match &self.current {
            Some(p) if p.instance_ref == chunk.instance_ref => {
                if p.too_large || p.bytes.len() + chunk.data.len() > self.max_instance { 0 } else { chunk.data.len() }
            }
            _ if chunk.data.len() > self.max_instance => 0,
            _ => chunk.data.len(),
        }
    }

    /// Takes one chunk; returns the instance it completed, if any.
    pub fn push(&mut self, chunk: Chunk) -> Result<Option<Assembled>, StreamError> {
        if chunk.instance_ref.is_empty() || chunk.instance_ref.len() > MAX_REF {
            return Err(StreamError::BadRef { len: chunk.instance_ref.len() });
        }
        let partial = match &mut self.current {
            Some(p) if p.instance_ref != chunk.instance_ref => {
                return Err(StreamError::Interleaved { current: p.instance_ref.clone(), next: chunk.instance_ref });
            }
            Some(p) => p,
            None => self.current.insert(Partial {
                instance_ref: chunk.instance_ref,
                bytes: Vec::new(),
                size: 0,
                too_large: false,
            }),
        };
        partial.size += chunk.data.len() as u64;
        if !partial.too_large {
            if partial.bytes.len() + chunk.data.len() > self.max_instance {
                partial.too_large = true;
                partial.bytes = Vec::new();
            } else {
                partial.bytes.extend_from_slice(&chunk.data);
            }
        }
        if !chunk.last {
            return Ok(None);
        }
        let p = self.current.take().expect("set above");
        Ok(Some(if p.too_large {
            Assembled::TooLarge { instance_ref: p.instance_ref, size: p.size }
        } else {
            Assembled::Instance { instance_ref: p.instance_ref, bytes: p.bytes }
        }))
    }

    /// The stream ended: the instance left unfinished, if any.
    pub fn finish(self) -> Option<Unfinished> {
        self.current.map(|p| Unfinished { instance_ref: p.instance_ref, received: p.size })
    }
}
