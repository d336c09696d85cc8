//! The stack lock: one writer per stack at a time, across machines, held in DSS itself as the
//! global variable `dssctl.lock.<stack>` (next to the ledger `dssctl.ledger.<stack>`), so that
//! nothing else has to run. docs/lock.md explains the algorithm and its timing assumption.
//!
//! DSS has no compare-and-swap, so acquisition follows Fischer's algorithm: read the lock;
//! when it is free (absent, expired, or ours) write our record; if that read-and-write took
//! longer than the write bound Δ the attempt is void and starts again; otherwise wait longer
//! than Δ and read again: the lock is ours iff our record is still there. Any run that saw the
//! lock free wrote within Δ of its read, so after the wait the last such write is settled and
//! exactly one run reads its own record back.
//!
//! The holder renews the expiry while it runs ([`LockGuard`]), and releases the lock at the
//! end. Every write reads the global variables fresh and changes only the lock's key, under
//! the client's variables mutex, so the lock and the ledger never overwrite each other.
//!
//! [`assess`] is the pure decision (free, mine, held by another, expired) the rest builds on.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::client::{ClientError, DssClient};

pub use crate::plan::ledger::LOCK_PREFIX;

/// The global variable holding `stack`'s lock.
pub fn lock_variable(stack: &str) -> String {
    format!("{LOCK_PREFIX}{stack}")
}

/// Δ by default: the longest a read-then-write of the lock may take for the attempt to count.
/// A read and a write of the global variables take tens of milliseconds on a local network,
/// about 0.2 s with a 5,000-resource ledger over a slow link; an attempt that takes longer
/// only costs a retry, and a link too slow for Δ is reported ([`LockError::TooSlow`]).
pub(crate) const DEFAULT_WRITE_BOUND: Duration = Duration::from_millis(500);
/// Void attempts in a row (writes slower than Δ) after which, once `--lock-timeout` is over,
/// acquisition gives up rather than trying forever.
const MAX_VOID_ATTEMPTS: u32 = 3;
/// How long a lock lives without renewal by default.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// The environment variable that changes Δ (every run against one stack must use the same).
pub(crate) const WRITE_BOUND_ENV: &str = "DSSCTL_LOCK_WRITE_BOUND";

/// Who holds (or asks for) a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// Unique to one run: `host:pid:nonce`, visible ASCII (it is also an HTTP header value).
    pub id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) user: String,
    /// The CI job's URL, when the run is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ci_job: Option<String>,
    /// The command holding it (`apply`, `watch`).
    pub(crate) command: String,
}

impl Holder {
    /// This process, from the environment `env` gives (`std::env::var` in production).
    pub fn current(command: &str, env: impl Fn(&str) -> Option<String>) -> Holder {
        let host = hostname(&env);
        let pid = std::process::id();
        let user = env("USER")
            .or_else(|| env("USERNAME"))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let raw = format!("{host}:{pid}:{:016x}", rand::random::<u64>());
        Holder {
            id: raw
                .chars()
                .map(|c| if c.is_ascii_graphic() { c } else { '_' })
                .collect(),
            host,
            pid,
            user,
            ci_job: ci_job(&env),
            command: command.to_string(),
        }
    }

    /// `user@host (pid N, apply, CI job URL)`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{}@{} (pid {}, {}", self.user, self.host, self.pid, self.command);
        if let Some(job) = &self.ci_job {
            text.push_str(", ");
            text.push_str(job);
        }
        text.push(')');
        text
    }
}

/// The CI job's URL: GitHub Actions (server, repository, run id) or GitLab (`CI_JOB_URL`).
pub(crate) fn ci_job(env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        set("GITHUB_SERVER_URL"),
        set("GITHUB_REPOSITORY"),
        set("GITHUB_RUN_ID"),
    ) {
        return Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        ));
    }
    set("CI_JOB_URL")
}

