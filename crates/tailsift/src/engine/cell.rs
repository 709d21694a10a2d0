//! A shard behind its lock, with what a poll may read without taking it.
//!
//! Most of a poll's visits find nothing due: at steady traffic a shard has a trace coming due
//! every few polls, and a second poller (or a second ingest thread that polls) finds every shard
//! just emptied by the first. Each visit used to lock the shard, and a locked visit is both work
//! (the lock, the queue checks, the gauges) and a stall for an ingest thread waiting on it. So
//! every lock hold that changes a shard ends by publishing, beside the lock, the earliest time
//! at which a trace of the shard may come due and the shard's gauges; a poll at an earlier time
//! reads them instead of locking.
//!
//! The published due time is never later than the truth (it may be earlier). It has two parts,
//! as the shard's own answer has ([`Shard::completion_due`], [`Shard::wait_due`]):
//! - the completion queue's front, republished exactly by every hold, an ingest's included (it
//!   is the queue's first entry: no lookup);
//! - the wait queue's front, republished exactly by a poll's visit. An ingest's hold only sets
//!   it when none was published and the shard now has waiting traces: to `decision_wait` after
//!   the ingest's time, when the traces it started come due. The front it leaves in place (a
//!   FIFO's front only changes when it is popped) keeps its published time.
//!
//! A decision only removes what could be due, so it never makes either part late.
//!
//! Every write happens under the shard's lock, so a hold's publication is whole when the lock
//! is released. A poll that reads the values while another thread holds the lock sees the state
//! before that hold, as if it had polled just before it, which it may always have done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::buffer::Shard;
use crate::clock::nanos;

/// A shard, its lock, and what its last lock hold published (see the module's doc). Aligned to
/// a cache line, so neighbouring shards' locks and publications do not share one.
#[repr(align(64))]
pub(super) struct ShardCell {
    shard: Mutex<Shard>,
    published: Published,
}

/// What a poll reads without the lock. Written only under it. Due times are engine
/// nanoseconds, `u64::MAX` for none.
#[repr(align(64))]
struct Published {
    completion_due: AtomicU64,
    wait_due: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
    traces: AtomicU64,
}

/// A shard's gauges, as published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ShardGauges {
    pub spans: usize,
    pub bytes: usize,
    pub traces: usize,
    /// The earliest a trace may come due; `None` when nothing is buffered.
    pub due: Option<Duration>,
}

impl ShardCell {
    pub fn new(shard: Shard) -> ShardCell {
        ShardCell {
            shard: Mutex::new(shard),
            published: Published {
                completion_due: AtomicU64::new(NONE),
                wait_due: AtomicU64::new(NONE),
                spans: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                traces: AtomicU64::new(0),
            },
        }
    }

    /// Locks the shard.
    pub fn lock(&self) -> MutexGuard<'_, Shard> {
        self.shard.lock()
    }

    /// Locks the shard if no other thread holds it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Shard>> {
        self.shard.try_lock()
    }

    /// Whether a poll at `now` may find a trace due: false only when the last hold published a
    /// later due time (or none).
    pub fn may_be_due(&self, now: Duration) -> bool {
        self.due() <= nanos(now)
    }

    fn due(&self) -> u64 {
        let p = &self.published;
        p.completion_due
            .load(Ordering::Acquire)
            .min(p.wait_due.load(Ordering::Acquire))
    }

    /// The gauges the last hold published.
    pub fn published(&self) -> ShardGauges {
        let p = &self.published;
        let due = self.due();
        ShardGauges {
            spans: p.spans.load(Ordering::Relaxed) as usize,
            bytes: p.bytes.load(Ordering::Relaxed) as usize,
            traces: p.traces.load(Ordering::Relaxed) as usize,
            due: (due != NONE).then(|| Duration::from_nanos(due)),
        }
    }

    /// Publishes `shard`'s state after a poll's visit (`wait` is `decision_wait`), and returns
    /// it. `shard` must be this cell's own, locked.
    pub fn publish_exact(&self, shard: &Shard, wait: Duration) -> ShardGauges {
        self.store_gauges(shard);
        let p = &self.published;
        let completion = shard.completion_due().map_or(NONE, nanos);
        p.completion_due.store(completion, Ordering::Release);
        let waited = shard.wait_due(wait).map_or(NONE, nanos);
        p.wait_due.store(waited, Ordering::Release);
        // Under the lock: what was just written, read back.
        self.published()
    }

    /// Publishes `shard`'s state after an ingest at `now` (`wait` is `decision_wait`). `shard`
    /// must be this cell's own, locked.
    pub fn publish_ingest(&self, shard: &Shard, now: Duration, wait: Duration) {
        self.store_gauges(shard);
        let p = &self.published;
        let completion = shard.completion_due().map_or(NONE, nanos);
        p.completion_due.store(completion, Ordering::Release);
        // Under the lock, so no other write races this read.
        if p.wait_due.load(Ordering::Relaxed) == NONE && shard.has_waiting() {
            p.wait_due
                .store(nanos(now.saturating_add(wait)), Ordering::Release);
        }
    }

    fn store_gauges(&self, shard: &Shard) {
        let p = &self.published;
        p.spans.store(shard.span_count() as u64, Ordering::Relaxed);
        p.bytes.store(shard.bytes as u64, Ordering::Relaxed);
        p.traces
            .store(shard.trace_count() as u64, Ordering::Relaxed);
    }
}

