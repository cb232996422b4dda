//! A session's log: what the client did and why, for the caller's own
//! logging (connects, reuse, retries, redirects, errors).
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

pub trait Logger: Send + Sync {
    fn log(&self, level: Level, message: &str);
}

impl std::fmt::Debug for dyn Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logger")
    }
}

/// A logger with the least level it wants; messages below it are never
/// formatted, so logging off costs nothing.
#[derive(Clone, Debug)]
pub struct Log {
    pub logger: Arc<dyn Logger>,
    pub min: Level,
}

/// Logs `format!(...)` at `level` through an `Option<&Log>`, formatting
/// only when the level is wanted.
macro_rules! log_at {
    ($log:expr, $level:expr, $($arg:tt)*) => {
        if let Some(log) = $log {
            if $level >= log.min {
                log.logger.log($level, &format!($($arg)*));
            }
        }
    };
}
pub(crate) use log_at;
