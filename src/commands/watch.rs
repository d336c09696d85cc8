//! `dssctl watch`: resolve the daemon's flags (interval, policy, lock, `--notify` URLs) into a
//! [`WatchConfig`] and run the daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;

use super::lock::LockArgs;
use super::{ParallelismArgs, TargetArgs, hinted};
use crate::daemon::WatchConfig;
use crate::daemon::decision::Policy;
use crate::error::{Error, Outcome};

/// `dssctl watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The manifest directory to watch (recursively; `.dssctl/` and hidden directories aside),
    /// or an Environment's directory (its includes are read on every reconcile).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Time between two drift checks against the live instance (±10% jitter), e.g. 5m, 30s.
    #[arg(long, default_value = "5m", value_parser = parse_interval)]
    pub interval: Duration,
    /// Address of the read-only status page (/, /api/status) and of /healthz, /readyz and
    /// /metrics (port 0 picks a free port; the bound address is printed). Only this machine
    /// by default: give 0.0.0.0:PORT to serve others.
    #[arg(long, default_value = "127.0.0.1:9898")]
    pub listen: SocketAddr,
    /// Only report drift found on the interval; do not correct it.
    #[arg(long)]
    pub no_self_heal: bool,
    /// Apply deletions of resources no longer declared (otherwise they are reported as pending).
    #[arg(long)]
    pub prune: bool,
    /// Refuse to delete more than N resources in one reconcile (see `apply --max-deletes`).
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    #[command(flatten)]
    pub parallelism: ParallelismArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    /// POST a JSON event (with a Slack-compatible `text`) to URL on drift detected, drift
    /// corrected, apply failed, guard refused and lock contention (repeatable).
    #[arg(long, value_name = "URL", value_parser = parse_notify_url)]
    pub notify: Vec<String>,
}

impl WatchArgs {
    pub(crate) fn resolve(self, matches: &ArgMatches) -> Result<WatchConfig, Error> {
        let mut target = self.target.resolve(matches);
        super::environment_stack(&mut target, std::slice::from_ref(&self.dir), matches);
        Ok(WatchConfig {
            dir: self.dir,
            target,
            interval: self.interval,
            listen: self.listen,
            policy: Policy {
                self_heal: !self.no_self_heal,
                prune: self.prune,
                max_deletes: self.max_deletes,
            },
            parallelism: self.parallelism.get(),
            lock: self.lock.settings(),
            notify: self.notify,
        })
    }
}

pub(super) async fn run(config: WatchConfig) -> Result<Outcome, Error> {
    hinted(&config.target, crate::daemon::run(&config).await)
}

fn parse_notify_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: only http and https URLs are supported"));
    }
    Ok(url.to_string())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d < Duration::from_millis(100) {
        return Err(format!("{text:?}: the interval must be at least 100ms"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_have_a_floor() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_interval("10ms").unwrap_err().contains("at least 100ms"));
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn notify_urls_are_http() {
        assert!(parse_notify_url("https://hooks.slack.com/services/x").is_ok());
        assert!(parse_notify_url("ftp://x").unwrap_err().contains("http"));
        assert!(parse_notify_url("not a url").is_err());
    }
}
