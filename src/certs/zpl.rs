//! A ZPL (ZeroMQ Property Language, rfc.zeromq.org/spec:4) reader, as much of it as
//! certificate files use: nested sections by indentation, `name = value` with double,
//! single or no quotes, `#` comments (whole-line and trailing), CRLF endings.
//!
//! ZPL indents by 4 spaces (what pyzmq and CZMQ write), but pyzmq reads any indentation,
//! so files indented by hand with 2 spaces or tabs exist. Any consistent indentation is
//! read: the file's first indented line sets the unit (some spaces, or some tabs), and
//! every indentation must be a whole number of units of the same character.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// One `name [= value]` line, with its depth and line number. Its name and value are
/// wiped when it is dropped: the value of a `secret-key` line is a secret key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 0 for a top-level section, 1 for its children, …
    pub(crate) depth: usize,
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    /// 1-based.
    pub(crate) line: usize,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.name.zeroize();
        self.value.zeroize();
    }
}

impl ZeroizeOnDrop for Entry {}

/// A parse error: 1-based line and what is wrong (never the line's text, which may
/// hold a secret key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZplError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

fn err(line: usize, message: impl Into<String>) -> ZplError {
    ZplError {
        line,
        message: message.into(),
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$-_@.&+/".contains(&b)
}

/// The depth of a line indented by `indent` (spaces or tabs), given the file's unit (set
/// by its first indented line).
fn depth_of<'t>(indent: &'t str, unit: &mut Option<&'t str>, n: usize) -> Result<usize, ZplError> {
    if indent.is_empty() {
        return Ok(0);
    }
    let first = indent.as_bytes()[0];
    if indent.bytes().any(|b| b != first) {
        return Err(err(n, "indentation mixes tabs and spaces"));
    }
    let unit = *unit.get_or_insert(indent);
    let what = |b: u8| if b == b'\t' { "tabs" } else { "spaces" };
    if unit.as_bytes()[0] != first {
        return Err(err(
            n,
            format!(
                "indented with {} where the file's first indented line uses {}",
                what(first),
                what(unit.as_bytes()[0])
            ),
        ));
    }
    // `unit` is never empty: it is the indentation of a line that has one.
    let depth = indent.len() / unit.len();
    if depth * unit.len() != indent.len() {
        return Err(err(
            n,
            format!(
                "indentation is not a multiple of the file's first one ({} {})",
                unit.len(),
                what(first)
            ),
        ));
    }
    Ok(depth)
}

/// Parses the whole text into a flat list of entries in file order.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, ZplError> {
    let mut entries = Vec::new();
    let mut last_depth: Option<usize> = None;
    let mut unit: Option<&str> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let body = line.trim_start_matches([' ', '\t']);
        if body.trim().is_empty() || body.starts_with('#') {
            continue;
        }
        let depth = depth_of(&line[..line.len() - body.len()], &mut unit, n)?;
        if depth > last_depth.map_or(0, |d| d + 1) {
            return Err(err(n, "indented deeper than one level below its parent"));
        }
        let name_len = body.bytes().take_while(|&b| is_name_byte(b)).count();
        if name_len == 0 {
            return Err(err(n, "expected a name"));
        }
        let (name, rest) = body.split_at(name_len);
        let rest = rest.trim_start_matches([' ', '\t']);
        let value = if let Some(v) = rest.strip_prefix('=') {
            Some(parse_value(v.trim_start_matches([' ', '\t']), n)?)
        } else {
            check_eol(rest, n)?;
            None
        };
        entries.push(Entry {
            depth,
            name: name.to_string(),
            value,
            line: n,
        });
        last_depth = Some(depth);
    }
    Ok(entries)
}

