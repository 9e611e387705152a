//! A throwaway PostgreSQL server on loopback for the store rows (the recipe of
//! `tests/support/pg.rs`, trimmed): `initdb` in a fresh directory under /tmp, the server
//! on a free `127.0.0.1` port with `fsync=off`, stopped and removed on drop. As root the
//! binaries run as the `postgres` user (`runuser`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
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

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

extern "C" {
    fn geteuid() -> u32;
}

impl Pg {
    /// `Err` (a reason) when the server binaries are missing or the server fails.
    pub fn start() -> Result<Pg, String> {
        let bin = find_bin().ok_or(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin \
             (apt-get install postgresql)",
        )?;
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!(
            "zmq-auth-bench-pg-{}-{}",
            std::process::id(),
            free_port()?
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
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port()?;
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                pg.port,
                pg.dir.display()
            );
            let log = pg.dir.join("log").display().to_string();
            let out = pg.run(
                "pg_ctl",
                &[
                    "-D", &data, "-o", &opts, "-l", &log, "-w", "-t", "30", "start",
                ],
            )?;
            if out.status.success() {
                return Ok(pg);
            }
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        Err(format!("the server did not start: {last}"))
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
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

    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
