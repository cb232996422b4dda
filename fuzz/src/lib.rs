//! Helpers shared by the fuzz targets: how an input is cut into a control
//! part and data, and which limits a run uses.
use reqivo::proto::Limits;

/// An input split into flag bits, the offsets at which to cut the data into
/// reads, and the data itself.
pub struct Input<'a> {
    pub flags: u8,
    cuts: Vec<usize>,
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Layout: `flags`, `n`, then `n % 16` little-endian u16 cut offsets, then
    /// the data. Putting the control bytes first keeps seed files readable
    /// (three bytes, then plain HTTP).
    pub fn parse(input: &'a [u8]) -> Option<Input<'a>> {
        let (&flags, rest) = input.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n % 16);
        if rest.len() < 2 * n {
            return None;
        }
        let (spec, data) = rest.split_at(2 * n);
        let mut cuts: Vec<usize> = spec
            .chunks_exact(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (data.len() + 1))
            .collect();
        cuts.sort_unstable();
        Some(Input { flags, cuts, data })
    }

    /// The data as the reads a socket might return: cut at the chosen
    /// offsets, empty reads included (a repeated offset makes one).
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.cuts.len() + 1);
        let mut at = 0;
        for &cut in &self.cuts {
            out.push(&self.data[at..cut]);
            at = cut;
        }
        out.push(&self.data[at..]);
        out
    }

    /// Default limits, or (flag bit 1) tight ones, so the limit checks run
    /// on inputs a fuzzer can reach quickly.
    pub fn limits(&self) -> Limits {
        if self.flags & 2 == 0 {
            Limits::default()
        } else {
            Limits {
                max_line_bytes: 40,
                max_header_bytes: 160,
                max_header_count: 4,
                max_body_bytes: 64,
            }
        }
    }
}