fn hostname(env: &impl Fn(&str) -> Option<String>) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| env("HOSTNAME").or_else(|| env("COMPUTERNAME")))
        .unwrap_or_else(|| "unknown-host".into())
}

/// The lock as stored in DSS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRecord {
    pub(crate) holder: Holder,
    /// When the holder took it (RFC 3339, UTC), for people.
    pub(crate) acquired_at: String,
    /// When it expires unless renewed (RFC 3339, UTC), for people.
    pub(crate) expires_at: String,
    /// The same instant in milliseconds since the Unix epoch: what the expiry check reads.
    pub expires_at_ms: i128,
    /// The holder's write bound Δ in milliseconds, so that a run with another one is told
    /// (absent in records of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) write_bound_ms: Option<u64>,
}

impl LockRecord {
    fn new(holder: &Holder, acquired: OffsetDateTime, settings: LockSettings) -> LockRecord {
        let mut record = LockRecord {
            holder: holder.clone(),
            acquired_at: rfc3339(acquired),
            expires_at: String::new(),
            expires_at_ms: 0,
            write_bound_ms: Some(millis(settings.write_bound)),
        };
        record.renew(acquired, settings.ttl);
        record
    }

    fn renew(&mut self, now: OffsetDateTime, ttl: Duration) {
        let expires = now + ttl;
        self.expires_at = rfc3339(expires);
        self.expires_at_ms = expires.unix_timestamp_nanos() / 1_000_000;
    }

    /// `user@host (pid N, apply), since T, expires T`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, since {}, expires {}",
            self.holder.describe(),
            self.acquired_at,
            self.expires_at
        )
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the stored lock means for the run `me`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No lock.
    Free,
    /// Our own record (an earlier attempt of this run, or the lock we hold).
    Mine(LockRecord),
    /// Another run holds it and it has not expired.
    HeldByOther(LockRecord),
    /// Another run's lock, past its expiry: it may be taken over.
    Expired(LockRecord),
    /// A value dssctl cannot read: treated as held (only `unlock --force` removes it).
    Unreadable(String),
}

impl LockState {
    /// Whether a run may write its record now.
    pub(crate) fn may_take(&self) -> bool {
        matches!(self, LockState::Free | LockState::Mine(_) | LockState::Expired(_))
    }

    /// Which run holds it: its id, or the unreadable value (empty when free).
    fn holder_key(&self) -> String {
        match self {
            LockState::Free => String::new(),
            LockState::Mine(r) | LockState::HeldByOther(r) | LockState::Expired(r) => r.holder.id.clone(),
            LockState::Unreadable(v) => v.clone(),
        }
    }

    /// Who holds it, for messages (`None` when free).
    pub(crate) fn describe(&self) -> Option<String> {
        match self {
            LockState::Free => None,
            LockState::Mine(r) | LockState::HeldByOther(r) => Some(r.describe()),
            LockState::Expired(r) => Some(format!("{} (expired)", r.describe())),
            LockState::Unreadable(v) => Some(format!("an unreadable lock record: {v}")),
        }
    }
}

/// The pure decision: what `stored` (the lock variable, if any) means for run `me` at `now`.
pub(crate) fn assess(stored: Option<&Value>, me: &str, now: OffsetDateTime) -> LockState {
    let Some(value) = stored.filter(|v| !v.is_null()) else {
        return LockState::Free;
    };
    let Ok(record) = serde_json::from_value::<LockRecord>(value.clone()) else {
        return LockState::Unreadable(value.to_string());
    };
    if record.holder.id == me {
        LockState::Mine(record)
    } else if record.expires_at_ms <= now.unix_timestamp_nanos() / 1_000_000 {
        LockState::Expired(record)
    } else {
        LockState::HeldByOther(record)
    }
}

