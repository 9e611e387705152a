//! Which configured domain answers a request: its own, else `"*"` (DESIGN.md §5). A
//! non-empty domain without a policy of its own is usually a configuration mistake (a
//! misspelt or badly built `ZMQ_ZAP_DOMAIN`), so the first fallback per domain is a
//! warning naming it, and under strict domains it is refused instead.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;

use super::Policy;
use crate::hash::NameHash;
use crate::zap::Mechanism;

/// How many distinct domains are warned about one by one. The server socket, not the
/// peer, chooses the domain, so a handful is normal; the cap bounds memory anyway (a
/// custom poll loop may feed `Authenticator` anything).
const MAX_WARNED: usize = 64;
/// How many bytes of a domain are remembered (longer ones are told apart by this much).
const REMEMBERED: usize = 256;
/// Up to this many configured domains, a request's domain is found by comparing it
/// with each (about 40 instructions for one) rather than hashed and probed (about 250).
const SCANNED: usize = 4;

/// The domains already warned about, shared by every snapshot of one configuration.
#[derive(Default)]
pub(crate) struct DomainWarnings {
    seen: Mutex<HashSet<Box<[u8]>>>,
}

impl DomainWarnings {
    /// True the first time `domain` is seen (while there is room).
    fn first_time(&self, domain: &[u8]) -> bool {
        let key = &domain[..domain.len().min(REMEMBERED)];
        let mut seen = self.seen.lock();
        if seen.contains(key) {
            return false;
        }
        match seen.len() {
            n if n < MAX_WARNED => {
                seen.insert(key.into());
                true
            }
            n if n == MAX_WARNED => {
                // One last entry stands for every domain from now on.
                seen.insert(Box::new([]));
                zlog!(
                    Warn,
                    "more than {MAX_WARNED} unconfigured ZAP domains seen; further ones are not named"
                );
                false
            }
            _ => false,
        }
    }

    fn note(&self, domain: &[u8], mechanism: Mechanism, strict: bool) {
        if !self.first_time(domain) {
            return;
        }
        let domain = crate::logging::PeerText(domain);
        if strict {
            zlog!(
                Warn,
                "ZAP domain {domain:?} has no {} policy of its own: refusing it (strict domains)",
                mechanism.as_str()
            );
        } else {
            zlog!(
                Warn,
                "ZAP domain {domain:?} has no {} policy of its own: using the \"*\" policy \
                 (a misspelt server domain? strict_domains(true) refuses it instead)",
                mechanism.as_str()
            );
        }
    }
}

/// The request's domain as text, when it is UTF-8. Domains are ASCII in practice, and
/// an ASCII test is a few instructions where full UTF-8 validation costs about 70 per
/// request on the ZAP thread.
#[inline]
pub(super) fn domain_text(domain: &[u8]) -> Option<&str> {
    if is_ascii(domain) {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(domain) })
    } else {
        std::str::from_utf8(domain).ok()
    }
}

/// `<[u8]>::is_ascii`, a word at a time also for the short slices domains are (the
/// standard one tests those byte by byte).
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    let (words, tail) = bytes.as_chunks::<8>();
    let high = words
        .iter()
        .fold(0u64, |acc, w| acc | u64::from_ne_bytes(*w));
    let high = tail.iter().fold(high, |acc, &b| acc | u64::from(b));
    high & 0x8080_8080_8080_8080 == 0
}

