//! A throwaway PostgreSQL server on loopback, for the store tests (DESIGN.md §10).
//!
//! [`Pg::start_or_skip`] runs `initdb` in a fresh directory under /tmp and starts the
//! server on a free `127.0.0.1` port with its socket in that directory; the server is
//! stopped and the directory removed on drop. PostgreSQL refuses to run as root: as
//! root the binaries run as the `postgres` user (`runuser`), and the directory is made
//! reachable for it. When the binaries are missing the test is skipped with a printed
//! reason — unless `CI=true`, where that is a failure.
//!
//! Debian package: `postgresql`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

fn find_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

impl Pg {
    /// A running server, or `None` (printed) when PostgreSQL is not installed outside CI.
    pub fn start_or_skip() -> Option<Pg> {
        match Pg::start() {
            Ok(pg) => Some(pg),
            Err(why) if ci() => panic!("CI=true and the PostgreSQL tests cannot run: {why}"),
            Err(why) => {
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    pub fn start() -> Result<Pg, String> {
        let bin = find_bin()
            .ok_or("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql)")?;
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc_geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!(
            "zmq-auth-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut pg = Pg {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pg.dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| e.to_string())?;
        }
        let data = pg.data();
        let out = pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port();
            match pg.pg_ctl_start() {
                Ok(()) => return Ok(pg),
                Err(e) => last = e,
            }
        }
        Err(format!("the server did not start: {last}"))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        )?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }

    /// Stops the server (fast shutdown: clients are disconnected at once).
    pub fn stop(&self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.pg_ctl_start() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Runs a PostgreSQL client tool (`pg_dump`, `psql`) against the server.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Output {
        let port = self.port.to_string();
        let mut all = vec!["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
        all.extend_from_slice(args);
        self.run(tool, &all).expect("run the tool")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
