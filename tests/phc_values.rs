//! Issue 20: a password value that looks like a PHC string (`$id$...`) but is not an
//! argon2id hash (bcrypt `$2b$`, sha512-crypt `$6$`, yescrypt `$y$`, scrypt, pbkdf2) is
//! never taken as a plaintext password: an error at configuration (maps and files), a
//! malformed entry that admits no one (with a warning) at a re-check.

mod common;
mod log_capture;

use std::time::Duration;

use common::*;
use log_capture::{install_logger, records};
use zmq_auth::{hash_password, zmq, Authenticator, Error, ThreadAuthenticator};

/// Values operators paste from other systems' password databases.
const FOREIGN_HASHES: &[&str] = &[
    "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "$2y$10$abcdefghijklmnopqrstuu5Xq1vVQ6pSZ3u0QmTz2bXqD0cB2uYqG",
    "$6$rounds=5000$saltsalt$Xc0z9nWm3G0D2i8wQ7p1kq4lU5mWm0hQ6r3yJbN2vT8",
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
    "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    "$pbkdf2-sha256$29000$N2bMWSvlvFfKWas1ZixF6A$8Ex2IKVXn9P7UKQ1TwTvyXGx9kbaD8vY4cfq7c1fCWY",
    "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$Dd8lbHiFXVwdFGAqSvlyNA",
];

#[test]
fn foreign_hashes_in_a_map_are_configuration_errors() {
    let mut auth = Authenticator::new();
    for value in FOREIGN_HASHES {
        match auth.configure_plain("*", [("alice", *value)]) {
            Err(err @ Error::InvalidConfig(_)) => {
                let shown = err.to_string();
                assert!(shown.contains("argon2id"), "{shown}");
                assert!(!shown.contains(value), "never quotes the value: {shown}");
            }
            other => panic!("{value}: expected InvalidConfig, got {other:?}"),
        }
    }
    // Nothing was configured: PLAIN is still refused.
    let req: [&[u8]; 8] = [
        b"1.0",
        b"1",
        b"",
        b"127.0.0.1",
        b"",
        b"PLAIN",
        b"alice",
        b"x",
    ];
    assert_eq!(
        auth.handle_zap_message(&req).status_text(),
        "No passwords defined"
    );
}

#[test]
fn foreign_hashes_in_a_file_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = Authenticator::new();
    for value in FOREIGN_HASHES {
        let path = dir.path().join("passwords");
        std::fs::write(
            &path,
            format!("# users\nbob=Pw-phc-values-b0b\nalice={value}\n"),
        )
        .unwrap();
        match auth.configure_plain_file("*", &path) {
            Err(err @ Error::Parse { line: 3, .. }) => {
                let shown = err.to_string();
                assert!(shown.contains("argon2id"), "{shown}");
                assert!(!shown.contains(value), "never quotes the value: {shown}");
            }
            other => panic!("{value}: expected a parse error on line 3, got {other:?}"),
        }
    }
}

#[test]
fn a_foreign_hash_at_a_recheck_admits_no_one() {
    install_logger();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    let alice_pw = "Pw-phc-values-a11ce";
    std::fs::write(
        &path,
        format!(
            "alice={}\nbob=Pw-phc-values-b0b\n",
            hash_password(alice_pw).unwrap()
        ),
    )
    .unwrap();
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let events = auth.events();
    auth.configure_plain_file("*", &path).unwrap();
    let dealer = zap_dealer(&ctx);
    assert_eq!(
        plain_status(&dealer, "", "bob", "Pw-phc-values-b0b").0,
        "200"
    );

    // Someone pastes bob's bcrypt hash from another system.
    let bcrypt = FOREIGN_HASHES[0];
    std::fs::write(
        &path,
        format!("alice={}\nbob={bcrypt}\n", hash_password(alice_pw).unwrap()),
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || plain_status(
            &dealer,
            "",
            "bob",
            "Pw-phc-values-b0b"
        ) == (
            "400".to_string(),
            "Invalid username".to_string()
        )),
        "the re-check never dropped bob's entry"
    );
    // The hash text is not bob's password either.
    let server = plain_server(&ctx, None);
    let client = plain_client(&ctx, &server.endpoint, "bob", bcrypt);
    assert_refused_skipping(&events, &server, &client, "Invalid username");
    // The rest of the file applies.
    let client = plain_client(&ctx, &server.endpoint, "alice", alice_pw);
    let mut msg = assert_connects(&server, &client);
    assert_eq!(user_id(&mut msg).as_deref(), Some("alice"));
    // A warning names the file and line, never the value.
    let all = records();
    assert!(
        all.iter().any(|r| r.starts_with("WARN ")
            && r.contains(&format!("{}:2:", path.display()))
            && r.contains("argon2id")),
        "records:\n{}",
        all.join("\n")
    );
    assert!(all.iter().all(|r| !r.contains(bcrypt)));
}