/// How a run takes the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSettings {
    /// How long to wait for another run's lock; `None`: do not wait.
    pub timeout: Option<Duration>,
    /// Δ: the longest a read-then-write of the lock may take (see the module documentation).
    pub write_bound: Duration,
    /// How long the lock lives without renewal; renewed every third of it.
    pub ttl: Duration,
}

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            timeout: None,
            write_bound: DEFAULT_WRITE_BOUND,
            ttl: DEFAULT_TTL,
        }
    }
}

impl LockSettings {
    /// The wait between writing our record and reading it back: longer than Δ.
    pub fn settle(&self) -> Duration {
        self.write_bound + self.write_bound / 4 + Duration::from_millis(50)
    }
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it (after waiting `--lock-timeout`, if given).
    #[error("stack {stack:?} is locked by {holder}")]
    Held { stack: String, holder: String },
    /// Every attempt wrote its record more slowly than the write bound allows.
    #[error(
        "cannot take the lock of stack {stack:?}: writing it took {took_ms} ms, longer than the \
         write bound of {bound_ms} ms, {attempts} times in a row. The link to DSS is too slow \
         for that bound: give every run of this stack a larger one ({WRITE_BOUND_ENV}=2s)"
    )]
    TooSlow {
        stack: String,
        took_ms: u64,
        bound_ms: u64,
        attempts: u32,
    },
    // The client error is in the message, so it is not also the `source()`: said once.
    #[error("cannot read or write the stack lock: {0}")]
    Client(ClientError),
}

impl From<ClientError> for LockError {
    fn from(e: ClientError) -> Self {
        LockError::Client(e)
    }
}

/// Read the lock of `stack` as `me` sees it (a read only).
pub async fn peek(client: &DssClient, stack: &str, me: &str) -> Result<LockState, ClientError> {
    let vars = client.get_global_variables().await?;
    Ok(state_in(&vars, stack, me))
}

/// The lock of `stack` in already-read global variables.
pub(crate) fn state_in(vars: &Map<String, Value>, stack: &str, me: &str) -> LockState {
    assess(vars.get(&lock_variable(stack)), me, OffsetDateTime::now_utc())
}

/// Take the lock of `stack` for `holder`. While another run holds it, `waiting` is called
/// with its description (once per distinct holder) until `settings.timeout` runs out.
pub async fn acquire(
    client: &DssClient,
    stack: &str,
    holder: &Holder,
    settings: LockSettings,
    waiting: impl FnMut(&str),
) -> Result<LockGuard, LockError> {
    let (guard, ()) = acquire_reading(client, stack, holder, settings, waiting, || async {}).await?;
    Ok(guard)
}

/// [`acquire`], running `read` (the reads the holder needs first: its plan) during the settle
/// wait of each attempt, and answering the result of the attempt that took the lock; the
/// results of attempts that did not are dropped.
///
/// Reads taken during the wait are as good as reads taken under the lock: when our record is
/// still there after the wait, no other run took the lock since our read found it free (any
/// run that wrote its record after that read wrote within Δ of it, so before our read-back,
/// and lost to ours), so nothing dssctl writes changed between those reads and the writes
/// that follow. The settle wait then costs nothing beyond the reads themselves.
pub async fn acquire_reading<T, F, Fut>(
    client: &DssClient,
    stack: &str,
    holder: &Holder,
    settings: LockSettings,
    mut waiting: impl FnMut(&str),
    mut read: F,
) -> Result<(LockGuard, T), LockError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let key = lock_variable(stack);
    tracing::debug!(stack, holder = %holder.id, "taking the stack lock");
    let deadline = Instant::now() + settings.timeout.unwrap_or(Duration::ZERO);
    let mut last_seen: Option<String> = None;
    let mut voids = 0;
    loop {
        let blocked = match attempt(client, &key, holder, settings, &mut read).await? {
            Attempt::Acquired(record, value) => {
                tracing::debug!(stack, holder = %holder.id, "stack lock acquired");
                return Ok((LockGuard::start(client.clone(), stack, record, settings), value));
            }
            Attempt::Void(took) => {
                voids += 1;
                if voids >= MAX_VOID_ATTEMPTS && Instant::now() >= deadline {
                    // The last void attempt's record must not stand as a lock until it expires.
                    release_if_mine(client, stack, &holder.id).await?;
                    return Err(LockError::TooSlow {
                        stack: stack.to_string(),
                        took_ms: millis(took),
                        bound_ms: millis(settings.write_bound),
                        attempts: voids,
                    });
                }
                None
            }
            Attempt::Blocked(state) => {
                voids = 0;
                state.describe().map(|who| (state, who))
            }
        };
        if let Some((state, who)) = &blocked {
            // Said once per holder: its renewals change the description, not who it is.
            let holder_key = state.holder_key();
            let new_holder = last_seen.as_ref() != Some(&holder_key);
            if new_holder {
                warn_of_another_bound(state, settings);
            }
            if Instant::now() >= deadline {
                return Err(LockError::Held {
                    stack: stack.to_string(),
                    holder: who.clone(),
                });
            }
            if new_holder {
                waiting(who);
                last_seen = Some(holder_key);
            }
        }
        // Spread contenders out so that they do not keep colliding.
        let pause = Duration::from_millis(200 + rand::random::<u64>() % 800);
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(if blocked.is_some() { pause.min(left) } else { pause }).await;
    }
}

