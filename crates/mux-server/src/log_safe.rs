//! Client-supplied text made safe for log lines: the one type, [`LogSafe`], lives in `backends`
//! (whose mechanisms log logins too, and which cannot depend on this crate) and is re-exported
//! here for the daemon's own lines.

pub use backends::log_safe::LogSafe;
