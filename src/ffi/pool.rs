//! Connection pools.
use std::mem::size_of;
use std::sync::Arc;
use std::time::Duration;

use super::code::reqivo_code;
use super::error::{reqivo_error, Fail};
use super::handle::{free_arc, to_arc_ptr, try_ref, Castable, OwnedArc};
use super::limits::REQIVO_NO_LIMIT;
use crate::client::{Pool, PoolConfig};

/// A connection pool: thread-safe, shareable by any number of sessions,
/// reference-counted (a session keeps its pool alive after
/// `reqivo_pool_free`).
pub struct reqivo_pool {
    _private: [u8; 0],
}

impl Castable for reqivo_pool {
    type Ownership = OwnedArc;
    type RustType = Pool;
}

/// Pool settings. Set `struct_size = sizeof(reqivo_pool_config)`; the
/// struct only ever grows by appending fields, and a `struct_size` of an
/// earlier version (at least up to `max_idle_ms`) is accepted: the fields
/// it does not cover take their defaults. Get one filled with the
/// defaults from `reqivo_pool_config_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct reqivo_pool_config {
    /// `sizeof(reqivo_pool_config)`, set by `reqivo_pool_config_default`.
    pub struct_size: u32,
    /// Most connections to one scheme/host/port, idle or in use. Default 10;
    /// `REQIVO_NO_LIMIT` means no limit; 0 is `REQIVO_ERR_INVALID_CONFIG`.
    pub max_per_host: u32,
    /// Most connections in all. Default 100; `REQIVO_NO_LIMIT` means no
    /// limit; 0 is `REQIVO_ERR_INVALID_CONFIG`.
    pub max_total: u32,
    /// Idle connections older than this are closed, not reused. Default 30000.
    pub max_idle_ms: u32,
    /// Most idle connections kept to one scheme/host/port: a connection
    /// released while its host already has this many idle is closed
    /// instead (counted in `reqivo_pool_stats.closed`). Default 0: as many
    /// as `max_per_host`, so a config that raises `max_per_host` keeps that
    /// many idle, as before this field; a `struct_size` without this field
    /// means the same; `REQIVO_NO_LIMIT` means no cap beyond
    /// `max_per_host`.
    pub max_idle_per_host: u32,
}

/// `sizeof(reqivo_pool_config)` before `max_idle_per_host` was appended:
/// the smallest `struct_size` accepted.
const CONFIG_SIZE_V1: usize = std::mem::offset_of!(reqivo_pool_config, max_idle_per_host);

/// Pool counters since creation and gauges now. Set `struct_size =
/// sizeof(reqivo_pool_stats)` before the call; 0 is taken as the first
/// version's size.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct reqivo_pool_stats {
    /// Set by the caller to `sizeof(reqivo_pool_stats)`; 0 is taken as the
    /// first version's size.
    pub struct_size: u32,
    /// Connections opened.
    pub opened: u64,
    /// Checkouts served by an idle connection.
    pub reused: u64,
    /// Connections closed (by limits, errors, expiry or the server).
    pub closed: u64,
    /// Connections idle now.
    pub idle: u64,
    /// Connections checked out now.
    pub in_use: u64,
    /// Callers waiting for a free slot now.
    pub waiting: u64,
    /// HTTP/2 streams opened, in all (appended; a `struct_size` that ends
    /// before it gets the fields above only).
    pub streams_opened: u64,
    /// HTTP/2 streams open now.
    pub streams_active: u64,
    /// HTTP/2 connections taking new streams now; each counts once in
    /// `in_use`, however many streams it carries.
    pub h2_connections: u64,
}

/// `sizeof(reqivo_pool_stats)` before the HTTP/2 fields were appended:
/// what a `struct_size` of 0 stands for.
const STATS_SIZE_V1: usize = std::mem::offset_of!(reqivo_pool_stats, streams_opened);

impl reqivo_pool_stats {
    fn of(pool: &Pool) -> reqivo_pool_stats {
        let s = pool.stats();
        reqivo_pool_stats {
            struct_size: size_of::<reqivo_pool_stats>() as u32,
            opened: s.opened,
            reused: s.reused,
            closed: s.closed,
            idle: s.idle,
            in_use: s.in_use,
            waiting: s.waiting,
            streams_opened: s.streams_opened,
            streams_active: s.streams_active,
            h2_connections: s.h2_connections,
        }
    }

