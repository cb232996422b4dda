//! Prints reqivo's reading of responses for `compare.py`: reads cases from
//! stdin (each a little-endian u32 length, then that many bytes of a raw
//! response), and writes one JSON line per case with what the client makes
//! of it as the answer to a GET and to a HEAD. Bytes are written as Latin-1
//! strings so every byte survives the trip through JSON unchanged.
use std::io::{self, BufWriter, Read, Write};

use reqivo::fuzzing::{read_response, Reading};
use reqivo::proto::{BodyMode, Limits};
use serde_json::{json, Value};

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn view(r: &Reading) -> Value {
    let framing = match r.mode {
        None => Value::Null,
        Some(BodyMode::None) => json!("none"),
        Some(BodyMode::Length(n)) => json!(format!("length:{}", n)),
        Some(BodyMode::Chunked) => json!("chunked"),
        Some(BodyMode::CloseDelimited) => json!("close"),
    };
    json!({
        "interim": r.interim,
        "status": r.status,
        "minor": r.minor,
        "reason": latin1(&r.reason),
        "headers": r.headers.iter().map(|(n, v)| [latin1(n), latin1(v)]).collect::<Vec<_>>(),
        "framing": framing,
        "keep_alive": r.keep_alive,
        "body": latin1(&r.body),
        "consumed": r.consumed,
        "error": r.error,
    })
}

fn main() -> io::Result<()> {
    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input)?;
    let out = io::stdout();
    let mut out = BufWriter::new(out.lock());
    let limits = Limits::default();
    let mut rest = &input[..];
    while rest.len() >= 4 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(case) = rest.get(4..4 + len) else {
            break;
        };
        rest = &rest[4 + len..];
        let line = json!({
            "GET": view(&read_response(&[case], false, &limits)),
            "HEAD": view(&read_response(&[case], true, &limits)),
        });
        writeln!(out, "{}", line)?;
    }
    out.flush()
}
