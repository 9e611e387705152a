//! Metrics (feature `metrics`, through the `metrics` facade; DESIGN.md §13). Without
//! the feature every function here is empty and compiles away; with it and no recorder
//! installed, each is a check of the facade's no-op recorder.
//!
//! The per-request metrics (decisions, slow answers, cache hits) use handles registered
//! once per thread and recorder, not a registry look-up per request: each thread keeps a
//! table of handles, filled as label sets first occur, and starts it afresh when the
//! recorder in force changes (a global one installed later, or a local one). Recorders
//! are told apart by address: a local recorder dropped and another made at the same
//! address would reuse the old handles (a global recorder is never dropped).
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
//! | `zmq_auth_request_panics_total` | counter | `step` (`request`, `pooled`, `loop`, `prefetch`, `watcher`) |
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

#[cfg(feature = "metrics")]
fn reason_index(text: &str) -> usize {
    REASONS
        .iter()
        .position(|r| *r == text)
        .unwrap_or(REASONS.len())
}

#[cfg(feature = "metrics")]
fn status_index(status: StatusCode) -> usize {
    match status.as_u16() {
        200 => 0,
        300 => 1,
        400 => 2,
        _ => 3,
    }
}

#[cfg(feature = "metrics")]
fn mechanism_index(mechanism: Mechanism) -> usize {
    match mechanism {
        Mechanism::Null => 0,
        Mechanism::Plain => 1,
        Mechanism::Curve => 2,
        Mechanism::Gssapi => 3,
        Mechanism::Other => 4,
    }
}

/// Slow-answer kinds, as `SlowJob::kind` names them.
#[cfg(feature = "metrics")]
const KINDS: [&str; 4] = ["callback", "store_key", "hash", "store_user"];

/// The cache tables of `zmq_auth_store_cache_hits_total` (its `table` label).
#[derive(Clone, Copy)]
pub(crate) enum CacheTable {
    Keys = 0,
    Users = 1,
}

#[cfg(feature = "metrics")]
impl CacheTable {
    const COUNT: usize = 2;
    fn label(self) -> &'static str {
        match self {
            CacheTable::Keys => "keys",
            CacheTable::Users => "users",
        }
    }
}
/// Decision label sets: mechanism × status × reason (the reasons and `other`).
#[cfg(feature = "metrics")]
const DECISION_SETS: usize = 5 * 4 * (REASONS.len() + 1);

/// One thread's handles, for the recorder they were registered with.
#[cfg(feature = "metrics")]
struct Handles {
    /// The recorder in force when they were registered (its address).
    recorder: usize,
    decisions: Vec<Option<metrics::Counter>>,
    slow: [Option<metrics::Histogram>; KINDS.len()],
    hits: [Option<metrics::Counter>; CacheTable::COUNT],
}

#[cfg(feature = "metrics")]
impl Handles {
    fn new(recorder: usize) -> Handles {
        Handles {
            recorder,
            decisions: vec![None; DECISION_SETS],
            slow: Default::default(),
            hits: Default::default(),
        }
    }
}

#[cfg(feature = "metrics")]
thread_local! {
    static HANDLES: std::cell::RefCell<Option<Handles>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's handles for the recorder in force; `fallback` when the
/// thread's storage is gone (a thread ending) or in use.
#[cfg(feature = "metrics")]
fn with_handles(f: impl FnOnce(&mut Handles), fallback: impl FnOnce()) {
    let recorder = metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize);
    let done = HANDLES.try_with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return false;
        };
        let handles = match &mut *slot {
            Some(h) if h.recorder == recorder => h,
            other => other.insert(Handles::new(recorder)),
        };
        f(handles);
        true
    });
    if done != Ok(true) {
        fallback();
    }
}

/// One decision.
#[cfg(feature = "metrics")]
pub(crate) fn decision(mechanism: Mechanism, status: StatusCode, text: &str) {
    let register = move || {
        metrics::counter!(
            "zmq_auth_decisions_total",
            "mechanism" => mechanism.as_str(),
            "status" => status_label(status),
            "reason" => reason_label(text)
        )
    };
    let i = (mechanism_index(mechanism) * 4 + status_index(status)) * (REASONS.len() + 1)
        + reason_index(text);
    with_handles(
        |h| {
            if let Some(slot) = h.decisions.get_mut(i) {
                slot.get_or_insert_with(register).increment(1);
            }
            add_deferred_hits(Some(h));
        },
        || {
            register().increment(1);
            add_deferred_hits(None);
        },
    );
}