/// Does any line of `text` start (after indentation) with a name a certificate uses?
/// When a text that does not parse has none, it is not a damaged certificate but some
/// other file (notes, an SSH key) named `.key`, and is reported as such.
pub(crate) fn mentions_certificate_names(text: &str) -> bool {
    text.lines().any(|line| {
        let body = line.trim_start_matches([' ', '\t']);
        let name_len = body.bytes().take_while(|&b| is_name_byte(b)).count();
        matches!(
            &body[..name_len],
            "curve" | "metadata" | "public-key" | "secret-key"
        )
    })
}

/// Only whitespace and a `#` comment may follow a value.
fn check_eol(rest: &str, n: usize) -> Result<(), ZplError> {
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(err(n, "unexpected text after the value"))
    }
}

fn parse_value(v: &str, n: usize) -> Result<String, ZplError> {
    match v.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &v[1..];
            let end = inner
                .find(q)
                .ok_or_else(|| err(n, "unterminated quoted value"))?;
            check_eol(&inner[end + 1..], n)?;
            Ok(inner[..end].to_string())
        }
        // Unquoted: up to a comment, trimmed. pyzmq writes values with spaces unquoted,
        // so spaces are kept; `Alice # Liddell` reads as `Alice`, as in CZMQ.
        _ => {
            let end = v.find('#').unwrap_or(v.len());
            Ok(v[..end].trim_end_matches([' ', '\t']).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_values() {
        let t = "# banner\r\n\r\nmetadata\r\n    a = \"x # y\"   # c\r\n    b = 'q'\r\n    c = plain words # cut\r\ncurve\r\n    public-key = \"k\"\r\n";
        let e = parse(t).unwrap();
        let v: Vec<_> = e
            .iter()
            .map(|e| (e.depth, e.name.as_str(), e.value.as_deref()))
            .collect();
        assert_eq!(
            v,
            vec![
                (0, "metadata", None),
                (1, "a", Some("x # y")),
                (1, "b", Some("q")),
                (1, "c", Some("plain words")),
                (0, "curve", None),
                (1, "public-key", Some("k")),
            ]
        );
    }

    #[test]
    fn entries_wipe_on_drop() {
        fn wipes_on_drop<T: ZeroizeOnDrop>() {}
        wipes_on_drop::<Entry>();
        let mut e = parse("curve\n    secret-key = \"abc\"\n")
            .unwrap()
            .remove(1);
        // What `Drop` runs, observed on a live value.
        e.name.zeroize();
        e.value.zeroize();
        assert!(e.name.is_empty() && e.value.is_none());
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(parse("curve\n    k = \"abc\n").unwrap_err().line, 2);
        assert_eq!(parse("a\n    k = 1\nb\n  k = 1\n").unwrap_err().line, 4);
        assert_eq!(parse("a\n  k = 1\nb\n      k = 1\n").unwrap_err().line, 4);
        assert_eq!(parse("curve\n    k = \"a\" junk\n").unwrap_err().line, 2);
        assert_eq!(parse("a\n  k = 1\nb\n\tk = 1\n").unwrap_err().line, 4);
        assert_eq!(parse("curve\n \tk = 1\n").unwrap_err().line, 2);
        assert_eq!(parse("=x\n").unwrap_err().line, 1);
    }

    #[test]
    fn any_consistent_indentation() {
        for unit in ["  ", "\t", "    ", "   ", "\t\t"] {
            let text = format!("a\n{unit}b = 1\n{unit}{unit}c\n{unit}\t# note\nd\n{unit}e\n");
            let e = parse(&text).unwrap();
            let v: Vec<_> = e.iter().map(|e| (e.depth, e.name.as_str())).collect();
            assert_eq!(v, vec![(0, "a"), (1, "b"), (2, "c"), (0, "d"), (1, "e")]);
        }
    }

    #[test]
    fn certificate_names_are_recognised() {
        assert!(mentions_certificate_names("junk junk\ncurve\n"));
        assert!(mentions_certificate_names("\t public-key = x y"));
        assert!(!mentions_certificate_names("This is my key file.\n"));
        assert!(!mentions_certificate_names("curves ahead\nmetadata2\n"));
    }
}
