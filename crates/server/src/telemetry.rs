//! Structured logs: text for people, JSON for machines; `RUST_LOG` filters (default info).
//! Colour only when standard error is a terminal, so files and journals get plain text.
//!
//! Lines reach standard error through [`LogOutput`]: INFO and below are gathered in memory
//! and written by one thread every [`FLUSH_EVERY`] (or at once when [`MAX_PENDING`] bytes
//! wait), so the access line every request writes costs its thread a copy, not a system
//! call; WARN and ERROR lines, and everything when standard error is a terminal, are written
//! at once, after whatever was gathered before them, so the order holds.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The longest an INFO line waits in memory before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Gathered bytes that make the line that adds them write everything at once.
pub const MAX_PENDING: usize = 64 * 1024;

/// Installs the process-wide subscriber (the one global the tracing ecosystem requires).
/// Logs go to standard error so commands' standard output stays machine-readable. The
/// guard writes out what is gathered when dropped: hold it until the command ends.
pub fn init(format: LogFormat) -> LogGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let terminal = std::io::stderr().is_terminal();
    let output = LogOutput::new(terminal);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(output.clone())
        .with_ansi(terminal);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    if result.is_ok() {
        if !terminal {
            output.start_flushing();
        }
        let _ = ACCESS.set(AccessOutput {
            output: output.clone(),
            json: matches!(format, LogFormat::Json),
        });
    }
    LogGuard(output)
}

/// Where access lines go (see `http::access`): set by [`init`], absent in tests that serve
/// without it.
static ACCESS: OnceLock<AccessOutput> = OnceLock::new();

/// The process's log output for the access lines, which are written without the subscriber.
pub fn access_output() -> Option<&'static AccessOutput> {
    ACCESS.get()
}

/// The log output and its format, for lines formatted outside the subscriber.
#[derive(Debug)]
pub struct AccessOutput {
    output: LogOutput,
    /// JSON lines, else text.
    pub json: bool,
}

impl AccessOutput {
    /// Writes one INFO line (gathered, or at once on a terminal).
    pub fn write(&self, line: &[u8]) {
        if self.output.shared.direct {
            self.output.write_through(line);
        } else {
            self.output.gather(line);
        }
    }
}

/// Writes out the gathered log lines when dropped (the end of `serve`).
#[derive(Debug)]
pub struct LogGuard(LogOutput);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// Standard error with INFO lines gathered in memory (see the module documentation).
#[derive(Debug, Clone)]
pub struct LogOutput {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Lines not written yet.
    pending: Mutex<Vec<u8>>,
    /// Held while writing, so gathered lines and a line written at once keep their order.
    writing: Mutex<()>,
    /// Every line at once (standard error is a terminal).
    direct: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves bytes, never a broken invariant.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LogOutput {
    pub fn new(direct: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::with_capacity(MAX_PENDING)),
                writing: Mutex::new(()),
                direct,
            }),
        }
    }

    /// A thread that writes the gathered lines out every [`FLUSH_EVERY`].
    fn start_flushing(&self) {
        let output = self.clone();
        let started = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_EVERY);
                output.flush();
            });
        if started.is_err() {
            // Without the thread every line is written at once, as on a terminal.
            eprintln!("warning: cannot start the log flushing thread; writing lines at once");
        }
    }

    /// Writes the gathered lines, then `line`, to standard error.
    fn write_through(&self, line: &[u8]) {
        let _writing = lock(&self.shared.writing);
        let gathered = std::mem::take(&mut *lock(&self.shared.pending));
        let mut stderr = std::io::stderr().lock();
        // Nowhere to report a failing standard error; the lines are dropped.
        let _ = stderr.write_all(&gathered);
        let _ = stderr.write_all(line);
        let _ = stderr.flush();
        // Keep the buffer's capacity for the next lines.
        let mut pending = lock(&self.shared.pending);
        if pending.is_empty() && pending.capacity() < gathered.capacity() {
            let mut reused = gathered;
            reused.clear();
            *pending = reused;
        }
    }

    /// Adds `line` to the gathered lines; writes everything once they pass [`MAX_PENDING`].
    fn gather(&self, line: &[u8]) {
        let full = {
            let mut pending = lock(&self.shared.pending);
            pending.extend_from_slice(line);
            pending.len() >= MAX_PENDING
        };
        if full {
            self.write_through(&[]);
        }
    }

    /// Writes out what is gathered.
    pub fn flush(&self) {
        if !lock(&self.shared.pending).is_empty() {
            self.write_through(&[]);
        }
    }
}

/// One line's writer: gathers it, or writes it (and what was gathered) at once.
#[derive(Debug)]
pub struct LineWriter<'a> {
    output: &'a LogOutput,
    at_once: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.at_once {
            self.output.write_through(buf);
        } else {
            self.output.gather(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            output: self,
            at_once: self.shared.direct,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            output: self,
            at_once: writes_at_once(self.shared.direct, *meta.level()),
        }
    }
}

/// Whether a line at `level` is written at once: on a terminal, and WARN and ERROR (the
/// levels at or below WARN in tracing's order) always.
fn writes_at_once(direct: bool, level: Level) -> bool {
    direct || level <= Level::WARN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_wait_and_warnings_do_not() {
        for level in [Level::TRACE, Level::DEBUG, Level::INFO] {
            assert!(!writes_at_once(false, level), "{level}");
            assert!(writes_at_once(true, level), "{level} on a terminal");
        }
        for level in [Level::WARN, Level::ERROR] {
            assert!(writes_at_once(false, level), "{level}");
        }
        let output = LogOutput::new(false);
        output.make_writer().write_all(b"one\n").unwrap();
        output.make_writer().write_all(b"two\n").unwrap();
        assert_eq!(
            &*lock(&output.shared.pending),
            b"one\ntwo\n",
            "gathered in order"
        );
    }
}
