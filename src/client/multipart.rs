//! multipart/form-data bodies (RFC 7578): fields held in memory, files
//! streamed from disk while sending, never loaded whole.
//!
//! A form is frozen when set on a request (`Form`): the boundary is drawn
//! then and the length computed from the parts' sizes, so the request
//! carries a Content-Length. Files are stat'ed when added (a missing or
//! unreadable one is refused there) and checked again when sent: each send
//! reopens them (the form is a `Body::Reopen`, so a 307/308 redirect or a
//! retry sends it again), and a file whose size differs from the one
//! added, before or during the send, fails that send with `Io` rather than
//! sending a length that lies.
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::body::{BodySource, Reopen};
use super::error::{ClientError, ClientErrorKind};
use crate::net::NetError;
use crate::proto::validate_header_value;

/// The type a file part gets when none is given: nothing is guessed from
/// the file's name or bytes.
pub const DEFAULT_FILE_TYPE: &str = "application/octet-stream";

/// Random bytes in a boundary: 24, written as 48 hex digits after
/// `reqivo-` (55 characters; RFC 2046 allows 70).
const BOUNDARY_RANDOM: usize = 24;

/// A form being built. Setting it on a request copies what it holds (the
/// parts are shared, not duplicated), so it may be changed or dropped
/// afterwards without touching that request.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    parts: Vec<Arc<Part>>,
}

#[derive(Debug)]
struct Part {
    /// The part's header lines and the blank line after them.
    head: Vec<u8>,
    content: Content,
}

#[derive(Debug)]
enum Content {
    Field(Vec<u8>),
    File { path: PathBuf, size: u64 },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Field(v) => v.len() as u64,
            Content::File { size, .. } => *size,
        }
    }
}

impl Multipart {
    pub fn new() -> Multipart {
        Multipart::default()
    }

    /// Adds a field: `name` (any UTF-8, escaped as browsers do) and its
    /// value, sent as is without a Content-Type (text/plain, RFC 7578 §4.4).
    pub fn add_field(&mut self, name: &str, value: &[u8]) {
        let head = part_head(name, None, None);
        self.parts.push(Arc::new(Part {
            head,
            content: Content::Field(value.to_vec()),
        }));
    }

    /// Adds a file part named `name`, with the last component of `path` as
    /// its filename and `content_type` (or application/octet-stream) as its
    /// type. The file must be a regular file now; its size is taken now,
    /// its bytes only when the request is sent.
    pub fn add_file(
        &mut self,
        name: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> Result<(), ClientError> {
        let filename = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.add_file_as(name, path, &filename, content_type)
    }

    /// `add_file` with the filename given rather than taken from `path`.
    pub fn add_file_as(
        &mut self,
        name: &str,
        path: &Path,
        filename: &str,
        content_type: Option<&str>,
    ) -> Result<(), ClientError> {
        let content_type = content_type.filter(|t| !t.is_empty());
        let content_type = content_type.unwrap_or(DEFAULT_FILE_TYPE);
        validate_header_value(b"Content-Type", content_type.as_bytes())?;
        let meta = std::fs::metadata(path)
            .map_err(|e| invalid(format!("multipart file {}: {}", path.display(), e)))?;
        if !meta.is_file() {
            return Err(invalid(format!(
                "multipart file {} is not a regular file",
                path.display()
            )));
        }
        // Readable now, so a permission problem shows here, not mid-send.
        File::open(path)
            .map_err(|e| invalid(format!("multipart file {}: {}", path.display(), e)))?;
        let head = part_head(name, Some(filename), Some(content_type));
        self.parts.push(Arc::new(Part {
            head,
            content: Content::File {
                path: path.to_path_buf(),
                size: meta.len(),
            },
        }));
        Ok(())
    }

    /// The form as a body: a fresh boundary checked against every field
    /// value, and the Content-Type naming it.
    pub(crate) fn freeze(&self) -> Result<(Arc<Form>, String), ClientError> {
        self.freeze_with(random_boundary)
    }

    /// `freeze` with the boundaries drawn by `draw`, until one that no
    /// field holds.
    fn freeze_with(
        &self,
        mut draw: impl FnMut() -> Result<String, ClientError>,
    ) -> Result<(Arc<Form>, String), ClientError> {
        let boundary = loop {
            let b = draw()?;
            // A field is known, so it is checked; a file is not read here:
            // 192 random bits make the chance that it holds the boundary
            // at most its length times 2^-192, nothing next to a disk error.
            let clash = self.parts.iter().any(|p| match &p.content {
                Content::Field(v) => contains(v, b.as_bytes()),
                Content::File { .. } => false,
            });
            if !clash {
                break b;
            }
        };
        let mut leads = Vec::with_capacity(self.parts.len());
        for (i, part) in self.parts.iter().enumerate() {
            let mut lead = Vec::with_capacity(boundary.len() + part.head.len() + 6);
            if i > 0 {
                lead.extend_from_slice(b"\r\n");
            }
            lead.extend_from_slice(b"--");
            lead.extend_from_slice(boundary.as_bytes());
            lead.extend_from_slice(b"\r\n");
            lead.extend_from_slice(&part.head);
            leads.push(lead);
        }
        let mut tail = Vec::new();
        if !self.parts.is_empty() {
            tail.extend_from_slice(b"\r\n");
        }
        tail.extend_from_slice(b"--");
        tail.extend_from_slice(boundary.as_bytes());
        tail.extend_from_slice(b"--\r\n");
        let size = leads.iter().map(|l| l.len() as u64).sum::<u64>()
            + self.parts.iter().map(|p| p.content.len()).sum::<u64>()
            + tail.len() as u64;
        let content_type = format!("multipart/form-data; boundary={}", boundary);
        let form = Form {
            parts: self.parts.clone(),
            leads,
            tail,
            size,
        };
        Ok((Arc::new(form), content_type))
    }
}

/// A frozen form: each part's lead (delimiter and head), its content, and
/// the closing delimiter, in that order.
#[derive(Debug)]
pub(crate) struct Form {
    parts: Vec<Arc<Part>>,
    leads: Vec<Vec<u8>>,
    tail: Vec<u8>,
    size: u64,
}

impl Reopen for Form {
    fn size(&self) -> u64 {
        self.size
    }

