//! Concurrent edits (issue 18 finding 4): two `zmq-auth` runs on one password file or
//! one trusted directory never lose each other's change, and `trust` never replaces a
//! file another process created meanwhile.
//!
//! A run of `user add` can be held at its password prompt (its stdin is a pipe the test
//! writes later), and the test waits until the kernel shows it blocked reading stdin:
//! the old tool had read the file by then, so the interleaving that lost updates is
//! reproduced every time rather than by luck. Where `/proc/PID/syscall` cannot be read
//! the wait is skipped; the assertions hold whatever the interleaving.

use super::*;

/// Waits (up to [`DEADLINE`]) until process `pid` is blocked in `read(0, ...)`: the
/// tool waiting for its password. False when this cannot be observed here.
fn wait_at_prompt(pid: u32) -> bool {
    let path = format!("/proc/{pid}/syscall");
    let want = format!("{} 0x0 ", libc::SYS_read);
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        match std::fs::read_to_string(&path) {
            Ok(s) if s.starts_with(&want) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        // A polling interval, not a correctness mechanism: the test is correct under
        // any interleaving; the wait only makes the interesting one certain.
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// The names set in a password file, in order (one entry per line that sets one).
fn names_in(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.trim().to_string()))
        .collect()
}

#[test]
fn parallel_user_adds_to_one_file_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    std::fs::write(&file, "# users\nalice=Alice-pw-race-0\n").unwrap();
    let mut expected = vec!["alice".to_string()];
    for round in 0..10 {
        // Two runs held at the prompt, both past reading the file, then released.
        let names = [format!("a{round}"), format!("b{round}")];
        let runs: Vec<Running> = names
            .iter()
            .map(|n| spawn(["user", "add", n, "--file", p(&file)], true))
            .collect();
        for r in &runs {
            wait_at_prompt(r.pid());
        }
        let waits: Vec<_> = runs
            .into_iter()
            .zip(&names)
            .map(|(r, n)| {
                let pw = format!("Pw-race-{n}-31\n");
                std::thread::spawn(move || r.finish(Some(&pw)))
            })
            .collect();
        for w in waits {
            w.join().unwrap().expect(0);
        }
        expected.extend(names);
        expected.sort();
        // Each name exactly once; the two runs may land in either order.
        let mut found = names_in(&file);
        found.sort();
        assert_eq!(found, expected, "round {round}: an update was lost");
    }
    // The library admits every user with its password.
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &file).unwrap();
    assert_eq!(plain_status(&mut auth, "alice", "Alice-pw-race-0").0, 200);
    for n in ["a0", "b0", "a9", "b9"] {
        let pw = format!("Pw-race-{n}-31");
        assert_eq!(plain_status(&mut auth, n, &pw), (200, n.to_string()));
    }
    assert_only(dir.path(), &["passwords"]);
}

#[test]
fn user_remove_beside_user_add_leaves_the_user_removed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");
    for round in 0..5 {
        std::fs::write(&file, "alice=Alice-pw-race-1\nmallory=Mallory-pw-race-1\n").unwrap();
        let add = spawn(["user", "add", "carol", "--file", p(&file)], true);
        wait_at_prompt(add.pid());
        let out = tool(["user", "remove", "mallory", "--file", p(&file)]).expect(0);
        assert!(out.stdout.contains("removed"), "{out:?}");
        add.finish(Some("Carol-pw-race-1\n")).expect(0);
        assert_eq!(
            names_in(&file),
            ["alice", "carol"],
            "round {round}: the removal was undone"
        );
    }
    let mut auth = Authenticator::new();
    auth.configure_plain_file("*", &file).unwrap();
    assert_eq!(
        plain_status(&mut auth, "mallory", "Mallory-pw-race-1").0,
        400
    );
    assert_eq!(plain_status(&mut auth, "carol", "Carol-pw-race-1").0, 200);
}

/// Nothing in `dir` but `names` (no temporary file left behind).
fn assert_only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, names, "left in {}", dir.display());
}

