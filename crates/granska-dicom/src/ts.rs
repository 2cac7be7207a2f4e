//! Transfer syntaxes: which ones Granska decodes, and their names for messages.
//!
//! The list is explicit rather than "whatever dicom-rs has a codec for" so that adding or
//! losing a codec feature never silently changes what the service accepts.

use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Transfer syntaxes Granska decodes: (UID, name). Mammography archives use all of these.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2", "Implicit VR Little Endian"),
    ("1.2.840.10008.1.2.1", "Explicit VR Little Endian"),
    ("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"),
    ("1.2.840.10008.1.2.2", "Explicit VR Big Endian"),
    ("1.2.840.10008.1.2.5", "RLE Lossless"),
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)"),
    ("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"),
    ("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (SV1)"),
    ("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)"),
    ("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless"),
    ("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless)"),
    ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"),
];

/// Names of transfer syntaxes that are rejected, for clearer messages than dicom-rs gives.
const KNOWN_UNSUPPORTED: &[(&str, &str)] = &[
    ("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"),
    ("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
    ("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"),
    ("1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
];

/// Strip the trailing NUL / space padding that DICOM allows in UIDs.
pub(crate) fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// Whether Granska decodes pixel data in this transfer syntax.
pub fn is_supported(uid: &str) -> bool {
    let uid = trim_uid(uid);
    SUPPORTED.iter().any(|(u, _)| *u == uid)
}

/// The name of a transfer syntax, or `unknown`.
pub fn name(uid: &str) -> String {
    let uid = trim_uid(uid);
    SUPPORTED
        .iter()
        .chain(KNOWN_UNSUPPORTED)
        .find(|(u, _)| *u == uid)
        .map(|(_, n)| (*n).to_owned())
        .or_else(|| TransferSyntaxRegistry.get(uid).map(|ts| ts.name().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}
