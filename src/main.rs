//! The `dssctl` binary: parse the command line, set up logging, run the command, report its
//! error and exit with the code of the one exit-code table ([`dssctl::error::exit_code`]).
//! Behaviour lives in the library; this is the only place the process exits.

use std::io::Write as _;

use dssctl::commands::{GlobalArgs, Invocation, LogFormat};
use dssctl::error::{Error, Outcome, exit_code, report};

/// mimalloc rather than the system allocator: loading and planning allocate millions of small
/// strings and maps; glibc's malloc and free were about a sixth of a plan's CPU, and mimalloc
/// takes about 20% less CPU for a plan or an apply of 5,000 datasets. Built without
/// transparent huge pages: they saved more CPU but added 30 to 50 MB to a plan's peak memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long freed memory stays with the allocator before it goes back to the system. The
/// default (10 ms) gave back and faulted in again the same pages while a plan was being
/// built; a second still returns a reconcile's memory to the system while `watch` idles.
const ALLOCATOR_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[allow(unsafe_code)]
fn set_allocator_purge_delay() {
    // SAFETY: setting an option has no precondition; mimalloc reads it when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) };
}

fn main() -> ! {
    set_allocator_purge_delay();
    dssctl::install_crypto_provider();
    let (cli, matches) = match dssctl::commands::parse(std::env::args_os()) {
        Ok(Invocation::Run(cli, matches)) => (*cli, matches),
        Ok(Invocation::Answered) => end_process(finish(&Ok(Outcome::Success))),
        Err(err) => end_process(finish(&Err(err))),
    };
    // The daemon's log is its output: it reports at info level unless asked otherwise.
    init_logging(&cli.global, cli.command.is_daemon());
    let result = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => {
            let result = runtime.block_on(dssctl::commands::run(cli, &matches));
            // An apply interrupted at its confirmation prompt leaves a thread reading stdin:
            // it must not keep the process alive.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            result
        }
        Err(err) => Err(Error::from(
            anyhow::Error::new(err).context("cannot start the async runtime"),
        )),
    };
    end_process(finish(&result))
}

/// Report the error, if any, and turn the result into the process's exit status.
fn finish(result: &Result<Outcome, Error>) -> u8 {
    if let Err(err) = result {
        // stderr may be closed too; there is nobody left to tell.
        let _ = std::io::stderr().write_all(report(err).as_bytes());
    }
    exit_code(result)
}

/// End the process with `code` once what it printed is flushed, without the allocator's
/// teardown: after a large plan, mimalloc gave its memory back range by range at exit (over
/// a hundred system calls, several milliseconds), which the kernel does at once when the
/// process ends. Every command has finished, its files written and closed, before this.
#[allow(unsafe_code)]
fn end_process(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit has no precondition; it skips only the C library's exit handlers.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug, `-vvv` trace (dssctl's own
/// events; dependencies stay at warnings), `-q` errors only; `RUST_LOG` overrides.
fn init_logging(global: &GlobalArgs, daemon: bool) {
    let verbose = global.verbose.saturating_add(u8::from(daemon));
    let level = match (global.quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,dssctl={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
