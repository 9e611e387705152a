//! `user ... --file`: password files.

use super::*;

#[test]
fn user_add_and_remove_in_a_password_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    let original = "# PLAIN users\n\nguest = guest-pw-1\r\n# admin=not-this-one\nadmin=old-plain-pw\nops=ops-pw\n";
    std::fs::write(&file, original).unwrap();
    set_mode(&file, 0o640);
    let password = "File-pw-cli-5d1c0";

    let out = tool_with_stdin(
        ["user", "add", "admin", "--file", p(&file)],
        Some(&format!("{password}\n")),
    )
    .expect(0);
    assert!(!out.all().contains(password), "printed the password");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(password), "plaintext in the file: {text}");
    assert!(!text.contains("old-plain-pw"), "old line kept: {text}");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(lines[0], "# PLAIN users\n");
    assert_eq!(lines[1], "\n");
    assert_eq!(lines[2], "guest = guest-pw-1\r\n");
    assert_eq!(lines[3], "# admin=not-this-one\n");
    assert!(lines[4].starts_with("admin=$argon2id$"), "{text}");
    assert_eq!(lines[5], "ops=ops-pw\n");
    assert_eq!(mode(&file), 0o640, "mode kept");
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A new user is appended; the library admits both with their passwords.
    tool_with_stdin(
        ["user", "add", "carol", "--file", p(&file)],
        Some("Carol-pw-cli-77\n"),
    )
    .expect(0);
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &file).unwrap();
    assert_eq!(
        plain_status(&mut auth, "admin", password),
        (200, "admin".to_string())
    );
    assert_eq!(plain_status(&mut auth, "admin", "old-plain-pw").0, 400);
    assert_eq!(plain_status(&mut auth, "carol", "Carol-pw-cli-77").0, 200);
    assert_eq!(plain_status(&mut auth, "guest", "guest-pw-1").0, 200);
    assert_eq!(plain_status(&mut auth, "ops", "ops-pw").0, 200);

    // remove deletes the line only; a second time finds nothing (1, file untouched).
    tool(["user", "remove", "carol", "--file", p(&file)]).expect(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("carol"), "{text}");
    assert!(text.starts_with(
        "# PLAIN users\n\nguest = guest-pw-1\r\n# admin=not-this-one\nadmin=$argon2id$"
    ));
    assert!(text.ends_with("\nops=ops-pw\n"), "{text}");
    tool(["user", "remove", "carol", "--file", p(&file)]).expect(1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    // A missing file is created with mode 0600.
    let fresh = dir.path().join("fresh");
    tool_with_stdin(
        ["user", "add", "dave", "--file", p(&fresh)],
        Some("Dave-pw-cli-31\n"),
    )
    .expect(0);
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &fresh).unwrap();
    assert_eq!(plain_status(&mut auth, "dave", "Dave-pw-cli-31").0, 200);

    // Errors, one line each: --domain with --file, a name the file cannot hold, a
    // missing file to remove from.
    let before = std::fs::read_to_string(&file).unwrap();
    for (args, names) in [
        (
            vec!["user", "add", "x", "--file", p(&file), "--domain", "d"],
            "--domain",
        ),
        (vec!["user", "add", "a=b", "--file", p(&file)], "NAME"),
        (vec!["user", "add", "#x", "--file", p(&file)], "NAME"),
        (
            vec!["user", "remove", "x", "--file", "/nonexistent/pw"],
            "/nonexistent/pw",
        ),
    ] {
        let out = tool_with_stdin(&args, Some("Pw-never-used-2\n")).expect(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(names), "{args:?}: {out:?}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn user_list_of_a_password_file_prints_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    std::fs::write(
        &file,
        "# users\nguest = Guest-pw-list-1\n\n# old=gone\nadmin=$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA\n",
    )
    .unwrap();
    let out = tool(["user", "list", "--file", p(&file)]).expect(0);
    assert_eq!(out.stdout, "guest\nadmin\n", "{out:?}");
    assert!(!out.all().contains("Guest-pw-list-1"), "printed a password");
    assert!(!out.all().contains("argon2"), "printed a hash");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let out = tool(["user", "list", "--file", p(&empty)]).expect(0);
    assert!(out.stdout.contains("no users"), "{out:?}");
    let out = tool(["user", "list", "--file", p(&dir.path().join("nope"))]).expect(2);
    assert!(out.stderr.contains("nope"), "{out:?}");
}
