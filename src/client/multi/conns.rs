//! The HTTP/2 connections a multi's transfers have streams on. Each is
//! watched once in the multi's poller (under a key above every
//! transfer's), however many of its streams are here, and polled without
//! waiting: when its socket is ready, after the multi's transfers gave it
//! work (a new stream, a request body, window released), and when a
//! blocking thread that was driving it hands the role over. While such a
//! thread drives, the multi stops watching the socket (the thread reads
//! it; watching would only spin) until the role comes back to it.
use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Wake, Waker};

use polling::Poller;
use slab::Slab;

use crate::net::h2::H2Conn;
use crate::net::poller::{unwatch, watch, Watched};

/// Poller keys from here up are connections (`key - CONN_KEYS` in the
/// table); below are transfers.
pub(super) const CONN_KEYS: usize = usize::MAX / 2;

/// Tells the multi that connection `id` may be driven again.
pub(super) type Nudge = Arc<dyn Fn(usize) + Send + Sync>;

struct Entry {
    conn: Arc<H2Conn>,
    /// Transfers with a stream on it.
    streams: usize,
    watched: Option<Watched>,
    /// Wakes the multi when a thread hands the driver role over.
    waker: Waker,
}

struct NudgeWake {
    nudge: Nudge,
    id: usize,
}

impl Wake for NudgeWake {
    fn wake(self: Arc<Self>) {
        (self.nudge)(self.id);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        (self.nudge)(self.id);
    }
}

#[derive(Default)]
pub(super) struct Conns {
    entries: Slab<Entry>,
    of_transfer: HashMap<usize, usize>,
    /// Transfers gave connections work since the last `flush`.
    dirty: bool,
}

impl Conns {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Transfer `key` has a stream on `conn` (now or still).
    pub fn stream_on(&mut self, key: usize, conn: &Arc<H2Conn>, poller: &Poller, nudge: &Nudge) {
        self.dirty = true;
        if let Some(&id) = self.of_transfer.get(&key) {
            if Arc::ptr_eq(&self.entries[id].conn, conn) {
                return;
            }
            self.forget(key, poller);
        }
        let id = match self
            .entries
            .iter()
            .find(|(_, e)| Arc::ptr_eq(&e.conn, conn))
        {
            Some((id, _)) => id,
            None => {
                let slot = self.entries.vacant_entry();
                let id = slot.key();
                let waker = Waker::from(Arc::new(NudgeWake {
                    nudge: nudge.clone(),
                    id,
                }));
                slot.insert(Entry {
                    conn: conn.clone(),
                    streams: 0,
                    watched: None,
                    waker,
                });
                self.rewatch(id, poller, true);
                id
            }
        };
        self.entries[id].streams += 1;
        self.of_transfer.insert(key, id);
    }

    /// Transfer `key` has no stream any more (done, or on to another hop).
    pub fn forget(&mut self, key: usize, poller: &Poller) {
        let Some(id) = self.of_transfer.remove(&key) else {
            return;
        };
        let e = &mut self.entries[id];
        e.streams -= 1;
        if e.streams == 0 {
            let mut e = self.entries.remove(id);
            unwatch(poller, &mut e.watched);
            // Frames its last streams left (a reset, window updates) go
            // out now if the role is free.
            e.conn.drive_now(&e.waker, false);
        }
    }

    /// Polls connection `id` without waiting (`readable`: its socket was
    /// reported ready), then watches it again, or not while a thread
    /// drives it.
    pub fn drive(&mut self, id: usize, poller: &Poller, readable: bool) {
        let Some(e) = self.entries.get(id) else {
            return;
        };
        let ours = e.conn.drive_now(&e.waker, readable);
        self.rewatch(id, poller, ours);
    }

    /// Drives every connection once if transfers gave them work.
    pub fn flush(&mut self, poller: &Poller) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let ids: Vec<usize> = self.entries.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.drive(id, poller, false);
        }
    }

    /// Forgets every connection (the multi is going away).
    pub fn clear(&mut self, poller: &Poller) {
        for (_, e) in self.entries.iter_mut() {
            unwatch(poller, &mut e.watched);
        }
        self.entries.clear();
        self.of_transfer.clear();
    }

    fn rewatch(&mut self, id: usize, poller: &Poller, active: bool) {
        let e = &mut self.entries[id];
        let write = active && e.conn.write_blocked();
        // A failed registration leaves the transfers to their deadlines.
        let _ = watch(
            poller,
            &mut e.watched,
            e.conn.fd(),
            CONN_KEYS + id,
            active,
            write,
        );
    }
}
