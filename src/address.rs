//! Allow/deny list entries: IPv4 and IPv6 addresses and CIDR ranges.
//!
//! Every address is normalised before it is stored or compared: an IPv4-mapped IPv6
//! address (`::ffff:a.b.c.d`) becomes the IPv4 address, so a dual-stack server that sees
//! `::ffff:127.0.0.1` matches a `127.0.0.1` entry and vice versa.
//!
//! IPv6 zones: an entry with a zone (`fe80::1%eth1`, `fe80::%eth1/64`) matches only peers
//! on that zone, compared as text with what libzmq reports (the interface name, or its
//! number when it has none). An entry without a zone matches the address on any zone.
//! A zone is accepted only on a link-local network (within `fe80::/10`): elsewhere no
//! peer address carries one, so such an entry would silently match nothing.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::error::{Error, Result};

/// One network: an address with a prefix length (32/128 for a single host), and for
/// IPv6 the zone it is limited to, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Net {
    V4 {
        bits: u32,
        prefix: u8,
    },
    V6 {
        bits: u128,
        prefix: u8,
        zone: Option<Box<str>>,
    },
}

/// The longest zone an entry may name (interface names are at most 15 bytes on Linux;
/// numeric zones are shorter still).
const MAX_ZONE: usize = 64;

/// `fe80::/10`: the only unicast networks whose peers libzmq reports with a zone.
const LINK_LOCAL: u128 = 0xfe80 << 112;
const LINK_LOCAL_PREFIX: u8 = 10;

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`; other addresses are returned unchanged.
fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Parses an IP address as a peer or entry may spell it: optional `[...]` brackets and,
/// on an IPv6 address, an optional zone (`%eth0`), returned beside it. Nothing is
/// trimmed: libzmq never pads a peer address, and an entry is trimmed of ASCII spaces
/// before it gets here. Not normalised (a v4-mapped entry keeps its IPv6 prefix length).
fn parse_ip_zone(text: &str) -> Option<(IpAddr, Option<&str>)> {
    let t = text
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(text);
    // Only an address with a colon before the `%` is IPv6 (`127.0.0.1%a:b` is not).
    let (t, zone) = match t.find('%') {
        Some(i) if t[..i].contains(':') => (&t[..i], Some(&t[i + 1..])),
        _ => (t, None),
    };
    t.parse::<IpAddr>().ok().map(|ip| (ip, zone))
}

/// [`parse_ip_zone`] without the zone.
fn parse_ip(text: &str) -> Option<IpAddr> {
    parse_ip_zone(text).map(|(ip, _)| ip)
}

/// A zone an entry may name: printable ASCII without the characters that delimit
/// addresses, zones and prefixes.
fn valid_zone(zone: &str) -> bool {
    !zone.is_empty()
        && zone.len() <= MAX_ZONE
        && zone
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"%/[]".contains(&b))
}

/// ASCII whitespace as `str::trim` sees it (with vertical tab), and nothing else.
fn is_ascii_space(c: char) -> bool {
    c.is_ascii() && c.is_whitespace()
}

fn parse_entry(entry: &str) -> Result<Net> {
    let bad = || Error::invalid_address(entry);
    // Spaces around an entry (from a config file) are forgiven; only ASCII ones.
    let entry = entry.trim_matches(is_ascii_space);
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                return Err(bad());
            }
            (a, Some(p.parse::<u8>().map_err(|_| bad())?))
        }
        None => (entry, None),
    };
    // A v4-mapped network such as ::ffff:10.0.0.0/104 is the IPv4 network 10.0.0.0/8.
    let (raw, zone) = parse_ip_zone(addr.trim_matches(is_ascii_space)).ok_or_else(bad)?;
    if zone.is_some_and(|z| !valid_zone(z)) {
        return Err(bad());
    }
    let net = match (raw, normalise(raw)) {
        (_, IpAddr::V4(_)) if zone.is_some() => return Err(bad()),
        (_, IpAddr::V4(v4)) => {
            let mapped = raw.is_ipv6();
            let prefix = match prefix {
                None => 32,
                Some(p) if mapped && (96..=128).contains(&p) => p - 96,
                Some(p) if !mapped && p <= 32 => p,
                Some(_) => return Err(bad()),
            };
            let bits = u32::from(v4);
            if bits & !mask32(prefix) != 0 {
                // Host bits set (10.1.2.3/8) is almost always a typo: refuse it.
                return Err(bad());
            }
            Net::V4 { bits, prefix }
        }
        (_, IpAddr::V6(v6)) => {
            let prefix = match prefix {
                None => 128,
                Some(p) if p <= 128 => p,
                Some(_) => return Err(bad()),
            };
            let bits = u128::from(v6);
            if bits & !mask128(prefix) != 0 {
                return Err(bad());
            }
            let link_local =
                prefix >= LINK_LOCAL_PREFIX && bits & mask128(LINK_LOCAL_PREFIX) == LINK_LOCAL;
            if zone.is_some() && !link_local {
                return Err(bad());
            }
            Net::V6 {
                bits,
                prefix,
                zone: zone.map(Box::from),
            }
        }
    };
    Ok(net)
}

/// A set of addresses and networks, indexed by prefix length: a lookup is one hash probe
/// per distinct prefix length in use (at most 33 for IPv4, 129 for IPv6), however many
/// entries there are, and duplicates collapse.
#[derive(Debug, Default, Clone)]
pub(crate) struct AddressList {
    v4: HashMap<u8, HashSet<u32>>,
    v6: HashMap<u8, HashSet<u128>>,
    /// IPv6 entries with a zone, by zone, then as `v6`.
    v6_zoned: HashMap<Box<str>, HashMap<u8, HashSet<u128>>>,
}

/// Does `bits` fall in one of these networks (prefix length → network bits)?
fn in_v6(nets: &HashMap<u8, HashSet<u128>>, bits: u128) -> bool {
    nets.iter()
        .any(|(&prefix, nets)| nets.contains(&(bits & mask128(prefix))))
}

impl AddressList {
    /// Validates every entry first, then adds them all; on error nothing is added.
    pub(crate) fn extend<I, S>(&mut self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let parsed = entries
            .into_iter()
            .map(|e| parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let n = parsed.len();
        for net in parsed {
            match net {
                Net::V4 { bits, prefix } => {
                    self.v4.entry(prefix).or_default().insert(bits);
                }
                Net::V6 {
                    bits,
                    prefix,
                    zone: None,
                } => {
                    self.v6.entry(prefix).or_default().insert(bits);
                }
                Net::V6 {
                    bits,
                    prefix,
                    zone: Some(zone),
                } => {
                    let nets = self.v6_zoned.entry(zone).or_default();
                    nets.entry(prefix).or_default().insert(bits);
                }
            }
        }
        Ok(n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty() && self.v6_zoned.is_empty()
    }

    /// Does the peer address (as libzmq reports it) fall in this list? An address that
    /// does not parse (IPC peers send `localhost:uid:gid:pid`) matches nothing.
    /// A zoned entry matches only a peer reporting the same zone.
    pub(crate) fn contains(&self, peer: &[u8]) -> bool {
        let Some((ip, zone)) = std::str::from_utf8(peer)
            .ok()
            .and_then(parse_ip_zone)
            .map(|(ip, zone)| (normalise(ip), zone))
        else {
            return false;
        };
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4
                    .iter()
                    .any(|(&prefix, nets)| nets.contains(&(bits & mask32(prefix))))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                in_v6(&self.v6, bits)
                    || zone
                        .and_then(|z| self.v6_zoned.get(z))
                        .is_some_and(|nets| in_v6(nets, bits))
            }
        }
    }
}

/// What a lock-out counts failures against: an IPv4 address, an IPv6 address (and,
/// separately and with a higher limit, its /64: see `policy::lockout`), the user id of
/// an IPC peer, or, for anything else, the first 64 bytes of what libzmq reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PeerKey {
    V4(u32),
    V6(u128),
    /// The network (by default /64) an IPv6 address is in, host bits cleared (counted
    /// beside the address itself).
    V6Net(u128),
    /// An IPC peer: libzmq reports `localhost:<uid>:<gid>:<pid>` (seen on Linux with
    /// libzmq 4.3). A new process gets a new pid, so the uid is what identifies the
    /// guesser.
    Uid(u32),
    Other(Box<[u8]>),
}

pub(crate) fn peer_key(peer: &[u8]) -> PeerKey {
    let text = std::str::from_utf8(peer).ok();
    match text.and_then(parse_ip).map(normalise) {
        Some(IpAddr::V4(v4)) => PeerKey::V4(u32::from(v4)),
        Some(IpAddr::V6(v6)) => PeerKey::V6(u128::from(v6)),
        None => match text.and_then(ipc_uid) {
            Some(uid) => PeerKey::Uid(uid),
            None => PeerKey::Other(peer[..peer.len().min(64)].into()),
        },
    }
}

/// The network of `prefix` bits of an IPv6 peer key, counted beside it (none for a
/// prefix of 128: the address is its own network).
pub(crate) fn v6_net(key: &PeerKey, prefix: u8) -> Option<PeerKey> {
    match key {
        PeerKey::V6(a) if prefix < 128 => Some(PeerKey::V6Net(a & mask128(prefix))),
        _ => None,
    }
}

/// The uid of an IPC peer address `<host>:<uid>:<gid>:<pid>` (the host part may be
/// empty; it has no colon).
fn ipc_uid(text: &str) -> Option<u32> {
    let mut parts = text.rsplitn(4, ':');
    let (pid, gid, uid, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if host.contains(':') || !numeric(pid) || !numeric(gid) {
        return None;
    }
    uid.parse::<u32>().ok().filter(|_| numeric(uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AddressList {
        let mut l = AddressList::default();
        l.extend(entries).unwrap();
        l
    }

    #[test]
    fn peer_keys() {
        assert_eq!(peer_key(b"127.0.0.1"), peer_key(b"::ffff:127.0.0.1"));
        // IPv6 hosts count one by one; their /64 is a separate key.
        assert_ne!(peer_key(b"2001:db8::1"), peer_key(b"2001:db8::2"));
        assert_eq!(
            v6_net(&peer_key(b"2001:db8::1"), 64),
            v6_net(&peer_key(b"2001:db8::ffff:2"), 64)
        );
        assert_ne!(
            v6_net(&peer_key(b"2001:db8::1"), 64),
            v6_net(&peer_key(b"2001:db8:0:1::1"), 64)
        );
        assert_eq!(
            v6_net(&peer_key(b"2001:db8::1"), 48),
            v6_net(&peer_key(b"2001:db8:0:1::1"), 48)
        );
        assert_eq!(v6_net(&peer_key(b"2001:db8::1"), 128), None);
        assert_eq!(v6_net(&peer_key(b"10.0.0.1"), 64), None);
        // IPC peers count by uid, whatever their pid.
        assert_eq!(peer_key(b"localhost:1000:1000:42"), PeerKey::Uid(1000));
        assert_eq!(
            peer_key(b"localhost:1000:100:42"),
            peer_key(b":1000:1000:77")
        );
        assert_ne!(
            peer_key(b"localhost:1000:1000:42"),
            peer_key(b"localhost:0:0:42")
        );
        assert!(matches!(peer_key(b"localhost:x:0:42"), PeerKey::Other(_)));
        assert!(matches!(peer_key(b"a:b:1:2:3"), PeerKey::Other(_)));
        assert_eq!(peer_key(b""), PeerKey::Other(Box::new([])));
    }

    #[test]
    fn hosts_and_mapping() {
        let l = list(&["127.0.0.1", "::1"]);
        assert!(l.contains(b"127.0.0.1"));
        assert!(l.contains(b"::ffff:127.0.0.1"));
        assert!(l.contains(b"::1"));
        assert!(l.contains(b"[::1]"));
        assert!(!l.contains(b"127.0.0.2"));
        assert!(!l.contains(b""));
        assert!(!l.contains(b":1000:1000:42"));
        assert!(!l.contains(b"\xff\xfe"));
        let mapped = list(&["::ffff:10.1.2.3"]);
        assert!(mapped.contains(b"10.1.2.3"));
    }

    #[test]
    fn cidr() {
        let l = list(&[
            "10.0.0.0/8",
            "fd00::/8",
            "::ffff:192.168.0.0/112",
            "0.0.0.0/0",
        ]);
        assert!(l.contains(b"10.255.0.1"));
        assert!(l.contains(b"fdab::1"));
        assert!(l.contains(b"192.168.4.4"));
        assert!(l.contains(b"8.8.8.8"), "0.0.0.0/0 covers all IPv4");
        assert!(!l.contains(b"fe80::1"));
        let l = list(&["10.0.0.0/8"]);
        assert!(l.contains(b"::ffff:10.9.9.9"));
        assert!(!l.contains(b"11.0.0.1"));
    }

    #[test]
    fn invalid_entries_change_nothing() {
        let mut l = AddressList::default();
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "10.1.2.3/8",
            "::/129",
            "1.2.3.4/",
            "1.2.3.4/x",
            "1.2.3",
            "::ffff:10.0.0.0/95",
        ] {
            let err = l.extend(["192.168.1.1", bad]).unwrap_err();
            assert!(matches!(err, Error::InvalidAddress(_)), "{bad}");
        }
        assert!(l.is_empty());
    }

    #[test]
    fn zones_limit_an_entry_to_one_link() {
        let l = list(&["fe80::1%eth1", "fe80::%wlan0/64"]);
        assert!(l.contains(b"fe80::1%eth1"));
        assert!(l.contains(b"[fe80::1%eth1]"));
        assert!(!l.contains(b"fe80::1%eth0"));
        assert!(!l.contains(b"fe80::1"), "no zone reported: not that link");
        assert!(!l.contains(b"fe80::1%"));
        assert!(l.contains(b"fe80::abcd%wlan0"));
        assert!(!l.contains(b"fe80::abcd%eth1"));
        assert!(!l.contains(b"fe80:0:0:1::1%wlan0"), "outside the /64");
        // Without a zone: the address on any zone, as before zones were read.
        let l = list(&["fe80::1", "fe80:0:0:1::/64"]);
        for peer in [
            "fe80::1",
            "fe80::1%eth0",
            "[fe80::1%7]",
            "fe80:0:0:1::9%eth2",
        ] {
            assert!(l.contains(peer.as_bytes()), "{peer}");
        }
        assert!(!l.contains(b"fe80::2%eth0"));
        // The same address on two zones, and duplicates, collapse per zone.
        let l = list(&["fe80::1%a", "fe80::1%b", "fe80::1%a"]);
        assert!(l.contains(b"fe80::1%a") && l.contains(b"fe80::1%b"));
        assert!(!l.contains(b"fe80::1%c"));
        assert!(!list(&["fe80::1%a"]).is_empty());
    }

    #[test]
    fn zones_are_refused_where_no_peer_has_one() {
        let mut l = AddressList::default();
        for bad in [
            "fe80::1%",
            "127.0.0.1%eth0",
            "::ffff:127.0.0.1%eth0",
            "2001:db8::1%eth0",
            "fe80::%eth0/9",
            "::%eth0/0",
            "fe80::1%eth0%eth1",
            "fe80::1%eth 0",
            "fe80::1%eth0/",
            "[fe80::1%eth0]/64",
        ] {
            let err = l.extend([bad]).unwrap_err();
            assert!(matches!(err, Error::InvalidAddress(_)), "{bad}");
        }
        let long = format!("fe80::1%{}", "e".repeat(MAX_ZONE + 1));
        assert!(l.extend([long]).is_err());
        assert!(l.is_empty());
        assert!(l.extend(["fe80::/10%x".to_string()]).is_err());
        l.extend(["fe80::%x/10", "febf::1%7"]).unwrap();
    }
}
