//! `probe` against real servers, and every command's `--help`.

use super::*;

// ----------------------------------------------------------------------------- probe

/// A CURVE server guarded by `ThreadAuthenticator` trusting `trusted`, on its own
/// context; kept alive as long as the value.
struct CurveServer {
    _auth: ThreadAuthenticator,
    _sock: zmq::Socket,
    _ctx: zmq::Context,
    endpoint: String,
    public_key: String,
}

fn curve_server(trusted: &Path, server_secret: &Path) -> CurveServer {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    auth.configure_curve("*", trusted).unwrap();
    let cert: Certificate = load_certificate(server_secret).unwrap();
    let (sock, endpoint) = bind_server(&ctx, zmq::ROUTER, |s| {
        s.set_curve_server(true).unwrap();
        s.set_curve_secretkey(cert.secret_key_bytes().unwrap())
            .unwrap();
    });
    CurveServer {
        _auth: auth,
        _sock: sock,
        _ctx: ctx,
        endpoint,
        public_key: cert.public_key().to_string(),
    }
}

#[test]
fn probe_reports_admitted_refused_wrong_server_key_and_no_answer() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let (_, server_secret) = create_certificates(&d.keys, "server", &[]).unwrap();
    let server = curve_server(&d.trusted, &server_secret);
    let ep = server.endpoint.as_str();
    let key = server.public_key.as_str();
    let alice = d.keys.join("alice.key_secret");
    let spare = d.keys.join("spare.key_secret");

    // Trusted client: admitted, exit 0.
    let out = tool(["probe", ep, "--server-key", key, "--cert", p(&alice)]).expect(0);
    assert!(out.stdout.starts_with("admitted"), "{out:?}");

    // Untrusted client: the server's 400, exit 1.
    let out = tool(["probe", ep, "--server-key", key, "--cert", p(&spare)]).expect(1);
    assert!(out.stdout.starts_with("refused"), "{out:?}");
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    // Without --cert a throwaway key is refused the same way, with a hint.
    let out = tool(["probe", ep, "--server-key", key]).expect(1);
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    assert!(out.stdout.contains("--cert"), "{out:?}");

    // Wrong server key: the server cannot read our HELLO and hangs up.
    let wrong = load_certificate(d.keys.join("bob.key")).unwrap();
    let out = tool([
        "probe",
        ep,
        &format!("--server-key={}", wrong.public_key()),
        "--cert",
        p(&alice),
    ])
    .expect(1);
    assert!(out.stdout.starts_with("handshake failed"), "{out:?}");
    assert!(out.stdout.contains("--server-key"), "{out:?}");

    for secret in [&alice, &spare] {
        let cert = load_certificate(secret).unwrap();
        assert!(!out.all().contains(cert.secret_key().unwrap()));
    }
}

