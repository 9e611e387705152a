//! The certificate reader: `Certificate::from_zpl` on arbitrary (lossy UTF-8) text.
//! A certificate that loads must hold consistent keys, never show its secret key in
//! `Debug`, and load again identically once rewritten in the writer's format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmq_auth::{decode_z85_key, Certificate};

fn rewrite(cert: &Certificate) -> Option<String> {
    let mut out = String::from("#   rewritten\nmetadata\n");
    for (name, value) in cert.metadata() {
        let q = if !value.contains('"') {
            '"'
        } else if !value.contains('\'') {
            '\''
        } else {
            return None;
        };
        out.push_str(&format!("    {name} = {q}{value}{q}\n"));
    }
    out.push_str(&format!(
        "curve\n    public-key = \"{}\"\n",
        cert.public_key()
    ));
    if let Some(s) = cert.secret_key() {
        out.push_str(&format!("    secret-key = \"{s}\"\n"));
    }
    Some(out)
}

/// The key-sized values of `secret-key` lines that appear nowhere else in the text
/// (an error may quote a name, which could contain the same characters).
fn secret_values(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.split_once("secret-key").map(|(_, v)| v))
        .filter_map(|v| v.split_once('=').map(|(_, v)| v))
        .map(|v| v.trim().trim_matches(['"', '\'']).trim())
        .filter(|v| v.len() == 40 && text.matches(*v).count() == 1)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Certificate::from_zpl("fuzz.key", &text) {
        Ok(cert) => {
            assert_eq!(cert.public_key().len(), 40);
            assert_eq!(
                &decode_z85_key(cert.public_key()).unwrap(),
                cert.public_key_bytes()
            );
            if let Some(s) = cert.secret_key() {
                assert_eq!(Some(&decode_z85_key(s).unwrap()), cert.secret_key_bytes());
                assert!(
                    !format!("{cert:?}").contains(s),
                    "Debug shows the secret key"
                );
            }
            let names: Vec<&str> = cert.metadata().iter().map(|(n, _)| n.as_str()).collect();
            for (i, n) in names.iter().enumerate() {
                assert!(!names[..i].contains(n), "duplicate metadata name {n}");
                assert_eq!(cert.metadata_value(n), Some(cert.metadata()[i].1.as_str()));
            }
            if let Some(again) = rewrite(&cert) {
                let cert2 = Certificate::from_zpl("again.key", &again)
                    .unwrap_or_else(|e| panic!("rewritten certificate fails: {e}\n{again}"));
                assert_eq!(cert, cert2);
            }
        }
        Err(e) => {
            let msg = format!("{e} {e:?}");
            for secret in secret_values(&text) {
                assert!(
                    !msg.contains(secret),
                    "error shows a secret-key value: {msg}"
                );
            }
        }
    }
});