    /// Writes as many fields as `out->struct_size` covers (0 = the first
    /// version, up to `waiting`) and sets it to the size written; nothing
    /// when it declares less than its own field.
    ///
    /// # Safety
    /// `out` points to a caller's struct of the size it declares.
    unsafe fn write_to(&self, out: *mut reqivo_pool_stats) {
        // SAFETY: per the caller; no more than the declared size is written.
        unsafe {
            let declared = match (*out).struct_size as usize {
                0 => STATS_SIZE_V1,
                n if n < size_of::<u32>() => return,
                n => n.min(size_of::<reqivo_pool_stats>()),
            };
            std::ptr::copy_nonoverlapping(
                (self as *const reqivo_pool_stats).cast::<u8>(),
                out.cast::<u8>(),
                declared,
            );
            (*out).struct_size = declared as u32;
        }
    }
}

/// The default pool settings: 10 per host, 100 in all, 30 s idle expiry,
/// 10 idle per host, with `struct_size` set. Start from this and change
/// the fields you need.
///
/// Ownership: returned by value.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the defaults.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_pool_config_default() -> reqivo_pool_config {
    ffi_boundary!({
        let d = PoolConfig::default();
        reqivo_pool_config {
            struct_size: size_of::<reqivo_pool_config>() as u32,
            max_per_host: d.max_per_host as u32,
            max_total: d.max_total as u32,
            max_idle_ms: d.max_idle.as_millis() as u32,
            // 0, not the number: it follows a max_per_host the caller raises.
            max_idle_per_host: d.max_idle_per_host.map_or(0, limit_to_c),
        }
    })
}

/// A limit as C sees it: `usize::MAX` (no limit) is `REQIVO_NO_LIMIT`.
fn limit_to_c(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(REQIVO_NO_LIMIT)
}

/// A limit from C: `REQIVO_NO_LIMIT` is `usize::MAX` (no limit).
fn limit_from_c(n: u32) -> usize {
    match n {
        REQIVO_NO_LIMIT => usize::MAX,
        n => n as usize,
    }
}

/// Copies as much of the caller's config as its `struct_size` covers
/// (an older caller's struct is smaller than this version's); the rest
/// stays 0, which `to_config` reads as absent.
///
/// # Safety
/// `cfg` is non-NULL and points to a caller's struct of the size it
/// declares, at least its `struct_size` field.
unsafe fn read_config(cfg: *const reqivo_pool_config) -> reqivo_pool_config {
    let mut c = reqivo_pool_config {
        struct_size: 0,
        max_per_host: 0,
        max_total: 0,
        max_idle_ms: 0,
        max_idle_per_host: 0,
    };
    // SAFETY: per the caller; no more than the declared size is read.
    unsafe {
        c.struct_size = std::ptr::addr_of!((*cfg).struct_size).read();
        let n = (c.struct_size as usize).min(size_of::<reqivo_pool_config>());
        std::ptr::copy_nonoverlapping(
            cfg.cast::<u8>(),
            (&mut c as *mut reqivo_pool_config).cast::<u8>(),
            n,
        );
    }
    c
}

fn to_config(c: &reqivo_pool_config) -> Result<PoolConfig, Fail> {
    let size = c.struct_size as usize;
    if size < CONFIG_SIZE_V1 {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
            format!(
                "reqivo_pool_config.struct_size is {}, expected at least {}",
                c.struct_size, CONFIG_SIZE_V1
            ),
        ));
    }
    if c.max_per_host == 0 || c.max_total == 0 {
        return Err(Fail::new(
            reqivo_code::REQIVO_ERR_INVALID_CONFIG,
            "max_per_host and max_total must be at least 1",
        ));
    }
    // A field past the caller's struct_size is not read: it is absent.
    let covers = |end: usize| size >= end;
    let idle_end = CONFIG_SIZE_V1 + size_of::<u32>();
    let max_idle_per_host = match covers(idle_end).then_some(c.max_idle_per_host) {
        None | Some(0) => None,
        Some(n) => Some(limit_from_c(n)),
    };
    Ok(PoolConfig {
        max_per_host: limit_from_c(c.max_per_host),
        max_total: limit_from_c(c.max_total),
        max_idle: Duration::from_millis(u64::from(c.max_idle_ms)),
        max_idle_per_host,
    })
}

/// Creates a connection pool. Sessions created on it share its
/// connections (`reqivo_session_new`).
///
/// Ownership: the caller owns the pool and releases it with
/// `reqivo_pool_free`; sessions hold their own references, so freeing the
/// pool while sessions use it is safe.
/// NULL: `cfg` NULL means the defaults; `err` may be NULL.
/// Thread safety: the pool may be used from any number of threads at once.
/// Returns: the pool, or NULL with `err` filled: `REQIVO_ERR_INVALID_ARGUMENT`
/// for a `struct_size` smaller than the first version's (up to
/// `max_idle_ms`), `REQIVO_ERR_INVALID_CONFIG` for a zero `max_per_host`
/// or `max_total`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_pool_new(
    cfg: *const reqivo_pool_config,
    err: *mut reqivo_error,
) -> *mut reqivo_pool {
    ffi_boundary!(err, {
        // SAFETY: `cfg` is NULL or points to a caller-owned config.
        let config = if cfg.is_null() {
            PoolConfig::default()
        } else {
            // SAFETY: `cfg` is non-NULL and points to a caller-owned config
            // of the size it declares.
            let c = unsafe { read_config(cfg) };
            try_or_fail!(to_config(&c), err)
        };
        to_arc_ptr::<reqivo_pool>(Arc::new(Pool::new(config))).cast_mut()
    })
}

