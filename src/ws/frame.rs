//! Frame headers (RFC 6455 §5.2): decoding with every check made on the
//! header alone, before a byte of payload memory exists, and encoding of
//! whole client frames (always masked, §5.3).
use super::error::{WsError, WsErrorKind};
use super::mask::apply_mask;

/// The longest header: 2 bytes, 8 of extended length, 4 of mask key.
pub(crate) const MAX_HEADER_LEN: usize = 14;
/// RFC 6455 §5.5: control frames carry at most 125 payload bytes.
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(b: u8) -> Option<OpCode> {
        Some(match b {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1..3 as the top three bits of the first byte (0x70 mask).
    pub rsv: u8,
    pub opcode: OpCode,
    pub len: u64,
}

impl FrameHeader {
    /// Decodes a header sent by a server. `Ok(None)` means more bytes are
    /// needed. `allowed_rsv` holds the RSV bits a negotiated extension
    /// gives meaning to (none yet). A payload over `max_frame` is refused
    /// here, so a header announcing 2^63 bytes never reaches an allocation.
    pub fn decode(
        input: &[u8],
        allowed_rsv: u8,
        max_frame: u64,
    ) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let [b0, b1, ..] = *input else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let Some(opcode) = OpCode::from_bits(b0 & 0x0F) else {
            return Err(WsError::protocol(format!(
                "frame with reserved opcode 0x{:X} (RFC 6455 §5.2)",
                b0 & 0x0F
            )));
        };
        if rsv & !allowed_rsv != 0 {
            return Err(WsError::protocol(format!(
                "frame with reserved bits 0x{:02X} set and no extension negotiated (RFC 6455 §5.2)",
                rsv >> 4
            )));
        }
        // §5.1: a client must close on a masked frame from the server.
        if b1 & 0x80 != 0 {
            return Err(WsError::protocol(
                "masked frame from the server (RFC 6455 §5.1)",
            ));
        }
        let (len, used) = match b1 & 0x7F {
            126 => {
                let Some(b) = input.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([b[0], b[1]]) as u64;
                if len < 126 {
                    return Err(non_minimal(len));
                }
                (len, 4)
            }
            127 => {
                let Some(b) = input.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let len = u64::from_be_bytes(a);
                // §5.2: the most significant bit must be 0.
                if len >> 63 != 0 {
                    return Err(WsError::protocol(format!(
                        "frame length {} has its most significant bit set (RFC 6455 §5.2)",
                        len
                    )));
                }
                if len <= 0xFFFF {
                    return Err(non_minimal(len));
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(WsError::protocol(
                    "fragmented control frame (RFC 6455 §5.5)",
                ));
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(WsError::protocol(format!(
                    "control frame with a {}-byte payload, over 125 (RFC 6455 §5.5)",
                    len
                )));
            }
        }
        if len > max_frame {
            return Err(WsError::new(
                WsErrorKind::MessageTooBig,
                format!(
                    "frame of {} bytes is over the maximum frame size of {} bytes",
                    len, max_frame
                ),
            ));
        }
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                len,
            },
            used,
        )))
    }
}

fn non_minimal(len: u64) -> WsError {
    WsError::protocol(format!(
        "frame length {} not in its shortest encoding (RFC 6455 §5.2)",
        len
    ))
}