#[test]
fn probe_with_nothing_listening_gives_up_within_the_timeout() {
    if !zmq_auth::curve_available() {
        return;
    }
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let key = zmq_auth::encode_z85_key(&[1; 32]);
    let start = Instant::now();
    let out = tool(["probe", &endpoint, "--server-key", &key, "--timeout", "0.5"]).expect(1);
    let took = start.elapsed();
    assert!(out.stdout.starts_with("no answer"), "{out:?}");
    assert!(out.stdout.contains("could not connect"), "{out:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn probe_plain_reads_the_password_from_stdin() {
    let ctx = zmq::Context::new();
    let auth = ThreadAuthenticator::start(&ctx).unwrap();
    let password = "correct-horse-battery";
    auth.configure_plain("*", [("admin", password)]).unwrap();
    let (_sock, ep) = bind_server(&ctx, zmq::ROUTER, |s| s.set_plain_server(true).unwrap());

    let out = tool_with_stdin(
        ["probe", &ep, "--plain-user", "admin"],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(out.stdout.starts_with("admitted"), "{out:?}");
    assert!(!out.all().contains(password), "probe printed the password");

    let out = tool_with_stdin(
        ["probe", &ep, "--plain-user", "admin"],
        Some("wrong-password-here\n"),
    )
    .expect(1);
    assert!(out.stdout.contains("answered 400"), "{out:?}");
    assert!(!out.all().contains("wrong-password-here"));

    // An empty stdin is no password: a usage error, nothing sent.
    let out = tool(["probe", &ep, "--plain-user", "admin"]).expect(2);
    assert!(out.stderr.contains("empty password"), "{out:?}");

    // A CURVE client against this PLAIN server: libzmq reports a mechanism mismatch
    // or (when the server hangs up first) a closed connection; either way, not in.
    if zmq_auth::curve_available() {
        let key = zmq_auth::encode_z85_key(&[1; 32]);
        let out = tool(["probe", &ep, "--server-key", &key]).expect(1);
        assert!(out.stdout.starts_with("handshake failed"), "{out:?}");
    }
}

#[test]
fn probe_argument_errors_are_exit_2() {
    // CURVE needs a server key; a bad one is named but never echoed.
    tool(["probe", "tcp://127.0.0.1:1"]).expect(2);
    let out = tool(["probe", "tcp://127.0.0.1:1", "--server-key", "tooshortkey"]).expect(2);
    assert!(out.stderr.contains("--server-key"), "{out:?}");
    assert!(!out.stderr.contains("tooshortkey"), "{out:?}");
    let key = zmq_auth::encode_z85_key(&[1; 32]);
    let out = tool(["probe", "nonsense://x", "--server-key", &key]).expect(2);
    assert!(out.stderr.contains("nonsense://x"), "{out:?}");
    // A server key beginning with `-` is a value, not an option.
    let out = tool([
        "probe",
        "nonsense://x",
        "--server-key",
        &format!("-{}", &key[1..]),
    ])
    .expect(2);
    assert!(out.stderr.contains("nonsense://x"), "{out:?}");
    let out = tool([
        "probe",
        "tcp://127.0.0.1:1",
        "--server-key",
        &key,
        "--timeout=0",
    ])
    .expect(2);
    assert!(out.stderr.contains("--timeout"), "{out:?}");
    // --cert must hold a secret key.
    if zmq_auth::curve_available() {
        let pub_file = Path::new(FIXTURES).join("pyzmq/alice.key");
        let out = tool([
            "probe",
            "tcp://127.0.0.1:1",
            "--server-key",
            &key,
            "--cert",
            p(&pub_file),
        ])
        .expect(2);
        assert!(out.stderr.contains("alice.key"), "{out:?}");
    }
}

// ------------------------------------------------------------------------------ help

#[test]
fn every_command_has_help_with_exit_codes_and_an_example() {
    let top = tool(["--help"]).expect(0);
    assert!(top.stdout.contains("Exit status"), "{top:?}");
    for cmd in [
        "keygen",
        "public",
        "show",
        "check",
        "trust",
        "revoke",
        "probe",
        "key add",
        "key revoke",
        "key list",
        "user add",
        "user remove",
        "user list",
    ] {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let out = tool(&args).expect(0);
        assert!(out.stdout.contains("Exit status: 0"), "{cmd}: {out:?}");
        assert!(out.stdout.contains("Example:"), "{cmd}: {out:?}");
        assert!(
            out.stdout.contains(&format!("zmq-auth {cmd}")),
            "{cmd}: {out:?}"
        );
    }
    for group in ["key", "user"] {
        let out = tool([group, "--help"]).expect(0);
        assert!(out.stdout.contains("Exit status: 0"), "{group}: {out:?}");
        assert!(out.stdout.contains("Example:"), "{group}: {out:?}");
    }
}

#[test]
fn probe_says_an_endpoint_needs_a_transport() {
    let key = zmq_auth::encode_z85_key(&[1; 32]);
    let out = tool(["probe", "127.0.0.1:9000", "--server-key", &key]).expect(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("tcp://127.0.0.1:9000"), "{out:?}");
    assert!(!out.stderr.contains("Invalid argument"), "{out:?}");
}

#[test]
fn probe_takes_the_server_key_from_a_certificate_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let d = dirs();
    let (server_pub, server_secret) = create_certificates(&d.keys, "server", &[]).unwrap();
    let server = curve_server(&d.trusted, &server_secret);
    let alice = d.keys.join("alice.key_secret");
    let out = tool([
        "probe",
        &server.endpoint,
        "--server-key",
        p(&server_pub),
        "--cert",
        p(&alice),
    ])
    .expect(0);
    assert!(out.stdout.starts_with("admitted"), "{out:?}");
    // A file that is not a certificate is named.
    let bad = d.keys.join("notes.txt");
    std::fs::write(&bad, "hello\n").unwrap();
    let out = tool([
        "probe",
        &server.endpoint,
        "--server-key",
        p(&bad),
        "--cert",
        p(&alice),
    ])
    .expect(2);
    assert!(out.stderr.contains("notes.txt"), "{out:?}");
}
