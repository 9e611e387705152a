//! The ZMTP metadata codec: `decode_metadata` on arbitrary bytes never panics, and what
//! it accepts re-encodes to the same bytes; properties built from the input encode when
//! (and only when) every name is valid, and decode back to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmq_auth::{decode_metadata, encode_metadata, is_valid_property_name};

fuzz_target!(|data: &[u8]| {
    if let Ok(props) = decode_metadata(data) {
        for (name, _) in &props {
            assert!(
                is_valid_property_name(name),
                "decoded invalid name {name:?}"
            );
        }
        let again = encode_metadata(&props).expect("decoded properties re-encode");
        assert_eq!(again, data, "decode → encode is not the identity");
    }

    // Properties from the input: name length byte, name (lossy UTF-8), value length
    // byte, value.
    let mut props: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rest = data;
    while let Some((&n, r)) = rest.split_first() {
        let (name, r) = r.split_at((n as usize).min(r.len()));
        let Some((&v, r)) = r.split_first() else {
            break;
        };
        let (value, r) = r.split_at((v as usize).min(r.len()));
        props.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        rest = r;
    }
    let all_valid = props.iter().all(|(n, _)| is_valid_property_name(n));
    match encode_metadata(&props) {
        Ok(enc) => {
            assert!(all_valid, "encoded an invalid name: {props:?}");
            assert_eq!(
                decode_metadata(&enc).expect("encoded metadata decodes"),
                props
            );
        }
        Err(_) => assert!(!all_valid, "refused valid properties: {props:?}"),
    }
});
