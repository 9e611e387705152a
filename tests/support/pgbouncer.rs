//! A throwaway PgBouncer in front of the test PostgreSQL (tests/support/pg.rs), in
//! session or transaction pooling: a fresh directory under /tmp with its config, trust
//! authentication, a free loopback port; stopped (by its pid) and removed on drop. As
//! root it runs as the `postgres` user (PgBouncer refuses root). When the binary is
//! missing the test is skipped with a printed reason — unless `CI=true`.
//!
//! Debian package: `pgbouncer`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = "/usr/sbin/pgbouncer";

pub struct PgBouncer {
    dir: PathBuf,
    pub port: u16,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

impl PgBouncer {
    /// A running PgBouncer with `pool_mode` (`session` or `transaction`) in front of the
    /// server on `pg_port`, or `None` (printed) when PgBouncer is not installed outside
    /// CI.
    pub fn start_or_skip(pg_port: u16, pool_mode: &str) -> Option<PgBouncer> {
        match PgBouncer::start(pg_port, pool_mode) {
            Ok(b) => Some(b),
            Err(why) if ci() => panic!("CI=true and the PgBouncer tests cannot run: {why}"),
            Err(why) => {
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    pub fn start(pg_port: u16, pool_mode: &str) -> Result<PgBouncer, String> {
        if !Path::new(BIN).exists() {
            return Err(format!("{BIN} not found (apt-get install pgbouncer)"));
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("zmq-auth-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| e.to_string())?;
        }
        let b = PgBouncer { dir, port };
        let d = b.dir.display();
        std::fs::write(b.dir.join("userlist.txt"), "\"postgres\" \"\"\n")
            .map_err(|e| e.to_string())?;
        let config = format!(
            "[databases]\n\
             postgres = host=127.0.0.1 port={pg_port} dbname=postgres user=postgres\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {d}/userlist.txt\n\
             pool_mode = {pool_mode}\n\
             default_pool_size = 4\n\
             logfile = {d}/pgbouncer.log\n\
             pidfile = {d}/pgbouncer.pid\n"
        );
        let ini = b.dir.join("pgbouncer.ini");
        std::fs::write(&ini, config).map_err(|e| e.to_string())?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc_geteuid() } == 0;
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        let out = cmd
            .arg("-d")
            .arg(&ini)
            .output()
            .map_err(|e| format!("{BIN}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pgbouncer did not start: {}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(b.dir.join("pgbouncer.log")).unwrap_or_default()
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("pgbouncer did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(b)
    }

    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // Only the daemon this harness started, by the pid it wrote.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