/// Time user code or a store took on the pool.
#[cfg(feature = "metrics")]
pub(crate) fn slow_answer(kind: &'static str, seconds: f64) {
    let register = || metrics::histogram!("zmq_auth_slow_answer_seconds", "kind" => kind);
    match KINDS.iter().position(|k| *k == kind) {
        Some(i) => with_handles(
            |h| h.slow[i].get_or_insert_with(register).record(seconds),
            || register().record(seconds),
        ),
        None => register().record(seconds),
    }
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

#[cfg(feature = "metrics")]
thread_local! {
    /// Whether this thread's cache hits wait for its next decision (see
    /// [`defer_cache_hits`]), and how many of each table wait.
    static DEFERRING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static DEFERRED: std::cell::Cell<[u32; CacheTable::COUNT]> =
        const { std::cell::Cell::new([0; CacheTable::COUNT]) };
}

/// From now on, this thread's cache hits are added to their counters by its next
/// [`decision`], under the same handle look-up. For the ZAP thread, where every cached
/// look-up is followed by the decision it leads to: one look-up of the thread's
/// handles per request instead of two.
#[cfg(feature = "metrics")]
pub(crate) fn defer_cache_hits() {
    let _ = DEFERRING.try_with(|d| d.set(true));
}

/// Adds this thread's deferred cache hits now, and stops deferring.
#[cfg(feature = "metrics")]
pub(crate) fn flush_cache_hits() {
    let _ = DEFERRING.try_with(|d| d.set(false));
    add_deferred_hits(None);
}

/// Adds the deferred hits, through the thread's handles when given.
#[cfg(feature = "metrics")]
fn add_deferred_hits(mut handles: Option<&mut Handles>) {
    let Ok(pending) = DEFERRED.try_with(|d| d.replace([0; CacheTable::COUNT])) else {
        return;
    };
    if pending == [0; CacheTable::COUNT] {
        return;
    }
    for (table, n) in [CacheTable::Keys, CacheTable::Users]
        .into_iter()
        .zip(pending)
    {
        if n != 0 {
            count_hits(handles.as_deref_mut(), table, u64::from(n));
        }
    }
}

/// Adds `n` to `table`'s hit counter, through the thread's handles when given.
#[cfg(feature = "metrics")]
fn count_hits(handles: Option<&mut Handles>, table: CacheTable, n: u64) {
    let register =
        || metrics::counter!("zmq_auth_store_cache_hits_total", "table" => table.label());
    match handles.and_then(|h| h.hits.get_mut(table as usize)) {
        Some(slot) => slot.get_or_insert_with(register).increment(n),
        None => register().increment(n),
    }
}

/// A store answer that came from its cache.
#[cfg(feature = "metrics")]
pub(crate) fn cache_hit(table: CacheTable) {
    if DEFERRING.try_with(std::cell::Cell::get) == Ok(true) {
        let _ = DEFERRED.try_with(|d| {
            let mut hits = d.get();
            if let Some(n) = hits.get_mut(table as usize) {
                *n = n.saturating_add(1);
            }
            d.set(hits);
        });
        return;
    }
    with_handles(
        |h| count_hits(Some(h), table, 1),
        || count_hits(None, table, 1),
    );
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
    pub(crate) fn cache_hit(_: super::CacheTable) {}
    #[inline(always)]
    pub(crate) fn defer_cache_hits() {}
    #[inline(always)]
    pub(crate) fn flush_cache_hits() {}
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

    #[test]
    fn handles_follow_the_recorder_in_force() {
        use metrics_exporter_prometheus::PrometheusBuilder;
        // Both alive at once: a recorder made where a dropped one was would look the
        // same (documented above; only local recorders can be dropped).
        let recorders = [
            PrometheusBuilder::new().build_recorder(),
            PrometheusBuilder::new().build_recorder(),
        ];
        for recorder in &recorders {
            metrics::with_local_recorder(recorder, || {
                decision(Mechanism::Null, StatusCode::Success, "OK");
                decision(Mechanism::Null, StatusCode::Success, "OK");
                decision(
                    Mechanism::Curve,
                    StatusCode::AuthenticationFailure,
                    "Unknown key",
                );
                slow_answer("hash", 0.5);
            });
            let text = recorder.handle().render();
            assert!(
                text.contains(
                    r#"zmq_auth_decisions_total{mechanism="NULL",status="200",reason="OK"} 2"#
                ),
                "{text}"
            );
            assert!(text.contains(r#"reason="Unknown key"} 1"#), "{text}");
            assert!(
                text.contains(r#"zmq_auth_slow_answer_seconds_count{kind="hash"} 1"#),
                "{text}"
            );
        }
    }
}
