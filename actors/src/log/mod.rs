//! Log files: one [`LogHandle`] (a [`Sink`] and its control) per file an app writes
//! (`<name>-out.log`, `<name>-error.log`, a combined `log_file`), a [`LogFile`] actor
//! only for a file rotated on an interval (its timer), and the pipe pumps that feed them.
//!
//! All live on the log arbiter, a thread of their own, so a chatty app never delays a
//! restart decision on the supervision arbiter (SPEC §7). A pump reads one pipe
//! asynchronously in large chunks, cuts them at the last newline, and hands whole lines
//! to every file of its stream; each file writes a batch with one `write` in append mode,
//! so lines of different streams or instances sharing a file never interleave. The pump
//! awaits each write: a slow disk fills the app's pipe and blocks the app instead of
//! growing a buffer.
//!
//! `sink.rs` holds a file's writer and control ([`LogHandle`], its `Sink`), `rotate.rs`
//! the interval rotation's timer actor ([`LogFile`]), `pump.rs` the pipe readers.

mod pump;
mod rotate;
mod sink;

use std::time::Duration;

pub use pump::{drained, pump, pump_then_forget, PumpTarget};
pub use rotate::{until_boundary, LogFile};
pub use sink::{LogHandle, LogStats, Owner};

/// The longest line written in one piece, in bytes (1 MiB); longer lines are written in
/// contiguous pieces of this size.
pub const MAX_LINE: usize = 1 << 20;

/// How long bytes without a newline wait before they are written as they are (1 s).
pub const PARTIAL_FLUSH: Duration = Duration::from_secs(1);

/// How much one read takes from a pipe at most, in bytes (1 MiB: the size a chatty app's
/// pipe is grown to).
const READ_CHUNK: usize = 1 << 20;

/// A pipe's default capacity, in bytes: a read that takes this much found the pipe full.
const DEFAULT_PIPE: usize = 64 * 1024;

/// The most bytes of a partial line carried in front of the shared read buffer; a longer
/// partial line is read into its pump's own buffer instead, in bytes.
const CARRY: usize = 64 * 1024;
