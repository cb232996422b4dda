//! One-allocation blocks: a fixed-layout C struct followed by every byte
//! it points to, in a single `Vec<u8>` allocation that the struct's own
//! pointer frees. `reqivo_response` (`response.rs`) and `reqivo_ws_message`
//! (`ws_message.rs`) are such blocks; DESIGN §4.
//!
//! Layout: [pad][Block { vec, value: T }][what the builder writes][tail].
//! The tail is bytes already in the Vec when the block is built (a body
//! read in place, a payload), so they are never copied. `vec` records the
//! Vec (capacity and pad) so `free` can release it from the struct's
//! pointer alone. The pad is 0 with every common allocator (their blocks
//! are 16-aligned), so no room is kept for it: a misaligned buffer is the
//! rare case that moves the tail.
use std::mem::{align_of, size_of, ManuallyDrop};

/// The start of a block: the word that gives the Vec back, then the struct
/// C sees.
#[repr(C)]
struct Block<T> {
    /// The Vec to give back in `free`, in one word: its capacity, and the
    /// pad between its buffer and this block (`VecWord`).
    vec: u64,
    value: T,
}

/// Bytes from a block's start to the first byte after its struct, where a
/// builder's own bytes (header arrays, strings) go.
pub(crate) const fn size<T>() -> usize {
    size_of::<Block<T>>()
}

/// A Vec's capacity and the pad (0-7) from its buffer to the block, packed
/// as `capacity << 3 | pad`: a block keeps 8 bytes, not a pointer and a
/// length.
struct VecWord;

impl VecWord {
    const PAD_BITS: u32 = 3;

    fn pack(cap: usize, pad: usize) -> u64 {
        debug_assert!(pad < 1 << Self::PAD_BITS);
        // An allocation is at most isize::MAX bytes, far from 2^61 on 64-bit
        // targets; on 32-bit ones the u64 has room to spare.
        let cap = u64::try_from(cap).expect("capacity fits u64");
        assert!(cap < 1 << (64 - Self::PAD_BITS), "capacity fits the word");
        cap << Self::PAD_BITS | pad as u64
    }

    /// (capacity, pad).
    fn unpack(word: u64) -> (usize, usize) {
        let pad_mask = (1 << Self::PAD_BITS) - 1;
        (
            (word >> Self::PAD_BITS) as usize,
            (word & pad_mask) as usize,
        )
    }
}

/// `buf` (the tail from `tail_start`) if the block, `pad` bytes into it,
/// and then `front` bytes fit before the tail; else, for an allocator that
/// gave a buffer not aligned for the block, a copy with room for any pad
/// (`align` - 1 bytes), and where its tail starts.
fn with_room(
    buf: Vec<u8>,
    tail_start: usize,
    front: usize,
    pad: usize,
    align: usize,
) -> (Vec<u8>, usize) {
    if pad + front <= tail_start {
        return (buf, tail_start);
    }
    let room = front + align - 1;
    let mut moved = Vec::with_capacity(room + buf.len() - tail_start);
    moved.resize(room, 0);
    moved.extend_from_slice(&buf[tail_start..]);
    (moved, room)
}

/// Turns `buf` into a block for `T` and returns the struct's pointer, which
/// `free` releases. `buf` holds room from its start and its tail from
/// `tail_start`; `front` (at least `size::<T>()`) is the room the block
/// and the builder's bytes take when the block sits at the buffer's start.
/// `write(at, tail)` gets the block's (aligned) address and the tail's,
/// both in the buffer's final place, writes the builder's bytes and returns
/// the struct, which is then written at `at` after the block's word.
///
/// `write` may write only into `[at + size::<T>(), at + front)` and the
/// tail; the struct it returns may point anywhere in the buffer.
#[inline]
pub(crate) fn build<T>(
    mut buf: Vec<u8>,
    tail_start: usize,
    front: usize,
    write: impl FnOnce(*mut u8, *mut u8) -> T,
) -> *const T {
    const { assert!(align_of::<Block<T>>() <= 1 << VecWord::PAD_BITS) };
    assert!(
        size::<T>() <= front && front <= tail_start,
        "the builder keeps room for the block"
    );
    // Slack past the tail is memory a held block keeps for nothing: give
    // it back when it is worth a reallocation.
    if buf.capacity() - buf.len() > 4096 {
        buf.shrink_to_fit();
    }
    let align = align_of::<Block<T>>();
    let pad = buf.as_ptr().align_offset(align);
    let (buf, tail_start) = with_room(buf, tail_start, front, pad, align);
    let mut buf = ManuallyDrop::new(buf);
    let (base, cap) = (buf.as_mut_ptr(), buf.capacity());
    let pad = base.align_offset(align);
    // SAFETY: the buffer holds `tail_start` bytes and the tail, and
    // `pad + front <= tail_start` (with_room), so the block at `base + pad`
    // (aligned for it) and the builder's bytes end before the tail. The
    // Vec's memory now belongs to the block and is released by `free` as
    // the same Vec.
    unsafe {
        let at = base.add(pad);
        let value = write(at, base.add(tail_start));
        let block = at.cast::<Block<T>>();
        block.write(Block {
            vec: VecWord::pack(cap, pad),
            value,
        });
        &raw const (*block).value
    }
}

/// Releases a block made by `build`.
///
/// # Safety
/// `p` is NULL or came from `build::<T>` and was not freed.
pub(crate) unsafe fn free<T>(p: *const T) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` is the `value` field of a Block written by `build`, `pad`
    // bytes into the Vec of capacity `cap` it was built in.
    unsafe {
        let block = p
            .cast::<u8>()
            .sub(std::mem::offset_of!(Block<T>, value))
            .cast::<Block<T>>();
        let (cap, pad) = VecWord::unpack((*block).vec);
        let base = block.cast::<u8>().sub(pad).cast_mut();
        drop(Vec::from_raw_parts(base, 0, cap));
    }
}

#[cfg(test)]
mod tests {
    use super::super::response::reqivo_response;
    use super::*;

    #[test]
    fn response_vec_word_keeps_capacity_and_pad() {
        for (cap, pad) in [(0, 0), (1, 7), (1234, 3), (1 << 40, 5)] {
            assert_eq!(VecWord::unpack(VecWord::pack(cap, pad)), (cap, pad));
        }
    }

    #[test]
    fn response_room_is_kept_when_the_block_fits_and_made_when_it_does_not() {
        let align = align_of::<Block<reqivo_response>>();
        let front = 40;
        let mut buf = vec![0u8; front];
        buf.extend_from_slice(b"body\0");
        // Aligned: the same buffer, nothing moved.
        let ptr = buf.as_ptr();
        let (same, start) = with_room(buf, front, front, 0, align);
        assert_eq!((same.as_ptr(), start), (ptr, front));
        // A pad the front has no room for: the body moves past room for
        // any pad, intact.
        let (moved, start) = with_room(same, front, front, 3, align);
        assert_eq!(start, front + align - 1);
        assert_eq!(&moved[start..], b"body\0");
    }

    #[test]
    fn response_block_is_the_struct_and_one_word() {
        assert_eq!(
            size_of::<Block<reqivo_response>>(),
            size_of::<reqivo_response>() + 8
        );
    }
}