/// Say so when the run holding the lock uses another write bound: the guarantee then rests on
/// the smaller of the two (see docs/lock.md).
fn warn_of_another_bound(state: &LockState, settings: LockSettings) {
    if let LockState::HeldByOther(record) = state
        && let Some(theirs) = record.write_bound_ms
        && theirs != millis(settings.write_bound)
    {
        tracing::warn!(
            holder = %record.holder.describe(),
            theirs_ms = theirs,
            ours_ms = millis(settings.write_bound),
            "the run holding the stack lock uses another write bound; every run of a stack must use \
             the same ({WRITE_BOUND_ENV})"
        );
    }
}

enum Attempt<T> {
    /// Ours, with what was read during the settle wait.
    Acquired(LockRecord, T),
    /// The write took this long, more than Δ: the attempt proves nothing; try again.
    Void(Duration),
    Blocked(LockState),
}

/// One round of Fischer's algorithm, with `read` run during its settle wait.
async fn attempt<T, F, Fut>(
    client: &DssClient,
    key: &str,
    holder: &Holder,
    settings: LockSettings,
    read: &mut F,
) -> Result<Attempt<T>, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    let record = {
        let _variables = client.lock_variables().await;
        let mut vars = client.get_global_variables().await?;
        let now = OffsetDateTime::now_utc();
        let state = assess(vars.get(key), &holder.id, now);
        if !state.may_take() {
            return Ok(Attempt::Blocked(state));
        }
        if let LockState::Expired(old) = &state {
            tracing::warn!(holder = %old.describe(), "taking over an expired stack lock");
        }
        let record = LockRecord::new(holder, now, settings);
        vars.insert(key.to_string(), record.to_value());
        client.set_global_variables(&vars).await?;
        record
    };
    let took = started.elapsed();
    if took > settings.write_bound {
        tracing::warn!(
            took_ms = millis(took),
            bound_ms = millis(settings.write_bound),
            "writing the stack lock took longer than its bound; trying again"
        );
        return Ok(Attempt::Void(took));
    }
    let ((), value) = tokio::join!(tokio::time::sleep(settings.settle()), read());
    let vars = client.get_global_variables().await?;
    Ok(
        match assess(vars.get(key), &holder.id, OffsetDateTime::now_utc()) {
            LockState::Mine(_) => Attempt::Acquired(record, value),
            other => Attempt::Blocked(other),
        },
    )
}

