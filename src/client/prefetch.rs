//! Reads started before anyone asks for them: a plan's reads begin while the manifests are
//! still loading, from what the stack's ledger says the plan will read (see
//! `observe::start_prefetch`).
//!
//! A prefetched GET is an ordinary call, sent through the same in-flight bound and retries;
//! its answer waits here until a GET of the same path (no query, no body) takes it. Each
//! answer is taken at most once, so a later GET of that path (a read-back after a write) goes
//! to DSS. [`Prefetched::close`] ends it: the answers nobody took are dropped, the calls not yet
//! sent are cancelled, and nothing is prefetched any more, so that no read made before the
//! stack lock was taken stands in for one made under it. [`Prefetched::open`] starts a new
//! round (the `watch` daemon prefetches at each reconcile); a call started for an earlier
//! round is refused.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use super::ClientError;
use super::transport::Answer;

/// The answer of a prefetched call, awaitable by several (the one that started it and the GET
/// that takes it).
pub(crate) type Pending = Shared<BoxFuture<'static, Result<Answer, ClientError>>>;

/// The prefetched answers of one client, by path.
#[derive(Default)]
pub(crate) struct Prefetched {
    state: Mutex<State>,
}

struct State {
    /// The current round; `None` while closed.
    round: Option<u64>,
    /// The last round opened.
    rounds: u64,
    answers: HashMap<String, (Pending, tokio::task::AbortHandle)>,
}

impl Default for State {
    /// Open from the start: round 0, for a command that plans once.
    fn default() -> Self {
        State {
            round: Some(0),
            rounds: 0,
            answers: HashMap::new(),
        }
    }
}

impl Prefetched {
    /// Start a new round (closing the current one): the round to start calls in.
    pub(crate) fn open(&self) -> u64 {
        self.close();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.rounds += 1;
        state.round = Some(state.rounds);
        state.rounds
    }

    /// The current round; `None` while closed.
    pub(crate) fn round(&self) -> Option<u64> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).round
    }

    /// Start `call` (the GET of `path`) on the runtime and keep its answer for a later GET of
    /// `path`; `None` when `round` is not the current one (closed, or a later one opened) or
    /// `path` is already being fetched.
    pub(crate) fn start(
        &self,
        round: u64,
        path: String,
        call: impl Future<Output = Result<Answer, ClientError>> + Send + 'static,
    ) -> Option<Pending> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.round != Some(round) || state.answers.contains_key(&path) {
            return None;
        }
        let task = tokio::spawn(call);
        let abort = task.abort_handle();
        let what = path.clone();
        let pending: Pending = task
            .map(move |joined| {
                joined.unwrap_or_else(|e| {
                    Err(ClientError::Transport {
                        method: "GET".into(),
                        path: what,
                        message: format!("the prefetched read did not complete: {e}"),
                        before_sending: e.is_cancelled(),
                    })
                })
            })
            .boxed()
            .shared();
        state.answers.insert(path, (pending.clone(), abort));
        Some(pending)
    }

    /// The prefetched answer of the GET of `path`, taken (a second GET goes to DSS).
    pub(crate) fn take(&self, path: &str) -> Option<Pending> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.answers.remove(path).map(|(pending, _)| pending)
    }

    /// Stop prefetching: cancel what was not taken, and prefetch nothing from now on.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.round = None;
        for (_, (_, abort)) in state.answers.drain() {
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn answer(body: &'static str) -> Result<Answer, ClientError> {
        Ok(Answer {
            status: 200,
            body: Bytes::from_static(body.as_bytes()),
        })
    }

    #[tokio::test]
    async fn an_answer_is_taken_once() {
        let p = Prefetched::default();
        assert!(p.start(0, "/a".into(), async { answer("1") }).is_some());
        assert!(
            p.start(0, "/a".into(), async { answer("2") }).is_none(),
            "one call per path"
        );
        let got = p.take("/a").expect("prefetched").await.expect("answer");
        assert_eq!(&got.body[..], b"1");
        assert!(p.take("/a").is_none(), "a second GET goes to DSS");
    }

    #[tokio::test]
    async fn closing_cancels_what_was_not_taken_and_refuses_more() {
        let sent = Arc::new(AtomicUsize::new(0));
        let p = Prefetched::default();
        let counter = sent.clone();
        p.start(0, "/slow".into(), async move {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            answer("late")
        });
        p.close();
        assert!(p.take("/slow").is_none());
        assert!(p.start(0, "/b".into(), async { answer("b") }).is_none());
        tokio::task::yield_now().await;
        assert_eq!(sent.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_new_round_refuses_the_calls_of_the_one_before() {
        let p = Prefetched::default();
        assert_eq!(p.round(), Some(0));
        let next = p.open();
        assert_eq!(p.round(), Some(next));
        assert!(p.start(0, "/old".into(), async { answer("old") }).is_none());
        assert!(p.start(next, "/new".into(), async { answer("new") }).is_some());
        p.close();
        assert_eq!(p.round(), None);
        assert!(p.take("/new").is_none());
    }
}
