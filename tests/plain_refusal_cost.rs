//! Issue 18 finding 7: in a domain with any argon2id entry, every PLAIN refusal costs
//! an argon2id check — an unknown user, a hashed user's wrong password and a plaintext
//! user's wrong password alike — so refusal timing tells neither which names exist nor
//! which are stored in plaintext. Counted structurally: each check is a slow answer of
//! kind `hash` in the metrics (its own test binary: the recorder is process-wide).
#![cfg(feature = "metrics")]

mod common;

use common::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use zmq_auth::{zmq, ThreadAuthenticator};

fn hash_checks(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(r#"zmq_auth_slow_answer_seconds_count{kind="hash"} "#))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_refusal_in_a_hashed_domain_costs_one_hash_check() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let phc = zmq_auth::hash_password("Pw-carol-refusal-91ab").unwrap();
    // A mixed table, as `zmq-auth user add --file` makes from a plaintext file.
    auth.configure_plain(
        "mixed",
        [("carol", phc.as_str()), ("bob", "Pw-bob-plaintext-55e2")],
    )
    .unwrap();
    // A plaintext-only domain: its refusals need no hash check.
    auth.configure_plain("plain", [("dave", "Pw-dave-plaintext-0c1d")])
        .unwrap();
    let dealer = zap_dealer(&ctx);
    dealer.set_rcvtimeo(30_000).unwrap();
    let cases = [
        ("mixed", "nobody", "guess", "400", "Invalid username", 1),
        ("mixed", "carol", "guess", "400", "Invalid password", 1),
        ("mixed", "bob", "guess", "400", "Invalid password", 1),
        ("mixed", "bob", "Pw-bob-plaintext-55e2", "200", "OK", 0),
        ("plain", "nobody", "guess", "400", "Invalid username", 0),
        ("plain", "dave", "guess", "400", "Invalid password", 0),
    ];
    for (domain, user, pw, code, text, checks) in cases {
        let before = hash_checks(&handle.render());
        let reply = plain_status(&dealer, domain, user, pw);
        assert_eq!(
            (reply.0.as_str(), reply.1.as_str()),
            (code, text),
            "{domain}/{user}"
        );
        // The check is counted just before its answer is sent; the render follows it.
        let counted = hash_checks(&handle.render()) - before;
        assert_eq!(counted, checks, "hash checks for {domain}/{user}/{pw}");
    }
}