    fn open(self: Arc<Self>) -> Result<Box<dyn BodySource>, ClientError> {
        // Sizes checked by path before anything is sent; each file is
        // opened only when reached, so a form of many files holds one
        // descriptor at a time.
        for part in &self.parts {
            if let Content::File { path, size } = &part.content {
                let now = std::fs::metadata(path)
                    .map_err(|e| file_error(path, &e))?
                    .len();
                check_size(path, *size, now)?;
            }
        }
        Ok(Box::new(FormReader {
            form: self,
            seg: 0,
            off: 0,
            file: None,
        }))
    }
}

/// Reads a form from its start. Segment `2i` is part `i`'s lead, `2i+1`
/// its content; segment `2n` is the closing delimiter.
struct FormReader {
    form: Arc<Form>,
    seg: usize,
    /// Bytes of the current segment already read.
    off: u64,
    file: Option<File>,
}

impl BodySource for FormReader {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        let form = self.form.clone();
        let n = form.parts.len();
        loop {
            let got = if self.seg > 2 * n {
                return Ok(0);
            } else if self.seg == 2 * n {
                copy_at(&form.tail, &mut self.off, buf)
            } else if self.seg % 2 == 0 {
                copy_at(&form.leads[self.seg / 2], &mut self.off, buf)
            } else {
                match &form.parts[self.seg / 2].content {
                    Content::Field(v) => copy_at(v, &mut self.off, buf),
                    Content::File { path, size } => self.read_file(path, *size, buf)?,
                }
            };
            if got > 0 || buf.is_empty() {
                return Ok(got);
            }
            self.seg += 1;
            self.off = 0;
        }
    }
}

impl FormReader {
    /// The next bytes of a file part; 0 once `size` bytes were read and the
    /// file still has that size.
    fn read_file(&mut self, path: &Path, size: u64, buf: &mut [u8]) -> Result<usize, ClientError> {
        if self.file.is_none() {
            let f = File::open(path).map_err(|e| file_error(path, &e))?;
            self.file = Some(f);
        }
        let Some(file) = &mut self.file else {
            unreachable!()
        };
        if self.off == size {
            // A file that grew while it was sent would not match the
            // Content-Length sent; one that shrank ends early below.
            let now = file.metadata().map_err(|e| file_error(path, &e))?.len();
            check_size(path, size, now)?;
            self.file = None;
            return Ok(0);
        }
        let want = (size - self.off).min(buf.len() as u64) as usize;
        let got = loop {
            match file.read(&mut buf[..want]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r.map_err(|e| file_error(path, &e))?,
            }
        };
        if got == 0 {
            return Err(changed(path, size, self.off));
        }
        self.off += got as u64;
        Ok(got)
    }
}

/// Copies from `src` at `*off` into `buf`, advancing `*off`.
fn copy_at(src: &[u8], off: &mut u64, buf: &mut [u8]) -> usize {
    let rest = &src[*off as usize..];
    let n = rest.len().min(buf.len());
    buf[..n].copy_from_slice(&rest[..n]);
    *off += n as u64;
    n
}

