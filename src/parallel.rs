//! Work split over the CPUs: a slice cut into one contiguous run per core, each run folded by
//! a worker of its own on a scoped thread, and the workers answered in run order. Merging them
//! in that order gives what one worker going through the whole slice would have produced, so
//! a caller stays deterministic (the manifest loader, the planner). And work that runs beside
//! the network, on a thread of its own at a lower priority ([`in_background`],
//! [`at_lower_priority`]).

/// Fold `items` in one contiguous run per core: `new_worker` makes each run's worker (on the
/// calling thread), `each` folds one item into it (on the run's thread); the workers come back
/// in run order. `stack` is the threads' stack size (`None`: the standard library's).
pub(crate) fn fold_in_runs<T, W>(
    items: &[T],
    stack: Option<usize>,
    mut new_worker: impl FnMut() -> W,
    each: impl Fn(&mut W, &T) + Sync,
) -> Vec<W>
where
    T: Sync,
    W: Send,
{
    let threads = cores();
    let run_size = items.len().div_ceil(threads).max(1);
    let each = &each;
    std::thread::scope(|scope| {
        let runs: Vec<_> = items
            .chunks(run_size)
            .map(|run| {
                let mut worker = new_worker();
                let mut builder = std::thread::Builder::new();
                if let Some(bytes) = stack {
                    builder = builder.stack_size(bytes);
                }
                builder
                    .spawn_scoped(scope, move || {
                        for item in run {
                            each(&mut worker, item);
                        }
                        worker
                    })
                    .expect("cannot start a worker thread")
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a worker thread panicked"))
            .collect()
    })
}

/// How much lower than the rest of the process [`in_background`] work runs (a nice increment).
const BACKGROUND_NICENESS: i32 = 10;

/// Run `work` on a thread of its own at a lower CPU priority than the rest of the process, and
/// hand back its result (a panic in it is raised here). For CPU-heavy work that runs while
/// requests are in flight (loading the manifests during a plan's first reads): when the CPUs
/// are short, the runtime's threads, which read each answer and send the next request, come
/// first, so the reads keep their pace. On Linux the nice value is a thread's own and the
/// threads it starts inherit it; elsewhere the work runs at the usual priority.
pub(crate) async fn in_background<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dssctl-background".into())
        .spawn(move || {
            lower_this_threads_priority();
            let _ = answer.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        })
        .expect("cannot start a background thread");
    match answered
        .await
        .expect("the background thread answers before it ends")
    {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Run `work` on a thread of its own at a lower CPU priority, as [`in_background`] does, and
/// wait for it: for CPU-heavy work that borrows the caller's data while the runtime's other
/// threads keep reading answers (the planning done while the last reads are in flight). The
/// calling thread waits; the threads `work` starts have its priority.
pub(crate) fn at_lower_priority<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("dssctl-background".into())
            .spawn_scoped(scope, move || {
                lower_this_threads_priority();
                work()
            })
            .expect("cannot start a background thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "one libc call")]
fn lower_this_threads_priority() {
    // SAFETY: nice() has no memory-safety precondition. Failing (already at the lowest
    // priority) leaves the thread as it was, which is fine.
    unsafe {
        libc::nice(BACKGROUND_NICENESS);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {
    let _ = BACKGROUND_NICENESS;
}

/// The number of cores this process may use (1 when it cannot be told).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_work_answers_and_its_panics_reach_the_caller() {
        assert_eq!(in_background(|| 6 * 7).await, 42);
        let caught = tokio::spawn(in_background(|| -> u32 { panic!("in the background") })).await;
        assert!(caught.expect_err("the panic is raised in the caller").is_panic());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    #[allow(unsafe_code, reason = "reading the nice value")]
    async fn background_work_runs_at_a_lower_priority() {
        // SAFETY: getpriority has no precondition; on Linux, PRIO_PROCESS with 0 is the calling
        // thread.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let there = in_background(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }).await;
        assert_eq!(
            there,
            (here + BACKGROUND_NICENESS).min(19),
            "19 is the lowest priority"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[allow(unsafe_code, reason = "reading the nice value")]
    fn waited_work_runs_at_a_lower_priority_and_its_panics_reach_the_caller() {
        // SAFETY: as above.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let data = [here];
        let there = at_lower_priority(|| (data[0], unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }));
        assert_eq!(there, (here, (here + BACKGROUND_NICENESS).min(19)));
        let caught = std::panic::catch_unwind(|| at_lower_priority(|| -> u8 { panic!("lower") }));
        assert!(caught.is_err());
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) },
            here,
            "the caller keeps its own"
        );
    }

    #[test]
    fn runs_come_back_in_order_and_cover_every_item_once() {
        let items: Vec<u32> = (0..1000).collect();
        let runs = fold_in_runs(&items, None, Vec::new, |seen: &mut Vec<u32>, &i| seen.push(i));
        let merged: Vec<u32> = runs.into_iter().flatten().collect();
        assert_eq!(merged, items);
    }

    #[test]
    fn an_empty_slice_makes_no_worker() {
        let runs = fold_in_runs(&[] as &[u8], Some(1 << 20), || 0usize, |n, _| *n += 1);
        assert!(runs.is_empty());
    }
}