/// A held lock: renewed in the background until [`LockGuard::release`]. Dropping it without
/// release stops the renewals; the lock then expires after its time to live.
pub struct LockGuard {
    client: DssClient,
    stack: String,
    record: LockRecord,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl LockGuard {
    fn start(client: DssClient, stack: &str, record: LockRecord, settings: LockSettings) -> LockGuard {
        client.set_lock_holder(Some(&record.holder.id));
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew_loop(
            client.clone(),
            lock_variable(stack),
            record.clone(),
            settings.ttl,
            lost.clone(),
        ));
        LockGuard {
            client,
            stack: stack.to_string(),
            record,
            renewer,
            lost,
        }
    }

    /// The holder's id (also sent on every write as `X-Dssctl-Lock-Holder`).
    pub fn holder_id(&self) -> &str {
        &self.record.holder.id
    }

    /// Whether another run took the lock over while this one held it (the timing assumption
    /// was broken: see docs/lock.md).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Stop renewing and remove the lock, if it is still ours.
    pub async fn release(self) -> Result<(), ClientError> {
        self.renewer.abort();
        self.client.set_lock_holder(None);
        release_if_mine(&self.client, &self.stack, &self.record.holder.id).await
    }
}

/// Remove the lock of `stack` if the record is run `me`'s (a lock held, or one written by an
/// attempt that was interrupted); leave any other run's.
pub(crate) async fn release_if_mine(client: &DssClient, stack: &str, me: &str) -> Result<(), ClientError> {
    let _variables = client.lock_variables().await;
    let key = lock_variable(stack);
    let mut vars = client.get_global_variables().await?;
    if let LockState::Mine(_) = assess(vars.get(&key), me, OffsetDateTime::now_utc()) {
        vars.remove(&key);
        client.set_global_variables(&vars).await?;
        tracing::debug!(stack, "stack lock released");
    }
    Ok(())
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Push the expiry forward every third of the time to live; stop (and say so) when the lock
/// is no longer ours.
async fn renew_loop(
    client: DssClient,
    key: String,
    mut record: LockRecord,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let _variables = client.lock_variables().await;
        let mut vars = match client.get_global_variables().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the stack lock; trying again");
                continue;
            }
        };
        match assess(vars.get(&key), &record.holder.id, OffsetDateTime::now_utc()) {
            LockState::Mine(_) => {}
            other => {
                lost.store(true, Ordering::Relaxed);
                tracing::error!(
                    now = other.describe().unwrap_or_else(|| "nobody".into()),
                    "the stack lock is no longer held by this run"
                );
                return;
            }
        }
        record.renew(OffsetDateTime::now_utc(), ttl);
        vars.insert(key.clone(), record.to_value());
        if let Err(e) = client.set_global_variables(&vars).await {
            tracing::warn!(error = %e, "cannot renew the stack lock; trying again");
        }
    }
}

/// Remove the lock of `stack`: a live lock (held by another run, not expired, or unreadable)
/// only with `force`. Returns what was removed (`None`: there was no lock).
pub async fn unlock(client: &DssClient, stack: &str, force: bool) -> Result<Option<LockState>, UnlockError> {
    let key = lock_variable(stack);
    let _variables = client.lock_variables().await;
    let mut vars = client.get_global_variables().await?;
    // Nobody's id: every record is another run's.
    let state = assess(vars.get(&key), "", OffsetDateTime::now_utc());
    match &state {
        LockState::Free => return Ok(None),
        LockState::HeldByOther(_) | LockState::Unreadable(_) if !force => {
            return Err(UnlockError::Live {
                stack: stack.to_string(),
                holder: state.describe().unwrap_or_default(),
            });
        }
        _ => {}
    }
    vars.remove(&key);
    client.set_global_variables(&vars).await?;
    Ok(Some(state))
}

/// Why `unlock` did not remove the lock.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(
        "stack {stack:?} is locked by {holder}, and the lock has not expired; \
         rerun with --force if that run is gone"
    )]
    Live { stack: String, holder: String },
    #[error("cannot read or write the stack lock: {0}")]
    Client(ClientError),
}

