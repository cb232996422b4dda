//! Registering sockets with the event-driven core's poller. The one place
//! in `net` with `unsafe`: the poller must be told to forget a socket
//! before the socket closes or goes back to the pool, and `Watched` is how
//! the callers keep that promise (see `unwatch`).
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use polling::{Event, PollMode, Poller};

/// A socket the poller is watching, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    fd: RawFd,
    read: bool,
    write: bool,
}

/// Makes `poller` report `fd` under `key` when it is readable (`read`) or
/// writable (`write`), level-triggered, replacing what `current` watched.
pub fn watch(
    poller: &Poller,
    current: &mut Option<Watched>,
    fd: BorrowedFd<'_>,
    key: usize,
    read: bool,
    write: bool,
) -> io::Result<()> {
    let want = Watched {
        fd: fd.as_raw_fd(),
        read,
        write,
    };
    let event = match (read, write) {
        (true, true) => Event::all(key),
        (true, false) => Event::readable(key),
        (false, true) => Event::writable(key),
        (false, false) => Event::none(key),
    };
    match *current {
        Some(w) if w == want => return Ok(()),
        Some(w) if w.fd == want.fd => {
            poller.modify_with_mode(fd, event, PollMode::Level)?;
        }
        _ => {
            unwatch(poller, current);
            // SAFETY: the caller keeps `current` and calls `unwatch` before
            // the socket closes or leaves its hands, which is all `add`
            // asks (the poller must not outlive its sources' registration).
            #[allow(unsafe_code)]
            unsafe {
                poller.add_with_mode(want.fd, event, PollMode::Level)?;
            }
        }
    }
    *current = Some(want);
    Ok(())
}

/// Makes `poller` forget the socket `current` watched, if any. Call it
/// before the socket closes or goes back to the pool.
pub fn unwatch(poller: &Poller, current: &mut Option<Watched>) {
    if let Some(w) = current.take() {
        // SAFETY: `w.fd` is open: callers unwatch before closing it.
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(w.fd) };
        let _ = poller.delete(fd);
    }
}