#[test]
fn parallel_trusts_of_one_name_admit_exactly_one_key() {
    if !zmq_auth::curve_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // Four different keys, each as `alice.key` in its own directory.
    let sources: Vec<PathBuf> = (0..4)
        .map(|i| {
            let d = root.path().join(format!("src{i}"));
            std::fs::create_dir(&d).unwrap();
            create_certificates(&d, "alice", &[]).unwrap().0
        })
        .collect();
    for round in 0..10 {
        let trusted = root.path().join(format!("trusted{round}"));
        std::fs::create_dir(&trusted).unwrap();
        let runs: Vec<Running> = sources
            .iter()
            .map(|s| spawn(["trust", p(s), "--dir", p(&trusted)], false))
            .collect();
        let outs: Vec<Out> = runs.into_iter().map(|r| r.finish(None)).collect();
        let winners: Vec<usize> = (0..outs.len()).filter(|&i| outs[i].code == 0).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outs:#?}");
        for (i, out) in outs.iter().enumerate() {
            if i != winners[0] {
                assert_eq!(out.code, 2, "round {round}: {out:?}");
                assert!(out.stderr.contains("exists"), "round {round}: {out:?}");
            }
        }
        // The file holds the key of the run that said "trusted".
        let kept = load_certificate(trusted.join("alice.key")).unwrap();
        let winner = load_certificate(&sources[winners[0]]).unwrap();
        assert_eq!(kept.public_key(), winner.public_key(), "round {round}");
        assert_only(&trusted, &["alice.key"]);
    }
}

#[test]
fn parallel_trusts_of_one_key_write_one_file() {
    if !zmq_auth::curve_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let keys = root.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (alice, _) = create_certificates(&keys, "alice", &[]).unwrap();
    // The same public certificate under four names.
    let copies: Vec<PathBuf> = (0..4)
        .map(|i| {
            let c = keys.join(format!("copy{i}.key"));
            std::fs::copy(&alice, &c).unwrap();
            c
        })
        .collect();
    for round in 0..10 {
        let trusted = root.path().join(format!("trusted{round}"));
        std::fs::create_dir(&trusted).unwrap();
        let runs: Vec<Running> = copies
            .iter()
            .map(|c| spawn(["trust", p(c), "--dir", p(&trusted)], false))
            .collect();
        for r in runs {
            r.finish(None).expect(0);
        }
        let files = std::fs::read_dir(&trusted).unwrap().count();
        assert_eq!(files, 1, "round {round}: the key was trusted twice");
        tool(["check", p(&trusted)]).expect(0);
    }
}

#[test]
fn trust_never_replaces_a_file_created_meanwhile() {
    if !zmq_auth::curve_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let (mine, _) = create_certificates(root.path(), "alice", &[]).unwrap();
    let foreign = "# made by another program\n";
    let mut caught = 0;
    for round in 0..20 {
        let trusted = root.path().join(format!("trusted{round}"));
        std::fs::create_dir(&trusted).unwrap();
        let target = trusted.join("alice.key");
        let mut run = spawn(["trust", p(&mine), "--dir", p(&trusted)], false);
        // Another program creates alice.key as soon as the tool's temporary file shows
        // (after the tool has found the name free, before its file is in place).
        let mut created = false;
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let tmp_seen = std::fs::read_dir(&trusted)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp"));
            if tmp_seen || std::fs::symlink_metadata(&target).is_ok() {
                created = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .and_then(|mut f| f.write_all(foreign.as_bytes()))
                    .is_ok();
                break;
            }
            if run.child_exited() {
                break;
            }
        }
        let out = run.finish(None);
        let text = std::fs::read_to_string(&target).unwrap_or_default();
        if created {
            caught += 1;
            assert_eq!(text, foreign, "round {round}: trust replaced it: {out:?}");
            assert_eq!(out.code, 2, "round {round}: {out:?}");
            assert!(out.stderr.contains("alice.key"), "round {round}: {out:?}");
        } else {
            out.expect(0);
            assert!(text.contains("public-key"), "round {round}");
        }
        assert!(
            std::fs::read_dir(&trusted).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")),
            "round {round}: a temporary file was left behind"
        );
    }
    println!(
        "trust_never_replaces_a_file_created_meanwhile: the race was hit in {caught} of 20 rounds"
    );
}
