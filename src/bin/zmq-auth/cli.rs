//! The command line: every command, its flags and its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit-status paragraph and an example, for `after_help`.
macro_rules! concat_help {
    ($exit:literal, $example:literal) => {
        concat!($exit, "\n\nExample:\n  ", $example)
    };
}

/// What `--store` takes, for the store commands' help texts.
macro_rules! store_forms {
    () => {
        "STORE is an SQLite file (PATH, or sqlite:PATH to be explicit), a postgres:// or \
postgresql:// URL, or a PostgreSQL key=value connection string (host=... user=... \
dbname=...; a value that reads as one is taken for one unless a file of that name \
exists). PostgreSQL needs the tool built with --features cli-postgres. A password in a \
URL or connection string is never printed."
    };
}

/// CURVE certificates and ZAP authentication for ZeroMQ servers.
#[derive(Debug, Parser)]
#[command(
    name = "zmq-auth",
    version,
    about = "CURVE certificates, trusted-key directories, credential stores and ZAP handshake \
probes for ZeroMQ",
    long_about = "CURVE certificates, trusted-key directories, credential stores and ZAP \
handshake probes for ZeroMQ servers guarded by zmq-auth, pyzmq's zmq.auth or CZMQ's \
zauth.\n\n\
Certificates are ZPL files: NAME.key holds the public key, NAME.key_secret (mode 0600) \
the secret key as well; pyzmq and CZMQ read both. Credential stores (SQLite or \
PostgreSQL) hold keys and users for a fleet of servers; passwords are stored as argon2id \
hashes. No command ever prints a secret key or a password.",
    after_help = "Exit status: 0 success; 1 the command ran and the answer is no (check \
found problems, probe was not admitted, revoke, key revoke or user remove found nothing \
to remove, or key revoke left the key admitted through its * row); 2 a usage error, a file that cannot be read or written, or a store that \
cannot be opened.\n\n\
Example session:\n  \
zmq-auth keygen server --dir private_keys\n  \
zmq-auth keygen alice --dir private_keys --meta name=Alice\n  \
zmq-auth trust private_keys/alice.key --dir public_keys\n  \
zmq-auth check public_keys\n  \
zmq-auth probe tcp://127.0.0.1:9000 --server-key private_keys/server.key \
--cert private_keys/alice.key_secret\n  \
zmq-auth key add private_keys/alice.key --store auth.db\n  \
zmq-auth user add admin --store auth.db"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a CURVE key pair: NAME.key (public) and NAME.key_secret (secret, 0600).
    #[command(
        long_about = "Create a new CURVE key pair as NAME.key (public certificate) and \
NAME.key_secret (secret certificate, mode 0600 from its first byte, written atomically): \
the same files as the library's create_certificates, readable by pyzmq and CZMQ. \
Existing files are never replaced without --force. A missing --dir is created, mode 0700 \
(it holds secret keys). Prints the paths and the public key \
(never the secret key).",
        after_help = concat_help!(
            "Exit status: 0 written; 2 the files exist (without --force), a bad name or \
--meta, or the directory cannot be written.",
            "zmq-auth keygen alice --dir keys --meta name=Alice --meta email=alice@example.org"
        )
    )]
    Keygen(KeygenArgs),
    /// Print the Z85 public key of a certificate file.
    #[command(
        long_about = "Print the 40-character Z85 public key of a certificate file (public \
or secret). When the file holds a secret key, the public key is derived from it and must \
match the file's public-key; a mismatch is an error. The secret key is never printed.",
        after_help = concat_help!(
            "Exit status: 0 printed; 2 the file cannot be read, does not parse, or its \
secret key does not match its public key.",
            "zmq-auth public keys/server.key_secret"
        )
    )]
    Public(FileArgs),
    /// Show a certificate's public key and metadata (never its secret key).
    #[command(
        long_about = "Show a certificate's public key, whether the file holds a secret key \
(never the key itself), and its metadata properties in file order.",
        after_help = concat_help!(
            "Exit status: 0 shown; 2 the file cannot be read or does not parse.",
            "zmq-auth show keys/alice.key"
        )
    )]
    Show(FileArgs),
    /// Lint a trusted-key directory; exit 1 when anything is wrong.
    #[command(
        long_about = "Lint a directory of trusted public certificates (what configure_curve \
reads): files that do not parse (with file:line), keys that are not 40 valid Z85 \
characters, the same key in two files, secret keys (which belong in no trusted \
directory), group- or world-writable files, a directory writable by others, symbolic \
links leading outside the directory or nowhere, and files not named *.key that look like \
certificates (configure_curve ignores them). One line per problem; --json for scripts. \
A progress count goes to stderr when it is a terminal and the directory is large.",
        after_help = concat_help!(
            "Exit status: 0 no problems; 1 problems found (listed on stdout); 2 the \
directory cannot be read.",
            "zmq-auth check /etc/myapp/public_keys --json"
        )
    )]
    Check(CheckArgs),
    /// Add a public certificate to a trusted-key directory (atomically).
    #[command(
        long_about = "Copy a public certificate into a trusted-key directory as NAME.key \
(a file not ending in .key gets the suffix), through a temporary file put in place in \
one step, so a server watching the directory never reads half a file, and never over a \
file another program created meanwhile. Runs on one directory take turns (an exclusive \
lock on it). A secret certificate is refused: \
trust its public half. A key the directory already trusts is not added twice; a \
different key under the same name is refused (revoke it first).",
        after_help = concat_help!(
            "Exit status: 0 trusted (or already trusted); 2 the file is not a public \
certificate, the name is taken by another key, or the directory cannot be written.",
            "zmq-auth trust keys/alice.key --dir public_keys"
        )
    )]
    Trust(TrustArgs),
    /// Remove a key from a trusted-key directory, by Z85 key or by certificate file.
    #[command(
        long_about = "Remove every certificate in the directory that carries the given \
public key: KEY_OR_FILE is a 40-character Z85 public key, or a certificate file whose \
public key is meant. Each file is removed with one unlink, so a watching server sees it \
either trusted or gone.",
        after_help = concat_help!(
            "Exit status: 0 removed; 1 no certificate in the directory has that key; 2 a \
bad key or file, or the directory cannot be read or written.",
            "zmq-auth revoke 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' --dir public_keys"
        )
    )]
    Revoke(RevokeArgs),
    /// Try a real handshake with a server and say whether (and why not) it admits us.
    #[command(
        long_about = "Connect to ENDPOINT (TRANSPORT://ADDRESS, e.g. tcp://127.0.0.1:9000), \
try a CURVE (or, with --plain-user, PLAIN) handshake, and report what the client socket's monitor saw: admitted; refused by the \
server's ZAP handler with its status (400 refused, 300 try later, 500 handler error); a \
protocol failure (e.g. a mechanism mismatch); the connection closed during the handshake \
(with CURVE most often a wrong --server-key); or no answer within --timeout. \
--server-key takes the server's Z85 public key or its certificate file. Without \
--cert a throwaway client key is used. The PLAIN password is read from the terminal \
without echo, or from the first line of stdin when stdin is not a terminal; it is never \
an argument.",
        after_help = concat_help!(
            "Exit status: 0 admitted; 1 not admitted (refused, failed, or no answer); 2 a \
bad argument or file.",
            "zmq-auth probe tcp://127.0.0.1:9000 --server-key server.key \
--cert alice.key_secret\n  zmq-auth probe tcp://127.0.0.1:9001 --plain-user admin < password.txt"
        )
    )]
    Probe(ProbeArgs),
    /// CURVE keys in a credential store (SQLite or PostgreSQL): add, revoke, list.
    #[command(
        subcommand,
        after_help = concat_help!(
            "Exit status: 0 success; 1 key revoke found no such key, or the key is still \
admitted through its * row; 2 a bad argument or \
file, or the store cannot be opened, read or written. See zmq-auth key COMMAND --help.",
            "zmq-auth key add keys/alice.key --store sqlite:auth.db\n  \
zmq-auth key list --store sqlite:auth.db"
        )
    )]
    Key(KeyCommand),
    /// PLAIN users in a credential store or a password file: add, remove.
    #[command(
        subcommand,
        after_help = concat_help!(
            "Exit status: 0 success; 1 user remove found no such user; 2 a bad argument, \
an empty password, or the store or file cannot be opened, read or written. See zmq-auth \
user COMMAND --help.",
            "zmq-auth user add admin --store sqlite:auth.db < password.txt"
        )
    )]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Trust a public certificate's key (and its metadata) in a store.
    #[command(
        long_about = concat!("Add the public key of a certificate FILE to a credential \
store, in --domain (default *, every domain without its own entry), with the \
certificate's metadata, which servers send as the peer's properties. Adding a key again \
replaces its metadata. A secret certificate is refused: add its public half. Every \
server using the store admits the key at once. The store's tables are created when \
missing. ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 added; 2 the file is not a public certificate, a bad \
argument, or the store cannot be opened or written.",
            "zmq-auth key add keys/alice.key --store sqlite:/var/lib/myapp/auth.db --domain global"
        )
    )]
    Add(KeyAddArgs),
    /// Revoke a key in a store, by Z85 key or by certificate file.
    #[command(
        long_about = concat!("Remove a key from a credential store's --domain (default *): \
KEY_OR_FILE is a 40-character Z85 public key, or a certificate file whose public key is \
meant. Every server using the store refuses it within about a second (PostgreSQL: \
milliseconds). A domain's own keys override *: when the domain has no keys left and the \
key has a * row, it is still admitted there, and the output says so. A key from the \
command line that the store does not have is never printed (it may be a secret key \
pasted by mistake). ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 revoked; 1 the store has no such key in that domain, or the key \
is still admitted there through its * row (the domain has no keys of its own left; the \
output says so); 2 a bad key or file, or the store cannot be opened or written.",
            "zmq-auth key revoke 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7' --store 'postgres://auth@db.internal/auth'"
        )
    )]
    Revoke(KeyRevokeArgs),
    /// List the keys in a store.
    #[command(
        long_about = concat!("List the keys in a credential store (all domains, or only \
--domain): domain, public key, when added, expiry, metadata; --json for scripts (times \
as Unix seconds). ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 listed (also when there are none); 2 the store cannot be \
opened or read.",
            "zmq-auth key list --store 'host=db.internal user=auth dbname=auth' --json"
        )
    )]
    List(KeyListArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a PLAIN user, or set its password, in a store or a password file.
    #[command(
        long_about = concat!("Add the PLAIN user NAME, or replace its password, in a \
credential store (--store, in --domain, default *) or a password file (--file, as \
configure_plain_file reads it). The password is read from the terminal without echo \
(twice), or from the first line of stdin when stdin is not a terminal; never from an \
argument. It is stored as an argon2id hash, never in plaintext. A password file is \
rewritten atomically (a temporary file and a rename, under an exclusive lock on its \
directory, after the password is hashed; parallel runs never lose a change) with its \
mode kept: other lines and comments stay as they are, an existing NAME line is replaced, and the file is created \
(mode 0600) when missing. --domain does not apply to a file (a file serves the domain it \
is configured for). ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 added or updated; 2 an empty password, a bad name or \
argument, or the store or file cannot be opened or written.",
            "zmq-auth user add admin --store sqlite:/var/lib/myapp/auth.db\n  \
printf '%s\\n' \"$PW\" | zmq-auth user add admin --file /etc/myapp/passwords"
        )
    )]
    Add(UserArgs),
    /// Remove a PLAIN user from a store or a password file.
    #[command(
        long_about = concat!("Remove the PLAIN user NAME from a credential store (--store, \
in --domain, default *) or a password file (--file: its NAME line is deleted, atomically, \
other lines untouched). ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 removed; 1 no such user; 2 a bad argument, or the store or \
file cannot be opened or written.",
            "zmq-auth user remove admin --file /etc/myapp/passwords"
        )
    )]
    Remove(UserArgs),
    /// List the PLAIN user names in a store or a password file (never a password).
    #[command(
        long_about = concat!("List the PLAIN users of a credential store (--store: \
DOMAIN  NAME lines for all domains, or only --domain) or of a password file (--file: one \
name per line, in file order). Names only: never a password or a hash. ", store_forms!()),
        after_help = concat_help!(
            "Exit status: 0 listed (also when there are none); 2 a bad argument, or the \
store or file cannot be opened or read.",
            "zmq-auth user list --store auth.db --domain admin\n  \
zmq-auth user list --file /etc/myapp/passwords"
        )
    )]
    List(UserListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StoreArg {
    /// The credential store: an SQLite file (PATH or sqlite:PATH), postgres://... or a
    /// key=value conninfo string.
    #[arg(long, value_name = "STORE")]
    pub(crate) store: String,
    /// The domain (ZAP domain of the server's socket); * serves every domain without
    /// its own entry.
    #[arg(long, value_name = "D")]
    pub(crate) domain: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KeyAddArgs {
    /// The public certificate whose key to add.
    pub(crate) file: PathBuf,
    #[command(flatten)]
    pub(crate) store: StoreArg,
}

#[derive(Debug, Args)]
pub(crate) struct KeyRevokeArgs {
    /// A Z85 public key (40 characters) or a certificate file.
    #[arg(value_name = "KEY_OR_FILE", allow_hyphen_values = true)]
    pub(crate) key_or_file: String,
    #[command(flatten)]
    pub(crate) store: StoreArg,
}

#[derive(Debug, Args)]
pub(crate) struct KeyListArgs {
    #[command(flatten)]
    pub(crate) store: StoreArg,
    /// Print the keys as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// The PLAIN user name.
    pub(crate) name: String,
    /// The credential store: an SQLite file (PATH or sqlite:PATH), postgres://... or a
    /// key=value conninfo string.
    #[arg(long, value_name = "STORE")]
    pub(crate) store: Option<String>,
    /// A password file (name=value lines) instead of a store.
    #[arg(long, value_name = "F")]
    pub(crate) file: Option<PathBuf>,
    /// The domain in the store (default *); not for --file.
    #[arg(long, value_name = "D")]
    pub(crate) domain: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct UserListArgs {
    /// The credential store: an SQLite file (PATH or sqlite:PATH), postgres://... or a
    /// key=value conninfo string.
    #[arg(long, value_name = "STORE")]
    pub(crate) store: Option<String>,
    /// A password file (name=value lines) instead of a store.
    #[arg(long, value_name = "F")]
    pub(crate) file: Option<PathBuf>,
    /// Only this domain of the store; not for --file.
    #[arg(long, value_name = "D")]
    pub(crate) domain: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The certificate name: writes NAME.key and NAME.key_secret.
    pub(crate) name: String,
    /// The directory to write into; created (mode 0700, parents too) when missing.
    #[arg(long, default_value = ".")]
    pub(crate) dir: PathBuf,
    /// A metadata property NAME=VALUE, written into both files (repeatable).
    #[arg(long = "meta", value_name = "K=V")]
    pub(crate) meta: Vec<String>,
    /// Replace existing NAME.key / NAME.key_secret files.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print the public key and the paths as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FileArgs {
    /// A certificate file (NAME.key or NAME.key_secret).
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The trusted-key directory.
    pub(crate) dir: PathBuf,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// The public certificate to trust.
    pub(crate) file: PathBuf,
    /// The trusted-key directory.
    #[arg(long)]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// A Z85 public key (40 characters) or a certificate file.
    #[arg(value_name = "KEY_OR_FILE", allow_hyphen_values = true)]
    pub(crate) key_or_file: String,
    /// The trusted-key directory.
    #[arg(long)]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// The server's endpoint, e.g. tcp://127.0.0.1:9000.
    pub(crate) endpoint: String,
    /// The server's public key (needed for CURVE): 40 Z85 characters, or a certificate
    /// file holding it (the server's NAME.key).
    #[arg(
        long,
        value_name = "Z85_OR_FILE",
        required_unless_present = "plain_user",
        allow_hyphen_values = true
    )]
    pub(crate) server_key: Option<String>,
    /// The client's secret certificate (CURVE); without it a throwaway key is used.
    #[arg(long, value_name = "SECRET_FILE", conflicts_with = "plain_user")]
    pub(crate) cert: Option<PathBuf>,
    /// Use PLAIN with this username (the password is read from the terminal or stdin).
    #[arg(long, value_name = "USER")]
    pub(crate) plain_user: Option<String>,
    /// Seconds to wait for the handshake's outcome.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
