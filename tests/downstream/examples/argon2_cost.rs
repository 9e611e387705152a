//! What one argon2id password check costs in this crate's build profile: the README's
//! numbers for debug builds with and without the `[profile.dev.package.argon2]` lines,
//! and for release builds. `cargo run --example argon2_cost [--release]`.

use std::time::Instant;

use zmq_auth::{hash_password, Authenticator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut auth = Authenticator::new();
    auth.configure_plain("*", [("alice", hash_password("correct-horse")?)])?;
    let request = |password: &'static [u8]| -> [&'static [u8]; 8] {
        [b"1.0", b"1", b"", b"127.0.0.1", b"", b"PLAIN", b"alice", password]
    };
    let checks = 5;
    let start = Instant::now();
    for _ in 0..checks {
        let reply = auth.handle_zap_message(&request(b"correct-horse"));
        assert_eq!(reply.status_code(), 200);
    }
    let per_check = start.elapsed() / checks;
    println!(
        "argon2id check (m=19 MiB, t=2, p=1), {} build: {:.0} ms",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        per_check.as_secs_f64() * 1000.0
    );
    Ok(())
}
