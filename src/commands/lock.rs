//! The stack lock at the command edge: the `--lock-timeout` flag of the commands that write,
//! [`with_lock`] (take the lock, run the writing part of a command, release the lock, also on
//! an error and on Ctrl-C), and `dssctl unlock`. The algorithm is [`crate::lock`]'s.

use std::future::Future;
use std::time::Duration;

use clap::ArgMatches;

use super::{TargetArgs, hinted};
use crate::error::{Error, Outcome};
use crate::lock::{self, Holder, LockSettings, LockState};
use crate::target::{Target, TargetConfig, connect};

/// The lock flags of the commands that write.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct LockArgs {
    /// Wait up to DURATION (e.g. 30s, 5m) while another run holds the stack's lock, printing
    /// who holds it; default: do not wait (apply exits 5 at once; a watch reconcile fails and
    /// is retried with the back-off).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Option<Duration>,
    /// The longest a read-then-write of the lock may take (Δ of docs/lock.md); every run
    /// against one stack must use the same value.
    #[arg(
        long,
        hide = true,
        env = lock::WRITE_BOUND_ENV,
        value_name = "DURATION",
        default_value = "500ms",
        value_parser = parse_duration
    )]
    pub lock_write_bound: Duration,
}

impl LockArgs {
    pub(crate) fn settings(self) -> LockSettings {
        LockSettings {
            timeout: self.lock_timeout,
            write_bound: self.lock_write_bound,
            ..LockSettings::default()
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

/// Run the writing part of `command` holding the stack lock of `target`: `read` (what it
/// reads before writing: its plan) runs during the lock's settle wait (see
/// [`lock::acquire_reading`]), then `body` with what the successful attempt read. The lock is
/// released when `body` ends, whatever its result, and on Ctrl-C, which drops `body` and ends
/// with [`Error::Interrupted`] (exit 130).
pub(crate) async fn with_lock<T, R, RF, B, BF>(
    target: &Target,
    settings: LockSettings,
    command: &str,
    read: R,
    body: B,
) -> Result<Outcome, Error>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<T, Error>>,
    B: FnOnce(T) -> BF,
    BF: Future<Output = Result<Outcome, Error>>,
{
    let holder = Holder::current(command, |name| std::env::var(name).ok());
    let run = async {
        let (guard, read) = lock::acquire_reading(
            &target.client,
            &target.stack,
            &holder,
            settings,
            |who| eprintln!("waiting for the lock of stack {:?}, held by {who}", target.stack),
            read,
        )
        .await?;
        let result = match read {
            Ok(value) => body(value).await,
            Err(e) => Err(e),
        };
        if guard.lost() {
            eprintln!(
                "warning: another run took the lock of stack {:?} over while this one held it; \
                 see docs/lock.md",
                target.stack
            );
        }
        if let Err(e) = guard.release().await {
            eprintln!(
                "warning: cannot release the lock of stack {:?} ({e}); it expires by itself",
                target.stack
            );
        }
        result
    };
    tokio::select! {
        result = run => result,
        () = interrupted() => {
            // `run` is dropped: remove our record now (the lock, or a half-done attempt at
            // it) rather than leave it to its expiry.
            target.client.set_lock_holder(None);
            if let Err(e) = lock::release_if_mine(&target.client, &target.stack, &holder.id).await {
                eprintln!("warning: cannot release the lock of stack {:?} ({e}); it expires by itself", target.stack);
            }
            Err(Error::Interrupted(format!(
                "interrupted; the lock of stack {:?} was released",
                target.stack
            )))
        }
    }
}

/// Ctrl-C; never, when it cannot be listened for.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Say on stderr who holds the lock, for `plan` (which takes none).
pub(crate) fn notice(vars: Option<&serde_json::Map<String, serde_json::Value>>, stack: &str) {
    let Some(vars) = vars else { return };
    match lock::state_in(vars, stack, "") {
        LockState::Free => {}
        state => eprintln!(
            "note: stack {stack:?} is locked by {}: a run is applying; this plan may be out of date soon",
            state.describe().unwrap_or_default()
        ),
    }
}

/// `dssctl unlock`.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Remove the lock even though it has not expired (when the run holding it is gone).
    #[arg(long)]
    pub force: bool,
}

/// The resolved configuration of `dssctl unlock`.
#[derive(Debug)]
pub(crate) struct UnlockConfig {
    pub target: TargetConfig,
    pub force: bool,
}

impl UnlockArgs {
    pub(crate) fn resolve(self, matches: &ArgMatches) -> Result<UnlockConfig, Error> {
        Ok(UnlockConfig {
            target: self.target.resolve(matches),
            force: self.force,
        })
    }
}

pub(super) async fn unlock(config: UnlockConfig) -> Result<Outcome, Error> {
    hinted(&config.target, run_unlock(&config).await)
}

async fn run_unlock(config: &UnlockConfig) -> Result<Outcome, Error> {
    let target = connect(&config.target, 1).await?;
    let result = lock::unlock(&target.client, &target.stack, config.force).await;
    target.close().await;
    let removed = result.map_err(anyhow::Error::new)?;
    let stack = &config.target.stack;
    crate::output::println(&match removed.as_ref().and_then(LockState::describe) {
        Some(who) => format!("Removed the lock of stack {stack:?}, held by {who}."),
        None => format!("Stack {stack:?} is not locked."),
    })?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn the_flag_defaults_to_the_library_write_bound() {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            lock: LockArgs,
        }
        // Without the environment variable a test runner may have set.
        let args = <Args as clap::Parser>::try_parse_from(["dssctl"]).unwrap();
        if std::env::var_os(lock::WRITE_BOUND_ENV).is_none() {
            assert_eq!(args.lock.settings(), LockSettings::default());
        }
    }
}
