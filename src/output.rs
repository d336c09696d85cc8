//! The one way dssctl writes to stdout. Every command prints through [`print`], which writes
//! and flushes under the lock and turns a failure into a [`StdoutError`], which the commands'
//! error type takes in: a full device becomes an error message and exit 1, a closed pipe a
//! quiet exit 0 (see `crate::error`); nothing panics, unlike `println!`.
//!
//! Also whether stdout wants colour.

use std::io::{IsTerminal, Write};

/// stdout could not be written: a full device, or a reader that went away.
#[derive(Debug, thiserror::Error)]
// The cause is in the message, so it is not also a `source()` (each error is said once).
#[error("cannot write to stdout: {0}")]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// Whether nothing should be said: the reader of stdout went away (a closed pipe).
    pub(crate) fn is_quiet(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Write `text` to stdout and flush it.
pub(crate) fn print(text: &str) -> Result<(), StdoutError> {
    write_to(&mut std::io::stdout().lock(), text)
}

/// Write `text` and a newline to stdout and flush it.
pub(crate) fn println(text: &str) -> Result<(), StdoutError> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    print(&line)
}

/// Write `text` to `out` and flush it; any failure is a stdout error.
pub(crate) fn write_to(out: &mut dyn Write, text: &str) -> Result<(), StdoutError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// Whether to colour text written to stdout: not with `--no-color`, not with `NO_COLOR` set
/// (to anything non-empty), and only on a terminal.
pub(crate) fn stdout_color(no_color_flag: bool) -> bool {
    !no_color_flag && !no_color_env() && std::io::stdout().is_terminal()
}

/// Whether to colour text written to stderr (progress), by the same rules.
pub(crate) fn stderr_color(no_color_flag: bool) -> bool {
    !no_color_flag && !no_color_env() && std::io::stderr().is_terminal()
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails like a full device or a closed pipe.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(self.0))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_failures_are_stdout_errors() {
        let mut out = Vec::new();
        write_to(&mut out, "ok\n").unwrap();
        assert_eq!(out, b"ok\n");
        let full = write_to(&mut Failing(std::io::ErrorKind::StorageFull), "x").unwrap_err();
        assert!(!full.is_quiet());
        let closed = write_to(&mut Failing(std::io::ErrorKind::BrokenPipe), "x").unwrap_err();
        assert!(closed.is_quiet());
    }
}