/// Appends one client frame to `out`: header, `key`, and `payload` masked
/// with `key` (RFC 6455 §5.3: every client frame is masked).
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    payload: &[u8],
    key: [u8; 4],
) {
    let b0 = (if fin { 0x80 } else { 0 }) | (rsv & 0x70) | opcode.bits();
    out.reserve(MAX_HEADER_LEN + payload.len());
    out.push(b0);
    let len = payload.len() as u64;
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&key);
    let at = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[at..], key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 16 << 20;

    fn decode(b: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        FrameHeader::decode(b, 0, MAX)
    }

    fn kind(b: &[u8]) -> WsErrorKind {
        decode(b).unwrap_err().kind
    }

    #[test]
    fn frame_decodes_short_medium_long_lengths() {
        let (h, n) = decode(b"\x81\x05Hello").unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.len, n), (true, OpCode::Text, 5, 2));
        let (h, n) = decode(b"\x02\x7e\x01\x00").unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.len, n), (false, OpCode::Binary, 256, 4));
        let (h, n) = decode(b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00")
            .unwrap()
            .unwrap();
        assert_eq!((h.len, n), (65536, 10));
    }

    #[test]
    fn frame_needs_more_until_the_header_is_whole() {
        let full = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00";
        for i in 0..full.len() {
            assert_eq!(decode(&full[..i]).unwrap(), None, "prefix {}", i);
        }
    }

    #[test]
    fn frame_refuses_length_with_top_bit_before_allocating() {
        // 2^63: refused from the 10 header bytes alone.
        let e = decode(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00").unwrap_err();
        assert_eq!(e.kind, WsErrorKind::Protocol);
        assert!(e.message.contains("most significant bit"), "{}", e);
    }

    #[test]
    fn frame_refuses_length_over_max_frame() {
        let e = FrameHeader::decode(b"\x82\x7e\x01\x00", 0, 255).unwrap_err();
        assert_eq!(e.kind, WsErrorKind::MessageTooBig);
        assert!(FrameHeader::decode(b"\x82\x7e\x01\x00", 0, 256).is_ok());
        assert_eq!(
            kind(b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"),
            WsErrorKind::MessageTooBig
        );
    }

    #[test]
    fn frame_refuses_masked_server_frame() {
        assert_eq!(kind(b"\x81\x85\x37\xfa\x21\x3d"), WsErrorKind::Protocol);
    }

    #[test]
    fn frame_refuses_reserved_bits_without_extension() {
        for b0 in [0xC1u8, 0xA1, 0x91] {
            assert_eq!(kind(&[b0, 0]), WsErrorKind::Protocol);
        }
        // Allowed when an extension owns RSV1.
        assert!(FrameHeader::decode(&[0xC1, 0], 0x40, MAX).is_ok());
    }

    #[test]
    fn frame_refuses_reserved_opcodes() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let e = decode(&[0x80 | op, 0]).unwrap_err();
            assert_eq!(e.kind, WsErrorKind::Protocol);
            assert!(e.message.contains("opcode"), "{}", e);
        }
    }

    #[test]
    fn frame_refuses_long_or_fragmented_control_frames() {
        assert_eq!(kind(b"\x89\x7e\x00\x7e"), WsErrorKind::Protocol);
        assert!(decode(b"\x89\x7d").unwrap().is_some());
        assert_eq!(kind(b"\x09\x00"), WsErrorKind::Protocol);
        assert_eq!(kind(b"\x08\x00"), WsErrorKind::Protocol);
    }

    #[test]
    fn frame_refuses_non_minimal_lengths() {
        assert_eq!(kind(b"\x82\x7e\x00\x7d"), WsErrorKind::Protocol);
        assert_eq!(
            kind(b"\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"),
            WsErrorKind::Protocol
        );
    }

    #[test]
    fn frame_encodes_masked_and_decodes_back() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            encode_frame(&mut out, true, 0, OpCode::Binary, &payload, [1, 2, 3, 4]);
            assert_eq!(out[1] & 0x80, 0x80, "mask bit");
            // Strip the mask bit and key to decode as a server frame.
            let hdr = if len < 126 {
                2
            } else if len <= 0xFFFF {
                4
            } else {
                10
            };
            let mut plain = out[..hdr].to_vec();
            plain[1] &= 0x7F;
            let mut body = out[hdr + 4..].to_vec();
            apply_mask(&mut body, [1, 2, 3, 4], 0);
            assert_eq!(body, payload);
            let (h, n) = decode(&plain).unwrap().unwrap();
            assert_eq!((h.len as usize, n), (len, hdr));
        }
    }
}
