//! Build-time check that the system libzmq is present and new enough.
//!
//! `zmq-sys` does the linking; this script only turns a missing or old libzmq into one
//! clear message naming the install command, instead of a wall of linker errors.
//!
//! Only for the `zmq-0-9` binding, whose zmq-sys 0.11 links the system libzmq. Under
//! `zmq-0-10`, zmq-sys 0.12 builds its own libzmq (no system library needed, no CURVE)
//! unless the application's Cargo `links` override points it at the system one; this
//! script cannot see which, and `zmq_auth::curve_available()` tells at run time.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_ZMQ_0_9").is_none() {
        return;
    }
    let lib = pkg_config::Config::new()
        .atleast_version("4.3")
        .cargo_metadata(false)
        .probe("libzmq");
    match lib {
        Ok(lib) => {
            // Static link flags list libsodium when libzmq was built with it; without it
            // libzmq may still have CURVE via its bundled tweetnacl, so this is a warning.
            let static_libs = pkg_config::Config::new()
                .cargo_metadata(false)
                .statik(true)
                .probe("libzmq")
                .map(|l| l.libs)
                .unwrap_or_default();
            if !static_libs.iter().any(|l| l == "sodium") {
                println!(
                    "cargo:warning=libzmq {} does not list libsodium: CURVE may be unavailable \
                     (zmq_auth checks zmq::has(\"curve\") at run time)",
                    lib.version
                );
            }
        }
        Err(e) => {
            eprintln!(
                "\nzmq-auth needs the system libzmq >= 4.3 (with CURVE) and pkg-config.\n\
                 Install them with:\n\n    apt-get install -y libzmq3-dev pkg-config\n\n\
                 (prefix with sudo when not root). pkg-config said: {e}\n"
            );
            std::process::exit(1);
        }
    }
}
