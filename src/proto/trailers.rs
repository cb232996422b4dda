//! The trailer section of a chunked body (RFC 9112 §7.1.2): the field
//! lines after the last chunk, kept as received so a caller can read them
//! once the body is done (net/http's Response.Trailer, curl's trailer
//! callback). Held as one buffer of lines; empty, it costs nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// Field lines without their CRLF, each followed by `\n`. Every line
    /// was checked as a field line (token name, colon, value without
    /// control bytes) while it was decoded.
    lines: Vec<u8>,
}

impl Trailers {
    pub(crate) fn push_byte(&mut self, b: u8) {
        self.lines.push(b);
    }

    pub(crate) fn end_line(&mut self) {
        self.lines.push(b'\n');
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.lines.iter().filter(|&&b| b == b'\n').count()
    }

    /// The fields in received order: the name as received, the value
    /// without surrounding whitespace.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.lines
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
                let value = line.get(colon + 1..).unwrap_or_default();
                (&line[..colon], value.trim_ascii())
            })
    }

    /// Bytes of names and values: what a flat copy needs besides its NULs.
    pub fn text_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_split_into_fields() {
        let mut t = Trailers::default();
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
        for line in [&b"X-Checksum: abc "[..], b"Server-Timing:\tdb;dur=53"] {
            line.iter().for_each(|&b| t.push_byte(b));
            t.end_line();
        }
        let fields: Vec<_> = t.iter().collect();
        assert_eq!(
            fields,
            [
                (&b"X-Checksum"[..], &b"abc"[..]),
                (b"Server-Timing", b"db;dur=53")
            ]
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.text_len(), 10 + 3 + 13 + 9);
    }
}
