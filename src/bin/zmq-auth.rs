//! `zmq-auth`: CURVE key files, trusted-key directories, credential stores and password
//! files, and a probe that says why a client is refused. Built with the `cli` feature
//! (SQLite stores): `cargo install zmq-auth --features cli`; `--features cli-postgres`
//! adds PostgreSQL stores. Run `zmq-auth --help` for the commands.
//!
//! Exit status: 0 success, 1 the command ran and found something wrong (`check` found
//! problems, `probe` was not admitted, `revoke`, `key revoke` or `user remove` found
//! nothing to remove, or `key revoke` left the key admitted through its `*` row), 2 a
//! usage, file, store or system error. Errors are one line on stderr naming the file or
//! argument.
//! Nothing prints a secret key or a password.
//!
//! The commands live in `src/bin/zmq-auth/` (a crate root finds its modules beside it,
//! hence the `#[path]`s); they use only the library's public API.

#[macro_use]
#[path = "zmq-auth/output.rs"]
mod output;
#[path = "zmq-auth/check.rs"]
mod check;
#[path = "zmq-auth/cli.rs"]
mod cli;
#[path = "zmq-auth/json.rs"]
mod json;
#[path = "zmq-auth/keys.rs"]
mod keys;
#[path = "zmq-auth/lock.rs"]
mod lock;
#[path = "zmq-auth/passfile.rs"]
mod passfile;
#[path = "zmq-auth/password.rs"]
mod password;
#[path = "zmq-auth/probe.rs"]
mod probe;
#[path = "zmq-auth/store.rs"]
mod store;
#[path = "zmq-auth/trustdir.rs"]
mod trustdir;

use std::process::ExitCode;

use clap::Parser;

/// What a command ended with, when it ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: the command ran and the answer is "no" (problems found, not admitted,
    /// nothing to revoke). It has printed why.
    No,
}

/// A one-line error (exit 2): a bad argument, a file that cannot be read or written.
#[derive(Debug)]
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail(e.to_string())
    }
}

type Run = Result<Outcome, Fail>;

/// `user add|remove`: exactly one of `--store` and `--file`; `--domain` only with a store.
fn user(a: &cli::UserArgs, add: bool) -> Run {
    match (&a.store, &a.file) {
        (Some(spec), None) => {
            let s = cli::StoreArg {
                store: spec.clone(),
                domain: a.domain.clone(),
            };
            if add {
                store::user_add(&a.name, &s)
            } else {
                store::user_remove(&a.name, &s)
            }
        }
        (None, Some(file)) => {
            if a.domain.is_some() {
                return Err(Fail(
                    "--domain does not apply to --file (a password file serves the domain \
                     configure_plain_file gives it)"
                        .into(),
                ));
            }
            if add {
                passfile::add(&a.name, file)
            } else {
                passfile::remove(&a.name, file)
            }
        }
        (Some(_), Some(_)) => Err(Fail("give either --store or --file, not both".into())),
        (None, None) => Err(Fail(
            "--store STORE or --file F is required (where the user is kept)".into(),
        )),
    }
}

/// `user list`: exactly one of `--store` and `--file`; `--domain` only with a store.
fn user_list(a: &cli::UserListArgs) -> Run {
    match (&a.store, &a.file) {
        (Some(spec), None) => store::user_list(&cli::StoreArg {
            store: spec.clone(),
            domain: a.domain.clone(),
        }),
        (None, Some(file)) => {
            if a.domain.is_some() {
                return Err(Fail(
                    "--domain does not apply to --file (a password file serves the domain \
                     configure_plain_file gives it)"
                        .into(),
                ));
            }
            passfile::list(file)
        }
        (Some(_), Some(_)) => Err(Fail("give either --store or --file, not both".into())),
        (None, None) => Err(Fail(
            "--store STORE or --file F is required (where the users are kept)".into(),
        )),
    }
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = match args.command {
        cli::Command::Keygen(a) => keys::keygen(&a),
        cli::Command::Public(a) => keys::public(&a),
        cli::Command::Show(a) => keys::show(&a),
        cli::Command::Check(a) => check::run(&a),
        cli::Command::Trust(a) => trustdir::trust(&a),
        cli::Command::Revoke(a) => trustdir::revoke(&a),
        cli::Command::Probe(a) => probe::run(&a),
        cli::Command::Key(cli::KeyCommand::Add(a)) => store::key_add(&a),
        cli::Command::Key(cli::KeyCommand::Revoke(a)) => store::key_revoke(&a),
        cli::Command::Key(cli::KeyCommand::List(a)) => store::key_list(&a),
        cli::Command::User(cli::UserCommand::Add(a)) => user(&a, true),
        cli::Command::User(cli::UserCommand::Remove(a)) => user(&a, false),
        cli::Command::User(cli::UserCommand::List(a)) => user_list(&a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(Fail(message)) => {
            // One line, whatever the message holds.
            tell!("zmq-auth: {}", message.replace(['\n', '\r'], " "));
            ExitCode::from(2)
        }
    }
}