impl Policy {
    /// Does the request's `domain` fall back to `"*"` (non-empty, not configured, and
    /// `"*"` is)? Then warn once; `None` under strict domains.
    fn fallback(&self, domain: &[u8], star: bool, mechanism: Mechanism) -> Option<&'static str> {
        if !star {
            return None;
        }
        if !domain.is_empty() {
            self.domain_warnings
                .note(domain, mechanism, self.strict_domains);
            if self.strict_domains {
                return None;
            }
        }
        Some("*")
    }

    /// The key under which a request's domain is configured in `map`: exact, else `"*"`
    /// (see [`Policy::fallback`]).
    pub(crate) fn find_domain<'a, T>(
        &self,
        map: &HashMap<String, T, NameHash>,
        domain: &'a [u8],
        mechanism: Mechanism,
    ) -> Option<&'a str> {
        self.find_domain_rule(map, domain, mechanism)
            .map(|(key, _)| key)
    }

    /// [`Policy::find_domain`], with the rule configured under that key: the request's
    /// domain is hashed and probed once, not once to find it and again to read it.
    pub(crate) fn find_domain_rule<'a, 'm, T>(
        &self,
        map: &'m HashMap<String, T, NameHash>,
        domain: &'a [u8],
        mechanism: Mechanism,
    ) -> Option<(&'a str, &'m T)> {
        if map.len() <= SCANNED {
            self.scan_domain_rule(map, domain, mechanism)
        } else {
            self.hash_domain_rule(map, domain, mechanism)
        }
    }

    /// [`Policy::find_domain_rule`] by hashing: the request's domain, then `"*"`.
    fn hash_domain_rule<'a, 'm, T>(
        &self,
        map: &'m HashMap<String, T, NameHash>,
        domain: &'a [u8],
        mechanism: Mechanism,
    ) -> Option<(&'a str, &'m T)> {
        // Borrowed from the request: the lookup allocates nothing.
        match domain_text(domain) {
            Some(d) if !d.is_empty() => {
                if let Some(rule) = map.get(d) {
                    return Some((d, rule));
                }
            }
            _ => {}
        }
        let star = map.get("*");
        let key = self.fallback(domain, star.is_some(), mechanism)?;
        star.map(|rule| (key, rule))
    }

    /// [`Policy::find_domain_rule`] for a map of at most [`SCANNED`] domains: one pass
    /// comparing bytes finds both the exact entry and `"*"`, with no hashing and no
    /// UTF-8 check (a match equals a `String` key, so it is UTF-8).
    fn scan_domain_rule<'a, 'm, T>(
        &self,
        map: &'m HashMap<String, T, NameHash>,
        domain: &'a [u8],
        mechanism: Mechanism,
    ) -> Option<(&'a str, &'m T)> {
        let mut star = None;
        for (key, rule) in map {
            let key = key.as_bytes();
            // An empty domain is never an exact match (it falls back to "*").
            if key == domain && !domain.is_empty() {
                // SAFETY: `domain` equals the bytes of a `String`, so it is UTF-8.
                return Some((unsafe { std::str::from_utf8_unchecked(domain) }, rule));
            }
            if key == b"*" {
                star = Some(rule);
            }
        }
        let key = self.fallback(domain, star.is_some(), mechanism)?;
        star.map(|rule| (key, rule))
    }

    /// [`Policy::find_domain`] for a set of domains: is the domain covered?
    pub(crate) fn find_domain_set(
        &self,
        set: &HashSet<String, NameHash>,
        domain: &[u8],
        mechanism: Mechanism,
    ) -> bool {
        match domain_text(domain) {
            Some(d) if !d.is_empty() && set.contains(d) => true,
            _ => self
                .fallback(domain, set.contains("*"), mechanism)
                .is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_test_agrees_with_the_standard_one() {
        for len in 0..40 {
            let ascii = vec![b'a'; len];
            assert!(is_ascii(&ascii));
            assert_eq!(domain_text(&ascii), std::str::from_utf8(&ascii).ok());
            for pos in 0..len {
                for high in [0x80u8, 0xc3, 0xff] {
                    let mut b = ascii.clone();
                    b[pos] = high;
                    assert!(!is_ascii(&b), "len {len} pos {pos}");
                    assert_eq!(domain_text(&b), std::str::from_utf8(&b).ok());
                }
            }
        }
        assert_eq!(domain_text("dömain".as_bytes()), Some("dömain"));
    }

    #[test]
    fn the_scan_of_a_few_domains_agrees_with_the_hashed_lookup() {
        let names = ["*", "", "global", "glob", "globalx", "dömain", "a", "b"];
        let asked: [&[u8]; 11] = [
            b"",
            b"*",
            b"global",
            b"glob",
            b"globalx",
            b"GLOBAL",
            b"x",
            b"a",
            b"b",
            "dömain".as_bytes(),
            b"\xff\xfe",
        ];
        for strict in [false, true] {
            let p = Policy {
                strict_domains: strict,
                ..Policy::default()
            };
            // Every subset of the names, so maps of 0 to 8 domains, either side of SCANNED.
            for mask in 0u32..(1 << names.len()) {
                let map: HashMap<String, usize, NameHash> = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(i, n)| (n.to_string(), i))
                    .collect();
                for d in asked {
                    let got = p.find_domain_rule(&map, d, Mechanism::Curve);
                    let want = p.hash_domain_rule(&map, d, Mechanism::Curve);
                    assert_eq!(got, want, "map {map:?} domain {d:?} strict {strict}");
                    if map.len() <= SCANNED {
                        assert_eq!(p.scan_domain_rule(&map, d, Mechanism::Curve), want);
                    }
                }
            }
        }
    }

    #[test]
    fn warnings_are_once_per_domain_and_capped() {
        let w = DomainWarnings::default();
        assert!(w.first_time(b"A"));
        assert!(!w.first_time(b"A"));
        assert!(w.first_time(b"a\0"));
        for i in 2..MAX_WARNED {
            assert!(w.first_time(format!("d{i}").as_bytes()));
        }
        assert!(!w.first_time(b"one too many"));
        assert!(!w.first_time(b"and another"));
        assert_eq!(w.seen.lock().len(), MAX_WARNED + 1);
        // A long domain is remembered by its first bytes only.
        let w = DomainWarnings::default();
        assert!(w.first_time(&[b'x'; 1 << 16]));
        assert!(w.seen.lock().iter().all(|d| d.len() <= REMEMBERED));
    }
}
