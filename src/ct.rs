//! Constant-time comparison, kept tiny so it can be read at a glance.

use std::hint::black_box;

/// Compares `given` (attacker-supplied) with `expected` (the secret) in time that depends
/// only on `given.len()`: every byte of `given` is visited, and `expected` is indexed
/// cyclically so its length and content do not change the work done.
pub(crate) fn eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u64::from(given.len() != expected.len());
    if expected.is_empty() {
        // Only an empty `given` equals an empty secret; the loop still runs over `given`.
        for &b in given {
            diff |= u64::from(black_box(b)) | 1;
        }
        return black_box(diff) == 0;
    }
    // A wrapping index instead of `i % len`: a division per byte cost more than the
    // rest of a PLAIN decision. The wrap is branch-free.
    let mut j = 0;
    for &b in given {
        diff |= u64::from(b ^ expected[j]);
        j += 1;
        j *= usize::from(j != expected.len());
    }
    black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::eq;

    #[test]
    fn equal_and_unequal() {
        assert!(eq(b"", b""));
        assert!(eq(b"secret", b"secret"));
        assert!(!eq(b"secret", b"secreT"));
        assert!(!eq(b"secret", b"secret2"));
        assert!(!eq(b"secretsecret", b"secret"));
        assert!(!eq(b"", b"x"));
        assert!(!eq(b"x", b""));
    }
}
