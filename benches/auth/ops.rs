//! Operations (issue 15): the per-message `still_admits` check in nanoseconds. (The
//! throughput rows with the lock-out and with a metrics recorder are configurations of
//! `throughput.rs`, measured against the bare floor like the others.)

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use zmq_auth::zmq;
use zmq_auth::{encode_z85_key, Mechanism, ThreadAuthenticator};

use crate::table::{Row, Target};
use crate::throughput::Data;
use crate::zap::BoxError;
use crate::{Params, DOMAIN};

/// Mean nanoseconds per call of `f(i)` over `n` calls (after `n / 10` warm-up calls);
/// every call must return true.
pub fn ns_per_call(n: usize, f: impl Fn(usize) -> bool) -> Result<f64, BoxError> {
    for i in 0..n / 10 {
        if !black_box(f(black_box(i))) {
            return Err(format!("call {i} returned false").into());
        }
    }
    let t = Instant::now();
    let mut admitted = 0usize;
    for i in 0..n {
        admitted += usize::from(black_box(f(black_box(i))));
    }
    let ns = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    if admitted != n {
        return Err(format!("{} of {n} calls returned false", n - admitted).into());
    }
    Ok(ns)
}

pub fn still_admits_rows(
    d: &Data,
    p: &Params,
    rows: &mut Vec<Row>,
    summary: &mut Vec<(String, f64)>,
) -> Result<(), BoxError> {
    eprintln!("still_admits per message...");
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_plain(DOMAIN, d.users.clone())?;
    auth.configure_curve(DOMAIN, &d.dir.dir)?;
    let names: Vec<&str> = d.users.iter().map(|(u, _)| u.as_str()).collect();
    let z85: Vec<String> = d.dir.public.iter().map(encode_z85_key).collect();
    let set: HashSet<&str> = z85.iter().map(String::as_str).collect();
    let reference = ns_per_call(p.still_calls, |i| set.contains(z85[i % z85.len()].as_str()))?;
    let plain = ns_per_call(p.still_calls, |i| {
        auth.still_admits(DOMAIN, Mechanism::Plain, names[i % names.len()])
    })?;
    let curve = ns_per_call(p.still_calls, |i| {
        auth.still_admits(DOMAIN, Mechanism::Curve, &z85[i % z85.len()])
    })?;
    summary.push(("still_admits_plain_ns".into(), plain));
    summary.push(("still_admits_curve_ns".into(), curve));
    summary.push(("still_admits_reference_ns".into(), reference));
    let reference_text = format!("{reference:.0} ns");
    rows.push(Row {
        name: format!(
            "still_admits per message, PLAIN map of {} users (floor: std HashSet<&str> probe)",
            names.len()
        ),
        floor: reference_text.clone(),
        ours: format!("{plain:.0} ns"),
        ratio: None,
        target: Target::Info,
    });
    rows.push(Row {
        name: format!(
            "still_admits per message, CURVE {}-cert dir, Z85 User-Id (same floor)",
            z85.len()
        ),
        floor: reference_text,
        ours: format!("{curve:.0} ns"),
        ratio: None,
        target: Target::Info,
    });
    Ok(())
}