/// Releases the caller's reference to a pool. Idle connections close when
/// the last session using the pool is freed too.
///
/// Ownership: the caller's reference ends; do not use `pool` afterwards.
/// NULL: ignored.
/// Thread safety: do not free a pool another thread is passing to a call.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_pool_free(pool: *mut reqivo_pool) {
    // SAFETY: NULL or the caller's reference from reqivo_pool_new.
    ffi_boundary!({ unsafe { free_arc(pool.cast_const()) } })
}

/// Writes the pool's counters (opened, reused, closed, HTTP/2 streams
/// opened, since creation) and gauges (idle, in use, waiting, HTTP/2
/// streams and connections now) into `out`, as many fields as
/// `out->struct_size` covers (0 means the first version's size, up to
/// `waiting`).
///
/// Ownership: `out` is caller-owned; nothing is allocated.
/// NULL: does nothing if `pool` or `out` is NULL.
/// Thread safety: callable from any thread while the pool is in use.
/// Returns: nothing; `out->struct_size` is set to the size written.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_pool_get_stats(pool: *const reqivo_pool, out: *mut reqivo_pool_stats) {
    ffi_boundary!({
        // `out` stays a pointer: an older caller's struct may be smaller.
        require!(out);
        let stats = reqivo_pool_stats::of(borrow!(pool));
        // SAFETY: `out` is non-NULL and caller-owned.
        unsafe { stats.write_to(out) }
    })
}

/// Closes the pool's idle connections now, instead of when they expire
/// (`max_idle_ms`) or the pool is freed. Connections in use are not
/// touched: they return to the pool as usual when their response is done.
/// Later sends open new connections. The closes count in
/// `reqivo_pool_stats.closed`.
///
/// Ownership: nothing is allocated; `pool` stays the caller's.
/// NULL: ignored.
/// Thread safety: callable from any thread while other threads send through
/// the pool.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_pool_close_idle(pool: *const reqivo_pool) {
    ffi_boundary!({
        // SAFETY: NULL or a live pool.
        if let Some(pool) = unsafe { try_ref(pool) } {
            pool.close_idle();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_idle_per_host_defaults_follow_the_struct_size_and_zero() {
        let d = reqivo_pool_config_default();
        assert_eq!(d.struct_size as usize, size_of::<reqivo_pool_config>());
        assert_eq!(CONFIG_SIZE_V1, 4 * size_of::<u32>());
        assert_eq!((d.max_per_host, d.max_idle_per_host), (10, 0));
        let cfg = |c: reqivo_pool_config| {
            // SAFETY: a whole struct, whatever size it declares.
            to_config(&unsafe { read_config(&c) })
                .ok()
                .expect("a valid config")
        };
        assert_eq!(cfg(d).max_idle_per_host, None);
        assert_eq!(cfg(d).idle_per_host(), 10, "as many as max_per_host");
        // An older caller's struct: the field is not read, whatever it holds.
        let old = reqivo_pool_config {
            struct_size: CONFIG_SIZE_V1 as u32,
            max_per_host: 3,
            max_idle_per_host: 1,
            ..d
        };
        assert_eq!(cfg(old).max_idle_per_host, None);
        assert_eq!(cfg(old).idle_per_host(), 3);
        let zero = reqivo_pool_config {
            max_idle_per_host: 0,
            ..d
        };
        assert_eq!(cfg(zero).idle_per_host(), 10);
        let none = reqivo_pool_config {
            max_per_host: REQIVO_NO_LIMIT,
            max_total: REQIVO_NO_LIMIT,
            max_idle_per_host: REQIVO_NO_LIMIT,
            ..d
        };
        let c = cfg(none);
        assert_eq!(
            (c.max_per_host, c.max_total, c.idle_per_host()),
            (usize::MAX, usize::MAX, usize::MAX)
        );
        let short = reqivo_pool_config {
            struct_size: CONFIG_SIZE_V1 as u32 - 1,
            ..d
        };
        // SAFETY: as above.
        assert!(to_config(&unsafe { read_config(&short) }).is_err());
    }
}
