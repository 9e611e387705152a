//! IPv6 zones in address lists (issue 21, item 5): an entry with a zone
//! (`fe80::1%eth1`) matches only peers on that zone; an entry without one matches the
//! address on any zone, as before. Policy level: the ZAP requests carry the address
//! frame libzmq sends for a link-local peer (`fe80::1%eth0`), so no link-local socket
//! is needed.

use zmq_auth::{Authenticator, Error};

/// A NULL request from `address`: (status code, status text).
fn null_from(auth: &mut Authenticator, address: &str) -> (u16, String) {
    let frames: [&[u8]; 6] = [b"1.0", b"1", b"dom", address.as_bytes(), b"", b"NULL"];
    let reply = auth.handle_zap_message(&frames);
    (reply.status_code(), reply.status_text().to_string())
}

#[test]
fn allow_entry_with_a_zone_admits_only_that_zone() {
    let mut auth = Authenticator::new();
    auth.allow(["fe80::1%eth1"]).unwrap();
    assert_eq!(null_from(&mut auth, "fe80::1%eth1").0, 200);
    assert_eq!(null_from(&mut auth, "[fe80::1%eth1]").0, 200);
    let refused = (400, "Address not allowed".to_string());
    assert_eq!(null_from(&mut auth, "fe80::1%eth0"), refused);
    assert_eq!(null_from(&mut auth, "fe80::1"), refused);
    assert_eq!(null_from(&mut auth, "fe80::1%eth10"), refused);
    assert_eq!(null_from(&mut auth, "fe80::1%Eth1"), refused);
}

#[test]
fn deny_entry_with_a_zone_refuses_only_that_zone() {
    let mut auth = Authenticator::new();
    auth.deny(["fe80::1%eth1", "fe80::%wlan0/64"]).unwrap();
    let denied = (400, "Address denied".to_string());
    assert_eq!(null_from(&mut auth, "fe80::1%eth1"), denied);
    assert_eq!(null_from(&mut auth, "fe80::1%eth0").0, 200);
    assert_eq!(null_from(&mut auth, "fe80::1").0, 200);
    assert_eq!(null_from(&mut auth, "fe80::abcd%wlan0"), denied);
    assert_eq!(null_from(&mut auth, "fe80::abcd%eth1").0, 200);
}

#[test]
fn entry_without_a_zone_matches_every_zone() {
    let mut auth = Authenticator::new();
    auth.deny(["fe80::1", "fe80:0:0:1::/64"]).unwrap();
    let denied = (400, "Address denied".to_string());
    for peer in ["fe80::1", "fe80::1%eth0", "fe80::1%eth1", "fe80:0:0:1::9%2"] {
        assert_eq!(null_from(&mut auth, peer), denied, "{peer}");
    }
    assert_eq!(null_from(&mut auth, "fe80::2%eth0").0, 200);
}

#[test]
fn zones_where_they_cannot_apply_are_refused() {
    let mut auth = Authenticator::new();
    for bad in [
        "fe80::1%",
        "127.0.0.1%eth0",
        "2001:db8::1%eth0",
        "fe80::%eth0/9",
        "fe80::1%eth0%eth1",
        "fe80::1%eth 0",
        "fe80::1%eth0/",
    ] {
        let err = auth.allow([bad]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidAddress(ref a) if a == bad),
            "{bad}: {err:?}"
        );
    }
    // Nothing was applied: NULL is still admitted from anywhere.
    assert_eq!(null_from(&mut auth, "192.0.2.1").0, 200);
}