/// A due time of none.
const NONE: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::clock::{Clock, ManualClock};
    use crate::config::{BufferConfig, EngineConfig};
    use crate::decision::Decision;
    use crate::span::{Span, SpanId, TraceId};
    use crate::verdict::Verdict;
    use crate::view::TraceView;
    use crate::Engine;

    use super::*;

    /// One step of a run: a span of trace `trace` (its root or not) at the clock's time, then
    /// the clock moving on by `advance` milliseconds, a poll when `poll` says so.
    #[derive(Clone, Debug)]
    struct Step {
        trace: u8,
        root: bool,
        advance: u16,
        poll: bool,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (0u8..24, any::<bool>(), 0u16..1_500, any::<bool>()).prop_map(
                |(trace, root, advance, poll)| Step {
                    trace,
                    root,
                    advance,
                    poll,
                },
            ),
            1..80,
        )
    }

    fn engine(clock: &ManualClock, max_spans: usize) -> Engine {
        let config = EngineConfig {
            buffer: BufferConfig {
                shards: 3,
                max_spans,
                completion_grace: Duration::from_millis(2_000),
                decision_wait: Duration::from_millis(5_000),
                ..BufferConfig::default()
            },
            ..EngineConfig::default()
        };
        Engine::builder(config)
            .decider(|_: &TraceView<'_>| Verdict::keep("always"))
            .sink(|_: Decision| {})
            .clock(clock.clone())
            .build()
            .expect("valid config")
    }

    /// What every cell must publish: its shard's gauges exactly, and a due time no later than
    /// the earliest at which a buffered trace comes due.
    fn check(engine: &Engine) -> Result<(), TestCaseError> {
        let wait = engine.config().buffer.decision_wait;
        for (i, cell) in engine.shards.iter().enumerate() {
            let shard = cell.lock();
            let published = cell.published();
            prop_assert_eq!(published.spans, shard.span_count(), "shard {}", i);
            prop_assert_eq!(published.bytes, shard.bytes, "shard {}", i);
            prop_assert_eq!(published.traces, shard.trace_count(), "shard {}", i);
            if let Some(truth) = shard.earliest_live_due(wait) {
                let due = published.due;
                prop_assert!(
                    due.is_some_and(|due| due <= truth),
                    "shard {i}: published {due:?}, due at {truth:?}"
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// After any mix of ingests (roots, children, late spans, early decisions under a
        /// tight bound) and polls, each cell's publication is exact for the gauges and never
        /// late for the due time, and a poll leaves no shard with a trace due.
        #[test]
        fn the_published_due_time_is_never_late(steps in steps(), tight in any::<bool>()) {
            let clock = ManualClock::new();
            let max_spans = if tight { 6 } else { 100_000 };
            let engine = engine(&clock, max_spans);
            let mut id = 0u64;
            for step in &steps {
                id += 1;
                let span = Span {
                    trace_id: TraceId::from_u128(u128::from(step.trace) + 1),
                    span_id: SpanId::from_u64(id),
                    parent_span_id: SpanId::from_u64(if step.root { 0 } else { id + 1_000 }),
                    name: "op".into(),
                    ..Span::default()
                };
                engine.ingest(vec![span]);
                check(&engine)?;
                clock.advance(Duration::from_millis(u64::from(step.advance)));
                if step.poll {
                    let now = clock.now();
                    engine.poll(now);
                    check(&engine)?;
                    // Nothing due at `now` is left behind by a skipped shard: a visited one
                    // has decided every trace due, and skipped the entries of traces not quiet
                    // yet (each has a later one).
                    let wait = engine.config().buffer.decision_wait;
                    for cell in engine.shards.iter() {
                        let due = cell.lock().earliest_live_due(wait);
                        prop_assert!(due.is_none_or(|due| due > now), "left due: {due:?} at {now:?}");
                    }
                    prop_assert!(engine.stats().conserved());
                }
            }
        }
    }
}