fn check_size(path: &Path, added: u64, now: u64) -> Result<(), ClientError> {
    if added == now {
        Ok(())
    } else {
        Err(changed(path, added, now))
    }
}

fn changed(path: &Path, added: u64, now: u64) -> ClientError {
    let e = std::io::Error::other(format!(
        "its size changed from {} bytes when added to {}",
        added, now
    ));
    file_error(path, &e)
}

fn file_error(path: &Path, e: &std::io::Error) -> ClientError {
    NetError::io(e, &format!("multipart file {}", path.display())).into()
}

fn invalid(message: String) -> ClientError {
    ClientError::new(ClientErrorKind::InvalidArgument, message)
}

/// The part's head: Content-Disposition with the escaped name (and
/// filename), the Content-Type of a file, and the blank line.
fn part_head(name: &str, filename: Option<&str>, content_type: Option<&str>) -> Vec<u8> {
    let mut h = Vec::with_capacity(64 + name.len());
    h.extend_from_slice(b"Content-Disposition: form-data; name=\"");
    escape_into(&mut h, name);
    h.push(b'"');
    if let Some(f) = filename {
        h.extend_from_slice(b"; filename=\"");
        escape_into(&mut h, f);
        h.push(b'"');
    }
    h.extend_from_slice(b"\r\n");
    if let Some(t) = content_type {
        h.extend_from_slice(b"Content-Type: ");
        h.extend_from_slice(t.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// A name or filename inside its quoted string (RFC 7578 §4.2): `"`, CR
/// and LF percent-encoded as browsers do (the HTML standard's form
/// encoding), so a delimiter or a header can never be forged from a name;
/// a backslash doubled, the quoted-pair of RFC 9110 §5.6.4, which parsers
/// of quoted strings (Python's `email`, Go's `mime`) undo while a lone one
/// would escape the next character; other bytes, UTF-8 included, as is.
/// No `filename*`: RFC 7578 §4.2 says not to send it.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
}

fn random_boundary() -> Result<String, ClientError> {
    let mut raw = [0u8; BOUNDARY_RANDOM];
    getrandom::fill(&mut raw).map_err(|e| {
        ClientError::new(
            ClientErrorKind::InvalidConfig,
            format!("no randomness for a multipart boundary: {}", e),
        )
    })?;
    let mut b = String::with_capacity(7 + 2 * BOUNDARY_RANDOM);
    b.push_str("reqivo-");
    for byte in raw {
        b.push_str(&format!("{:02x}", byte));
    }
    Ok(b)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(form: &Arc<Form>) -> Vec<u8> {
        let mut src = form.clone().open().unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = src.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn escapes_names_and_sizes_match() {
        let dir = std::env::temp_dir().join(format!("reqivo-mp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut mp = Multipart::new();
        mp.add_field("q\"\r\n\\é", b"v");
        mp.add_file("f", &path, None).unwrap();
        let (form, ct) = mp.freeze().unwrap();
        let body = read_all(&form);
        assert_eq!(body.len() as u64, form.size());
        let b = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{}\r\n", b)));
        assert!(text.contains("name=\"q%22%0D%0A\\\\é\"\r\n\r\nv\r\n"));
        assert!(text.contains(
            "filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n0123456789\r\n"
        ));
        assert!(text.ends_with(&format!("--{}--\r\n", b)));
        // A second read is the same body; a changed file fails the next.
        assert_eq!(read_all(&form), text.as_bytes());
        std::fs::write(&path, b"0123").unwrap();
        assert!(form.clone().open().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_boundary_a_field_holds_is_drawn_again() {
        let mut mp = Multipart::new();
        mp.add_field("a", b"x--reqivo-1y");
        let mut drawn = vec!["reqivo-2".to_string(), "reqivo-1".to_string()];
        let (form, ct) = mp.freeze_with(|| Ok(drawn.pop().unwrap())).unwrap();
        assert!(drawn.is_empty());
        assert_eq!(ct, "multipart/form-data; boundary=reqivo-2");
        let body = String::from_utf8(read_all(&form)).unwrap();
        assert!(body.starts_with("--reqivo-2\r\n"));
        assert!(body.ends_with("x--reqivo-1y\r\n--reqivo-2--\r\n"));
    }

    #[test]
    fn missing_file_refused_when_added() {
        let mut mp = Multipart::new();
        let e = mp
            .add_file("f", Path::new("/nonexistent/reqivo"), None)
            .unwrap_err();
        assert_eq!(e.kind(), super::super::ErrorKind::InvalidArgument);
        assert!(mp.add_file("f", Path::new("/"), None).is_err());
    }
}
