//! Metrics (feature `metrics`, through the `metrics` facade; DESIGN.md §13). Without
//! the feature every function here is empty and compiles away; with it and no recorder
//! installed, each is a check of the facade's no-op recorder.
//!
//! Labels only ever carry this crate's own fixed words (mechanism names, status codes,
//! reasons from a fixed list, source kinds): never peer-chosen text — no usernames, keys,
//! addresses or domains.
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `zmq_auth_decisions_total` | counter | `mechanism`, `status`, `reason` |
//! | `zmq_auth_slow_answer_seconds` | histogram | `kind` (`callback`, `store_key`, `hash`, `store_user`) |
//! | `zmq_auth_slow_answers_late_total` | counter | `why` (`deadline`, `saturated`) |
//! | `zmq_auth_rechecks_total` | counter | `source` (`certificate_dir`, `password_file`), `result` (`ok`, `failed`) |
//! | `zmq_auth_store_cache_hits_total` | counter | `table` (`keys`, `users`) |
//! | `zmq_auth_lockouts_total` | counter | — |
//! | `zmq_auth_request_panics_total` | counter | `step` (`request`, `pooled`, `loop`) |
//! | `zmq_auth_zap_thread_exits_total` | counter | — |

#[cfg(feature = "metrics")]
use crate::zap::{Mechanism, StatusCode};

/// Reasons a reply may give, as label values; anything else is `other`.
#[cfg(feature = "metrics")]
const REASONS: &[&str] = &[
    "OK",
    "Address not allowed",
    "Address denied",
    "Invalid credentials",
    "No passwords defined",
    "Invalid username",
    "Invalid password",
    "Unknown domain",
    "Unknown key",
    "Invalid principal",
    "Unsupported mechanism",
    "Too many failures",
    "Try later",
    "Internal error",
    "Not enough frames",
    "Invalid version",
];

#[cfg(feature = "metrics")]
fn reason_label(text: &str) -> &'static str {
    REASONS
        .iter()
        .find(|r| **r == text)
        .copied()
        .unwrap_or("other")
}

#[cfg(feature = "metrics")]
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        300 => "300",
        400 => "400",
        _ => "500",
    }
}

/// One decision.
#[cfg(feature = "metrics")]
pub(crate) fn decision(mechanism: Mechanism, status: StatusCode, text: &str) {
    metrics::counter!(
        "zmq_auth_decisions_total",
        "mechanism" => mechanism.as_str(),
        "status" => status_label(status),
        "reason" => reason_label(text)
    )
    .increment(1);
}

/// Time user code or a store took on the pool.
#[cfg(feature = "metrics")]
pub(crate) fn slow_answer(kind: &'static str, seconds: f64) {
    metrics::histogram!("zmq_auth_slow_answer_seconds", "kind" => kind).record(seconds);
}

/// A request answered 300 because its slow answer was late or there was no room.
#[cfg(feature = "metrics")]
pub(crate) fn late(why: &'static str) {
    metrics::counter!("zmq_auth_slow_answers_late_total", "why" => why).increment(1);
}

/// One re-check of a source.
#[cfg(feature = "metrics")]
pub(crate) fn recheck(source: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::counter!("zmq_auth_rechecks_total", "source" => source, "result" => result)
        .increment(1);
}

/// A store answer that came from its cache.
#[cfg(feature = "metrics")]
pub(crate) fn cache_hit(table: &'static str) {
    metrics::counter!("zmq_auth_store_cache_hits_total", "table" => table).increment(1);
}

/// A lock-out started.
#[cfg(feature = "metrics")]
pub(crate) fn lockout() {
    metrics::counter!("zmq_auth_lockouts_total").increment(1);
}

/// A per-request step of the ZAP loop panicked (that request was answered 500).
#[cfg(feature = "metrics")]
pub(crate) fn request_panic(step: &'static str) {
    metrics::counter!("zmq_auth_request_panics_total", "step" => step).increment(1);
}

/// The ZAP loop ended other than by `stop`.
#[cfg(feature = "metrics")]
pub(crate) fn zap_thread_exit() {
    metrics::counter!("zmq_auth_zap_thread_exits_total").increment(1);
}

#[cfg(not(feature = "metrics"))]
mod off {
    use crate::zap::{Mechanism, StatusCode};
    #[inline(always)]
    pub(crate) fn decision(_: Mechanism, _: StatusCode, _: &str) {}
    #[inline(always)]
    pub(crate) fn slow_answer(_: &'static str, _: f64) {}
    #[inline(always)]
    pub(crate) fn late(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn recheck(_: &'static str, _: bool) {}
    #[inline(always)]
    pub(crate) fn cache_hit(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn lockout() {}
    #[inline(always)]
    pub(crate) fn request_panic(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn zap_thread_exit() {}
}
#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_words() {
        assert_eq!(reason_label("Unknown key"), "Unknown key");
        assert_eq!(reason_label("alice@EXAMPLE"), "other");
        assert_eq!(status_label(StatusCode::InternalError), "500");
    }
}
