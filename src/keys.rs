//! CURVE key helpers: strict Z85 for 32-byte keys, and libzmq's key functions.

use std::ffi::c_char;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

// rust-zmq 0.9 does not wrap it (src/ffi.rs declares it).
use crate::ffi::zmq_curve_public;

/// Does the linked libzmq support CURVE? (Asked of the library at run time.)
///
/// Without it, [`create_certificates`](crate::create_certificates) and the CURVE
/// configuration methods fail with [`Error::CurveUnavailable`]; PLAIN, NULL and the
/// address lists work.
///
/// With feature `zmq-0-9` (the default) the system libzmq is linked, which on
/// Debian/Ubuntu and Homebrew has CURVE. With `zmq-0-10`, `false` means zmq 0.10 built
/// its own libzmq (it does so without CURVE or GSSAPI) and `true` that the Cargo `links`
/// override of the README made it use the system one.
///
/// ```
/// if zmq_auth::curve_available() {
///     let dir = tempfile::tempdir().unwrap();
///     assert!(zmq_auth::create_certificates(dir.path(), "server", &[]).is_ok());
/// }
/// ```
pub fn curve_available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

pub(crate) fn require_curve() -> Result<()> {
    if curve_available() {
        Ok(())
    } else {
        Err(Error::CurveUnavailable)
    }
}

/// Decodes 40 Z85 characters into a 32-byte key. The error message never repeats the
/// input, which may be a secret key.
///
/// ```
/// use zmq_auth::{decode_z85_key, encode_z85_key};
/// let text = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
/// let key = decode_z85_key(text).unwrap();
/// assert_eq!(encode_z85_key(&key), text);
/// let err = decode_z85_key("too short").unwrap_err();
/// assert!(err.contains("40 Z85 characters"));
/// assert!(!err.contains("too short"));
/// ```
pub fn decode_z85_key(text: &str) -> std::result::Result<[u8; 32], String> {
    if text.len() != 40 {
        return Err(format!(
            "a key is 40 Z85 characters (bytes), this one has {} bytes",
            text.len()
        ));
    }
    // The key may be secret: the decoder's buffer is wiped before it is freed.
    let bytes = Zeroizing::new(z85::decode(text).map_err(|_| "not valid Z85".to_string())?);
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "does not decode to 32 bytes".to_string())
}

/// The Z85 alphabet (ZeroMQ RFC 32).
const Z85: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Z85 digit pairs: `Z85_PAIRS[n]` is `n` (below 85²) as two digits. Padded to 2¹³
/// entries, so that an index masked to 13 bits is in range without a check.
static Z85_PAIRS: [[u8; 2]; 1 << 13] = {
    let mut t = [[0u8; 2]; 1 << 13];
    let mut n = 0;
    while n < 85 * 85 {
        t[n] = [Z85[n / 85], Z85[n % 85]];
        n += 1;
    }
    t
};

/// The Z85 alphabet padded to 2⁷ entries (an index masked to 7 bits is in range).
static Z85_DIGITS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut n = 0;
    while n < 85 {
        t[n] = Z85[n];
        n += 1;
    }
    t
};

/// Encodes a 32-byte key as Z85 into 40 ASCII bytes, without allocating.
///
/// Written out rather than `z85::encode`: the default CURVE user id is this text,
/// computed for every admitted client, and this is several times cheaper (two
/// divisions and a pair table per 4 bytes instead of five divisions).
pub(crate) fn z85_key_bytes(key: &[u8; 32]) -> [u8; 40] {
    let mut out = [0u8; 40];
    write_z85_key(key, &mut out);
    out
}

/// Writes the 40 Z85 characters of `key` into `out`, so that the text of a secret key
/// can go straight into a buffer that is wiped.
#[inline]
pub(crate) fn write_z85_key(key: &[u8; 32], out: &mut [u8; 40]) {
    // The ZAP thread writes one per CURVE admission: constant indices (the loop unrolls)
    // and masked table indices leave no bounds check in it. The masks change nothing:
    // `high` is below 85 (a u32 is below 85⁵), `mid` and `low` below 85².
    for i in 0..8 {
        let v = u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]]);
        let (rest, low) = ((v / 7225) as usize, (v % 7225) as usize);
        let (high, mid) = (rest / 7225, rest % 7225);
        let [m0, m1] = Z85_PAIRS[mid & 0x1fff];
        let [l0, l1] = Z85_PAIRS[low & 0x1fff];
        out[5 * i] = Z85_DIGITS[high & 0x7f];
        out[5 * i + 1] = m0;
        out[5 * i + 2] = m1;
        out[5 * i + 3] = l0;
        out[5 * i + 4] = l1;
    }
}

