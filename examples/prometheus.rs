//! Prometheus: the authenticator's metrics served over HTTP while a demo server takes
//! some good and some bad clients.
//!
//! The library only emits metrics through the `metrics` facade (feature `metrics`);
//! this example installs `metrics-exporter-prometheus`, which serves `/metrics` at
//! `ZMQ_AUTH_METRICS_ADDR` (default `127.0.0.1:9898`). It runs a PLAIN server with a
//! lock-out, connects a few clients with right and wrong passwords, reads its own
//! `/metrics` as Prometheus would and checks the counters. With `--serve` it then keeps
//! going (a good and a bad client every second) until stopped.
//!
//! ```text
//! cargo run --example prometheus --features metrics
//! cargo run --example prometheus --features metrics -- --serve   # curl 127.0.0.1:9898/metrics
//! ```

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{ensure, last_endpoint, plain_client, recv_within, Result};
use metrics_exporter_prometheus::PrometheusBuilder;
use zmq_auth::{require_zap, zmq, ThreadAuthenticator};

/// The address to serve on: `ZMQ_AUTH_METRICS_ADDR`, else 127.0.0.1:9898 (or, when
/// that port is taken and no address was asked for, a free one).
fn metrics_addr() -> Result<SocketAddr> {
    if let Ok(a) = std::env::var("ZMQ_AUTH_METRICS_ADDR") {
        return Ok(a.parse()?);
    }
    let default: SocketAddr = "127.0.0.1:9898".parse()?;
    if TcpListener::bind(default).is_ok() {
        return Ok(default);
    }
    let free = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    println!("note: 127.0.0.1:9898 is taken; serving on {free} instead");
    Ok(free)
}

/// `GET /metrics`, as Prometheus scrapes it.
fn scrape(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The value of the first sample line that starts with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() -> Result {
    env_logger::init();
    let addr = metrics_addr()?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("metrics exporter: {e}"))?;
    println!("metrics: http://{addr}/metrics");

    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx)?;
    auth.configure_plain("*", [("admin", "correct-horse")])?;
    auth.limit_failures(5, Duration::from_secs(60), Duration::from_secs(60))?;
    let server = ctx.socket(zmq::PULL)?;
    server.set_linger(0)?;
    server.set_plain_server(true)?;
    require_zap(&server, "demo")?;
    server.bind("tcp://127.0.0.1:*")?;
    let endpoint = last_endpoint(&server)?;

    let round = |tag: &str| -> Result<(bool, bool)> {
        let good = plain_client(&ctx, &endpoint, "admin", "correct-horse")?;
        good.send(tag, 0)?;
        let admitted = recv_within(&server, Duration::from_secs(5))?.is_some();
        let bad = plain_client(&ctx, &endpoint, "admin", "a-wrong-guess")?;
        bad.send(tag, zmq::DONTWAIT)?;
        let refused = recv_within(&server, Duration::from_millis(300))?.is_none();
        Ok((admitted, refused))
    };
    for i in 0..3 {
        let (admitted, refused) = round(&format!("hello {i}"))?;
        ensure(
            admitted && refused,
            "a good client admitted, a bad one refused",
        )?;
    }

    let text = scrape(addr)?;
    let ok = sample(
        &text,
        r#"zmq_auth_decisions_total{mechanism="PLAIN",status="200",reason="OK"}"#,
    );
    let bad = sample(
        &text,
        r#"zmq_auth_decisions_total{mechanism="PLAIN",status="400",reason="Invalid password"}"#,
    );
    for line in text
        .lines()
        .filter(|l| l.starts_with("zmq_auth_decisions_total"))
    {
        println!("  {line}");
    }
    ensure(ok >= 3.0, "/metrics counts the admitted clients")?;
    ensure(bad >= 3.0, "/metrics counts the refused clients")?;

    if std::env::args().any(|a| a == "--serve") {
        println!("serving until stopped (a good and a bad client every second)");
        loop {
            std::thread::sleep(Duration::from_secs(1));
            round("tick")?;
        }
    }
    Ok(())
}
