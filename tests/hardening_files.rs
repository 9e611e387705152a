//! Hardening (issue #6): certificate directories holding things that are not plain
//! files — a FIFO, a directory named `x.key`, a dangling symlink, a symlink loop, a
//! device, an oversized file, a mode-000 file — neither hang nor abort loading, at
//! configuration time or on the periodic reload. Every wait is bounded.

mod hardening_common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hardening_common::{keypair, with_deadline, write_public_cert};
use zmq_auth::{load_certificates, Authenticator};

const LIMIT: Duration = Duration::from_secs(5);

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// A directory with one good certificate and every kind of awkward entry. Returns the
/// good key.
fn awkward_dir(dir: &Path) -> [u8; 32] {
    let good = keypair().public_key;
    write_public_cert(dir, "good", &good);
    mkfifo(&dir.join("fifo.key"));
    std::fs::create_dir(dir.join("x.key")).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling.key")).unwrap();
    symlink(dir.join("b.key"), dir.join("a.key")).unwrap();
    symlink(dir.join("a.key"), dir.join("b.key")).unwrap();
    symlink("/dev/zero", dir.join("zero.key")).unwrap();
    symlink(dir.join("fifo.key"), dir.join("to-fifo.key")).unwrap();
    std::fs::write(dir.join("big.key"), vec![b'#'; (1 << 20) + 1]).unwrap();
    // Tests run as root, so mode 000 does not stop reads; it must not hurt either.
    let locked = write_public_cert(dir, "locked", &keypair().public_key);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    good
}

fn curve_request(key: &[u8; 32]) -> [&[u8]; 7] {
    [b"1.0", b"1", b"", b"127.0.0.1", b"", b"CURVE", key]
}

#[test]
fn configure_curve_refuses_awkward_entries_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let good = awkward_dir(&dir);
    let started = Instant::now();
    let result = with_deadline(LIMIT, move || {
        let mut auth = Authenticator::new();
        let r = auth.configure_curve("*", &dir);
        let status = auth.handle_zap_message(&curve_request(&good)).status_code();
        let unknown = auth
            .handle_zap_message(&curve_request(&[9u8; 32]))
            .status_code();
        (r.map_err(|e| e.to_string()), status, unknown)
    })
    .expect("configure_curve hung on a FIFO, symlink loop or device");
    // Fail closed: at a configuration call a file that does not load is an error naming
    // it, and no CURVE policy is set (the reload test below shows them skipped later).
    let (r, status, unknown) = result;
    let err = r.expect_err("a directory with unloadable *.key files is refused");
    assert!(err.contains(".key"), "names the file: {err}");
    assert_eq!((status, unknown), (400, 400));
    eprintln!("awkward directory configured in {:?}", started.elapsed());
}

#[test]
fn reload_skips_awkward_entries_added_later() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let good = keypair().public_key;
    write_public_cert(&dir, "good", &good);
    let result = with_deadline(LIMIT, move || {
        let mut auth = Authenticator::new();
        auth.set_reload_interval(Duration::ZERO);
        auth.configure_curve("*", &dir).unwrap();
        let later = keypair().public_key;
        awkward_dir_extras(&dir);
        write_public_cert(&dir, "later", &later);
        let mut statuses = Vec::new();
        // A few requests: each one may trigger a rescan.
        for _ in 0..3 {
            statuses.push(auth.handle_zap_message(&curve_request(&good)).status_code());
            statuses.push(
                auth.handle_zap_message(&curve_request(&later))
                    .status_code(),
            );
            std::thread::sleep(Duration::from_millis(150));
        }
        statuses
    })
    .expect("a rescan hung on a FIFO, symlink loop or device");
    assert!(result.iter().all(|&s| s == 200), "{result:?}");
}

fn awkward_dir_extras(dir: &Path) {
    mkfifo(&dir.join("fifo.key"));
    std::fs::create_dir(dir.join("x.key")).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling.key")).unwrap();
    symlink(dir.join("b.key"), dir.join("a.key")).unwrap();
    symlink(dir.join("a.key"), dir.join("b.key")).unwrap();
    symlink("/dev/zero", dir.join("zero.key")).unwrap();
}

#[test]
fn a_symlink_loop_as_the_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let a: PathBuf = tmp.path().join("a");
    symlink(tmp.path().join("b"), &a).unwrap();
    symlink(&a, tmp.path().join("b")).unwrap();
    let r = with_deadline(LIMIT, move || {
        let mut auth = Authenticator::new();
        auth.configure_curve("*", &a).map_err(|e| e.to_string())
    })
    .expect("configure_curve hung on a looping directory");
    assert!(r.is_err(), "{r:?}");
}

/// `load_certificates` lists every `*.key` and must not block opening a FIFO (no
/// writer ever comes) or follow a loop forever. An error naming the file is fine.
#[test]
fn load_certificates_does_not_hang_on_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_public_cert(&dir, "good", &keypair().public_key);
    mkfifo(&dir.join("fifo.key"));
    let r = with_deadline(LIMIT, move || {
        load_certificates(&dir)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    });
    // Unblock the helper thread if it is stuck in open(2): open the write end.
    if r.is_none() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path().join("fifo.key"));
    }
    let r = r.expect("load_certificates blocked for ever opening fifo.key");
    eprintln!("load_certificates with a FIFO: {r:?}");
}

#[test]
fn load_certificates_does_not_hang_on_links_dirs_and_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    write_public_cert(&dir, "good", &keypair().public_key);
    std::fs::create_dir(dir.join("x.key")).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling.key")).unwrap();
    symlink(dir.join("b.key"), dir.join("a.key")).unwrap();
    symlink(dir.join("a.key"), dir.join("b.key")).unwrap();
    symlink("/dev/zero", dir.join("zero.key")).unwrap();
    let r = with_deadline(LIMIT, move || {
        load_certificates(&dir)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    })
    .expect("load_certificates hung");
    // Documented: any file that does not load is an error naming it.
    let e = r.expect_err("awkward entries are errors for load_certificates");
    assert!(e.contains(".key"), "{e}");
}