/// Encodes a 32-byte key as 40 Z85 characters.
///
/// ```
/// use zmq_auth::{decode_z85_key, encode_z85_key};
/// let key = [0u8; 32];
/// let text = encode_z85_key(&key);
/// assert_eq!(text, "0".repeat(40));
/// assert_eq!(decode_z85_key(&text), Ok(key));
/// ```
pub fn encode_z85_key(key: &[u8; 32]) -> String {
    // Every byte comes from the ASCII alphabet, so this never falls back.
    String::from_utf8(z85_key_bytes(key).to_vec()).unwrap_or_default()
}

/// Derives the public key for a secret key with libzmq's `zmq_curve_public`.
pub(crate) fn derive_public(secret: &[u8; 32]) -> Result<[u8; 32]> {
    #[cfg(zmq_auth_audit)]
    crate::audit::secret_key(secret);
    require_curve()?;
    let secret_z85 = secret_z85_cstr(secret);
    let mut public_z85 = [0u8; 41];
    // SAFETY: both buffers are 41 bytes (40 Z85 characters and a NUL), as the call
    // requires; libzmq writes at most 41 bytes into the first.
    let rc = unsafe {
        zmq_curve_public(
            public_z85.as_mut_ptr().cast::<c_char>(),
            secret_z85.as_ptr().cast::<c_char>(),
        )
    };
    drop(secret_z85); // wiped here
    if rc != 0 {
        return Err(Error::CurveUnavailable);
    }
    let text = std::str::from_utf8(&public_z85[..40]).map_err(|_| Error::CurveUnavailable)?;
    decode_z85_key(text).map_err(|_| Error::CurveUnavailable)
}

/// The secret key as NUL-terminated Z85 text for libzmq, written in place into a fixed
/// buffer (it never grows, so never moves) that is wiped when dropped.
fn secret_z85_cstr(secret: &[u8; 32]) -> Zeroizing<[u8; 41]> {
    let mut buf = Zeroizing::new([0u8; 41]);
    let (text, _nul) = buf.split_at_mut(40);
    if let Ok(text) = <&mut [u8; 40]>::try_from(text) {
        write_z85_key(secret, text);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_cstr_is_z85_and_nul_and_wiped_on_drop() {
        let key = [0xa5u8; 32];
        let buf = secret_z85_cstr(&key);
        assert_eq!(&buf[..40], encode_z85_key(&key).as_bytes());
        assert_eq!(buf[40], 0);
        // `Zeroizing` wipes on drop; the type says so.
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        wipes_on_drop(&buf);
    }

    #[test]
    fn strict_decoding() {
        let k = [7u8; 32];
        let t = encode_z85_key(&k);
        assert_eq!(t.len(), 40);
        assert_eq!(decode_z85_key(&t).unwrap(), k);
        assert!(decode_z85_key(&t[..39]).is_err());
        assert!(decode_z85_key(&format!("{t}0")).is_err());
        let mut bad = t.clone();
        bad.replace_range(0..1, "~");
        assert!(decode_z85_key(&bad).is_err());
        assert!(decode_z85_key(&"é".repeat(20)).is_err());
    }

    #[test]
    fn encoder_matches_z85_crate() {
        let mut k = [0u8; 32];
        for seed in 0u8..=255 {
            for (i, b) in k.iter_mut().enumerate() {
                *b = seed
                    .wrapping_mul(31)
                    .wrapping_add(i as u8)
                    .rotate_left(u32::from(seed % 8));
            }
            assert_eq!(encode_z85_key(&k), z85::encode(k));
        }
        assert_eq!(encode_z85_key(&[0xff; 32]), z85::encode([0xffu8; 32]));
    }

    #[test]
    fn derive_matches_keypair() {
        let kp = zmq::CurveKeyPair::new().unwrap();
        assert_eq!(derive_public(&kp.secret_key).unwrap(), kp.public_key);
    }
}
