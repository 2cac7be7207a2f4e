//! Who may associate: networks (an address or a CIDR, IPv4 or IPv6, parsed here with std) and
//! the configured peers. The IP allow-list is applied at `accept()`, the calling AE at
//! association negotiation (dicom-ul's access control sees AE titles, not addresses).

use std::net::IpAddr;
use std::str::FromStr;

use crate::error::NetworkError;

/// An IPv4 or IPv6 network: `127.0.0.1` (one host), `10.0.0.0/8`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside (IPv4-mapped IPv6 addresses count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = NetworkError;

    fn from_str(input: &str) -> Result<IpNet, NetworkError> {
        let (addr, prefix) = match input.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (input.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| NetworkError::Address { input: input.to_owned() })?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(NetworkError::Prefix { input: input.to_owned(), max }),
            },
        };
        Ok(IpNet { addr, prefix })
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A sender that may store: its AE title, the network it calls from, and the principal its
/// instances are audited under (role `pacs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The calling AE title it uses.
    pub ae_title: String,
    /// Where it calls from.
    pub network: IpNet,
    /// The audit principal (never a patient's name).
    pub principal: String,
}

/// The admission rules of one listener.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    peers: Vec<Peer>,
}

impl Admission {
    pub(crate) fn new(peers: Vec<Peer>) -> Admission {
        Admission { peers }
    }

    /// Whether a connection from `ip` may proceed to negotiation: inside some peer's network,
    /// or loopback when no peers are configured.
    pub(crate) fn ip_allowed(&self, ip: IpAddr) -> bool {
        if self.peers.is_empty() {
            ip.to_canonical().is_loopback()
        } else {
            self.peers.iter().any(|p| p.network.contains(ip))
        }
    }

    /// The audit principal of `calling_ae` calling from `ip`; `None`: not allowed. With no
    /// peers configured any calling AE is allowed (from loopback) as `dicom-<AE>`.
    pub(crate) fn principal(&self, ip: IpAddr, calling_ae: &str) -> Option<String> {
        let calling_ae = calling_ae.trim();
        if self.peers.is_empty() {
            return self.ip_allowed(ip).then(|| format!("dicom-{calling_ae}"));
        }
        self.peers
            .iter()
            .find(|p| p.ae_title.trim() == calling_ae && p.network.contains(ip))
            .map(|p| p.principal.clone())
    }
}