impl From<ClientError> for UnlockError {
    fn from(e: ClientError) -> Self {
        UnlockError::Client(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holder(id: &str) -> Holder {
        Holder {
            id: id.into(),
            host: "h".into(),
            pid: 7,
            user: "u".into(),
            ci_job: None,
            command: "apply".into(),
        }
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn the_decision_covers_free_mine_other_and_expired() {
        let record = LockRecord::new(&holder("a"), at(1_000), LockSettings::default()).to_value();
        assert_eq!(assess(None, "a", at(1_000)), LockState::Free);
        assert_eq!(assess(Some(&Value::Null), "a", at(1_000)), LockState::Free);
        assert!(matches!(
            assess(Some(&record), "a", at(1_010)),
            LockState::Mine(_)
        ));
        let other = assess(Some(&record), "b", at(1_010));
        assert!(matches!(other, LockState::HeldByOther(_)));
        assert!(!other.may_take());
        let expired = assess(Some(&record), "b", at(1_060));
        assert!(matches!(expired, LockState::Expired(_)));
        assert!(expired.may_take());
        // Our own record is ours even past its expiry: nobody else may have taken it.
        assert!(matches!(
            assess(Some(&record), "a", at(2_000)),
            LockState::Mine(_)
        ));
        let junk = assess(Some(&json!("locked")), "a", at(1_000));
        assert!(matches!(junk, LockState::Unreadable(_)));
        assert!(!junk.may_take());
    }

    #[test]
    fn records_say_who_and_since_when() {
        let mut h = holder("a");
        h.ci_job = Some("https://ci/job/1".into());
        let r = LockRecord::new(&h, at(0), LockSettings::default());
        assert_eq!(
            r.describe(),
            "u@h (pid 7, apply, https://ci/job/1), since 1970-01-01T00:00:00Z, expires 1970-01-01T00:01:00Z"
        );
        assert_eq!(r.expires_at_ms, 60_000);
        assert_eq!(r.write_bound_ms, Some(500));
        // A record of an earlier version, without the holder's bound, still reads.
        let mut old = r.to_value();
        old.as_object_mut().unwrap().remove("writeBoundMs");
        let old: LockRecord = serde_json::from_value(old).unwrap();
        assert_eq!(old.write_bound_ms, None);
        let back: LockRecord = serde_json::from_value(r.to_value()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_holder_names_its_ci_job() {
        let github = |name: &str| {
            match name {
                "GITHUB_SERVER_URL" => Some("https://github.com/"),
                "GITHUB_REPOSITORY" => Some("o/r"),
                "GITHUB_RUN_ID" => Some("42"),
                "CI_JOB_URL" => Some("https://gitlab/job"),
                "USER" => Some("ci"),
                _ => None,
            }
            .map(String::from)
        };
        let h = Holder::current("apply", github);
        assert_eq!(
            h.ci_job.as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
        assert_eq!(h.user, "ci");
        assert!(h.id.chars().all(|c| c.is_ascii_graphic()), "{}", h.id);
        let gitlab = |name: &str| (name == "CI_JOB_URL").then(|| "https://gitlab/job".to_string());
        assert_eq!(ci_job(&gitlab).as_deref(), Some("https://gitlab/job"));
        assert_eq!(ci_job(&|_: &str| None), None);
        // Two runs of one process never share an id.
        assert_ne!(Holder::current("apply", github).id, h.id);
    }

    #[test]
    fn lock_variables_are_reserved_so_no_manifest_can_touch_them() {
        assert!(crate::plan::ledger::is_reserved_variable(&lock_variable("prod")));
    }

    #[test]
    fn the_settle_wait_is_longer_than_the_write_bound() {
        let s = LockSettings::default();
        assert!(s.settle() > s.write_bound);
    }
}
