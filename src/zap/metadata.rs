//! ZMTP metadata: property names (valid and reserved), encoding and decoding.

use crate::error::{Error, Result};

/// Is `name` a valid ZMTP property name (1–255 bytes of `A-Za-z0-9-_.+`)?
///
/// ```
/// use zmq_auth::is_valid_property_name;
/// assert!(is_valid_property_name("X-Email.v2+tag_1"));
/// assert!(!is_valid_property_name(""));
/// assert!(!is_valid_property_name("has space"));
/// assert!(!is_valid_property_name(&"a".repeat(256)));
/// ```
pub fn is_valid_property_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

/// Property names a ZAP handler must never set from certificate data: libzmq or the
/// peer define them, and letting a certificate supply them would let it spoof them.
pub(crate) fn is_reserved_property(name: &str) -> bool {
    [
        "Socket-Type",
        "Identity",
        "Routing-Id",
        "User-Id",
        "Peer-Address",
        "Resource",
    ]
    .iter()
    .any(|r| r.eq_ignore_ascii_case(name))
}

/// Encodes properties as ZMTP metadata: per property a 1-byte name length, the name, a
/// 4-byte big-endian value length and the value.
///
/// Fails with [`Error::InvalidMetadata`] when a name is not a valid property name
/// (see [`is_valid_property_name`]).
///
/// ```
/// use zmq_auth::{encode_metadata, Error};
/// let data = encode_metadata(&[("name", "Bob")]).unwrap();
/// assert_eq!(data, b"\x04name\x00\x00\x00\x03Bob");
/// assert!(matches!(
///     encode_metadata(&[("bad name", "x")]),
///     Err(Error::InvalidMetadata { .. })
/// ));
/// ```
pub fn encode_metadata<N: AsRef<str>, V: AsRef<[u8]>>(props: &[(N, V)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (name, value) in props {
        let (name, value) = (name.as_ref(), value.as_ref());
        if !is_valid_property_name(name) {
            return Err(Error::invalid_metadata(
                name,
                "property names are 1-255 bytes of A-Za-z0-9-_.+",
            ));
        }
        let len = u32::try_from(value.len())
            .map_err(|_| Error::invalid_metadata(name, "value longer than 4 GiB"))?;
        // Both lengths were checked just above, so the casts cannot truncate.
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Decodes ZMTP metadata; truncated or invalid input is an error, never a panic.
///
/// ```
/// use zmq_auth::{decode_metadata, encode_metadata};
/// let data = encode_metadata(&[("name", "Bob"), ("email", "bob@example.org")]).unwrap();
/// let props = decode_metadata(&data).unwrap();
/// assert_eq!(props[0], ("name".to_string(), b"Bob".to_vec()));
/// assert_eq!(props[1].1, b"bob@example.org");
/// assert!(decode_metadata(&data[..data.len() - 1]).is_err());
/// assert!(decode_metadata(b"").unwrap().is_empty());
/// ```
pub fn decode_metadata(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |reason: &str| Error::invalid_metadata("", reason);
    let mut props = Vec::new();
    while let Some((&name_len, rest)) = data.split_first() {
        let name_len = usize::from(name_len);
        if rest.len() < name_len + 4 {
            return Err(bad("truncated property"));
        }
        let (name, rest) = rest.split_at(name_len);
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| is_valid_property_name(n))
            .ok_or_else(|| bad("invalid property name"))?;
        let (len, rest) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(bad("truncated property value"));
        }
        let (value, rest) = rest.split_at(len);
        props.push((name.to_string(), value.to_vec()));
        data = rest;
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let enc = encode_metadata(&[("name", "Bob"), ("email", "b@x")]).unwrap();
        assert_eq!(&enc[..5], b"\x04name");
        assert_eq!(&enc[5..9], &[0, 0, 0, 3]);
        let dec = decode_metadata(&enc).unwrap();
        assert_eq!(
            dec,
            vec![
                ("name".into(), b"Bob".to_vec()),
                ("email".into(), b"b@x".to_vec())
            ]
        );
        assert!(decode_metadata(&enc[..enc.len() - 1]).is_err());
        assert!(decode_metadata(b"\x05ab").is_err());
        assert!(encode_metadata(&[("bad name", "x")]).is_err());
        assert!(encode_metadata(&[("x".repeat(256), "x")]).is_err());
        assert!(encode_metadata(&[("x".repeat(255), "x")]).is_ok());
    }
}
