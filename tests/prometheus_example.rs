//! Runs the `prometheus` example with `--serve` and scrapes its `/metrics` over HTTP as
//! Prometheus would: the decision counters are there and keep moving.
#![cfg(feature = "metrics")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example binary, built by `cargo test` next to this test's directory.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    profile_dir.join("examples").join("prometheus")
}

fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

fn admitted(text: &str) -> f64 {
    let series = r#"zmq_auth_decisions_total{mechanism="PLAIN",status="200",reason="OK"} "#;
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn scraped_counters_move() {
    let exe = example();
    assert!(exe.exists(), "{} was not built", exe.display());
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let _child = Killed(
        Command::new(&exe)
            .arg("--serve")
            .env("ZMQ_AUTH_METRICS_ADDR", addr.to_string())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first = None;
    while Instant::now() < deadline {
        if let Some(text) = scrape(addr) {
            let n = admitted(&text);
            match first {
                None if n >= 3.0 => first = Some(n),
                Some(f) if n > f => {
                    assert!(text.contains("# TYPE zmq_auth_decisions_total counter"));
                    assert!(text.contains(r#"reason="Invalid password""#));
                    return;
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(100)); // a scrape interval
    }
    panic!("the counters did not move within 30 s (first: {first:?})");
}
