//! A policy set deciding on several threads at once: every thread counts in its own block, so
//! the controller hooks must add the blocks up exactly — no count lost or counted twice, however
//! drains and decisions interleave — and a published rate table must reach every thread's very
//! next decision.

use std::ops::{AddAssign, Range};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use tailsift::policy::{PolicyInterval, PolicyTotals, Volume};
use tailsift::{
    Decider, Outcome, Policy, PolicyError, PolicySet, Span, SpanId, StatusCode, TraceFlags,
    TraceId, TraceView, Verdict,
};

/// Fails on traces of three spans (counted as the set's errors; abstains as its fallback) and
/// abstains on the others.
struct Flaky;

impl Policy for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        if trace.spans().len() == 3 {
            return Err(PolicyError {
                policy: "flaky".into(),
                message: "three spans".into(),
            });
        }
        Ok(Verdict::Abstain)
    }
}

/// Keeps traces with an error.
struct Errors;

impl Policy for Errors {
    fn name(&self) -> &str {
        "errors"
    }

    fn evaluate(&self, trace: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(if trace.error_count() > 0 {
            Verdict::keep("errors")
        } else {
            Verdict::Abstain
        })
    }
}

/// Keeps every trace at rate 0.5 (so about half are kept, by their randomness).
struct Half;

impl Policy for Half {
    fn name(&self) -> &str {
        "half"
    }

    fn evaluate(&self, _: &TraceView<'_>) -> Result<Verdict, PolicyError> {
        Ok(Verdict::keep_at("half", 0.5))
    }
}

fn policy_set() -> PolicySet {
    PolicySet::from_policies(
        vec![Arc::new(Flaky), Arc::new(Errors), Arc::new(Half)],
        false,
    )
}

const POLICIES: usize = 3;
const FLAKY: usize = 0;
const ERRORS: usize = 1;
const HALF: usize = 2;

/// Trace number `n`: `1 + n % 3` spans, an error on every fifth, randomness spread by the id.
fn trace(n: u64) -> (TraceId, Vec<Span>) {
    let spans = (0..1 + n % 3)
        .map(|i| Span {
            span_id: SpanId::from_u64(i + 1),
            parent_span_id: SpanId::from_u64(if i == 0 { 0 } else { 1 }),
            name: "op".into(),
            end_time_unix_nano: 1_000_000,
            status_code: if n % 5 == 0 && i == 0 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            ..Span::default()
        })
        .collect();
    let id = u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    (TraceId::from_u128(id), spans)
}

/// What the counters should hold, worked out from the traces and their outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tally {
    matched: [Volume; POLICIES],
    first: [Volume; POLICIES],
    kept: [Volume; POLICIES],
    errors: [u64; POLICIES],
    /// Every kept trace once.
    kept_all: Volume,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        for i in 0..POLICIES {
            self.matched[i] += other.matched[i];
            self.first[i] += other.first[i];
            self.kept[i] += other.kept[i];
            self.errors[i] += other.errors[i];
        }
        self.kept_all += other.kept_all;
    }
}

impl Tally {
    /// The counts of one drained interval, and `kept_all` (from `take_kept`).
    fn drained(interval: &[PolicyInterval], kept_all: Volume) -> Tally {
        let mut t = Tally {
            kept_all,
            ..Tally::default()
        };
        for p in interval {
            t.matched[p.index] = p.matched;
            t.first[p.index] = p.first;
            t.kept[p.index] = p.kept;
            t.errors[p.index] = p.errors;
        }
        t
    }

    /// Whether `totals` holds this tally's matched, kept and errors counts.
    fn is_total_of(&self, totals: &[PolicyTotals]) -> bool {
        totals.len() == POLICIES
            && totals.iter().enumerate().all(|(i, t)| {
                t.matched == self.matched[i] && t.kept == self.kept[i] && t.errors == self.errors[i]
            })
    }
}

/// Decides traces `numbers` on the calling thread; returns what they should have counted.
fn decide_all(set: &PolicySet, numbers: Range<u64>) -> Tally {
    let mut tally = Tally::default();
    for n in numbers {
        let (id, spans) = trace(n);
        let mut view = TraceView::new(id, &spans, TraceFlags::default(), Duration::ZERO);
        let volume = Volume::trace(spans.len() as u64, view.bytes());
        let outcome = set.decide(&mut view);
        let mut matched = vec![HALF];
        if n % 5 == 0 {
            matched.insert(0, ERRORS);
        }
        if spans.len() == 3 {
            tally.errors[FLAKY] += 1;
        }
        tally.first[matched[0]] += volume;
        for &i in &matched {
            tally.matched[i] += volume;
            if outcome.keep {
                tally.kept[i] += volume;
            }
        }
        if outcome.keep {
            tally.kept_all += volume;
        }
    }
    tally
}

/// Decides `per_thread` traces on each of `threads` scoped threads (which exit before this
/// returns), numbered from `from`.
fn decide_on_threads(set: &PolicySet, threads: u64, from: u64, per_thread: u64) -> Tally {
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let start = from + t * per_thread;
                s.spawn(move || decide_all(set, start..start + per_thread))
            })
            .collect();
        let mut tally = Tally::default();
        for w in workers {
            tally += w.join().unwrap();
        }
        tally
    })
}

#[test]
fn counts_from_several_threads_add_up_exactly_and_outlive_the_threads() {
    let set = policy_set();
    let first = decide_on_threads(&set, 4, 0, 2_000);
    assert!(first.errors[FLAKY] > 0 && first.matched[ERRORS].traces > 0);
    assert!(first.kept[HALF].traces > 0 && first.kept[HALF] != first.matched[HALF]);
    assert_eq!(
        set.peek_first(),
        first.first.to_vec(),
        "the interval so far, summed over the threads, which have exited"
    );
    assert_eq!(
        Tally::drained(&set.drain_interval(), set.take_kept()),
        first
    );
    assert!(set.peek_first().iter().all(|v| *v == Volume::default()));

    // A second round: new threads (taking the ids, and so the blocks, of the exited ones) and
    // the draining thread itself. The drain holds this round only; totals hold both.
    let mut second = decide_on_threads(&set, 3, 8_000, 1_500);
    second += decide_all(&set, 20_000..20_500);
    assert_eq!(set.peek_first(), second.first.to_vec());
    assert_eq!(
        Tally::drained(&set.drain_interval(), set.take_kept()),
        second
    );
    let mut both = first;
    both += second;
    assert!(both.is_total_of(&set.totals()), "{:?}", set.totals());
    assert_eq!(
        Tally::drained(&set.drain_interval(), set.take_kept()),
        Tally::default(),
        "nothing decided since the last drain"
    );
}

#[test]
fn drains_interleaved_with_decisions_lose_and_repeat_nothing() {
    const DECIDERS: u64 = 3;
    let set = policy_set();
    let finished = AtomicUsize::new(0);
    // Held by a drainer from its peek to its drain, so that the other's drain cannot come in
    // between (decisions still can: that is what is tested).
    let draining = Mutex::new(());
    // Drains until the deciders have finished, at least twice; checks that a peek sees part of
    // the interval the next drain returns.
    let drain_while_deciding = || {
        let mut drained = Tally::default();
        let mut drains = 0;
        while finished.load(Ordering::Acquire) < DECIDERS as usize || drains < 2 {
            let (interval, kept) = {
                let _one_drainer = draining.lock().unwrap_or_else(|e| e.into_inner());
                let peek = set.peek_first();
                let interval = set.drain_interval();
                for (p, i) in peek.iter().zip(&interval) {
                    assert!(p.traces <= i.first.traces, "{p:?} peeked, {i:?} drained");
                }
                (interval, set.take_kept())
            };
            drained += Tally::drained(&interval, kept);
            drains += 1;
            thread::yield_now();
        }
        drained
    };
    let (decided, mut drained) = thread::scope(|s| {
        let drainers = [s.spawn(drain_while_deciding), s.spawn(drain_while_deciding)];
        let deciders: Vec<_> = (0..DECIDERS)
            .map(|t| {
                let (set, finished) = (&set, &finished);
                s.spawn(move || {
                    let tally = decide_all(set, t * 3_000..(t + 1) * 3_000);
                    finished.fetch_add(1, Ordering::Release);
                    tally
                })
            })
            .collect();
        let mut decided = Tally::default();
        for d in deciders {
            decided += d.join().unwrap();
        }
        let mut drained = Tally::default();
        for d in drainers {
            drained += d.join().unwrap();
        }
        (decided, drained)
    });
    drained += Tally::drained(&set.drain_interval(), set.take_kept());
    assert_eq!(
        drained, decided,
        "the drained intervals add up to every count"
    );
    assert!(decided.is_total_of(&set.totals()), "{:?}", set.totals());
}

/// A trace with randomness just under 2^56: kept by any keep rate above 0.
fn kept_at_any_rate(set: &PolicySet) -> Outcome {
    let spans = [Span {
        span_id: SpanId::from_u64(1),
        ..Span::default()
    }];
    let mut view = TraceView::new(
        TraceId::from_u128((1 << 56) - 1),
        &spans,
        TraceFlags::default(),
        Duration::ZERO,
    );
    set.decide(&mut view)
}

#[test]
fn published_rates_reach_the_next_decision_on_every_thread() {
    let set = PolicySet::from_policies(vec![Arc::new(Half)], false);
    let publish = |multiplier: f64| {
        let mut rates = (*set.rates()).clone();
        rates.set_multiplier(0, multiplier);
        set.publish_rates(rates);
    };
    assert_eq!(kept_at_any_rate(&set).adjusted_count, 2.0);
    // (Every assertion after both barriers: a thread failing before one would leave the other
    // waiting for ever.)
    let (decided, published) = (Barrier::new(2), Barrier::new(2));
    thread::scope(|s| {
        // A thread that decided under the old table (and keeps its own copy of it).
        s.spawn(|| {
            let before = kept_at_any_rate(&set).adjusted_count;
            decided.wait();
            published.wait();
            let after = kept_at_any_rate(&set).adjusted_count;
            assert_eq!(
                (before, after),
                (2.0, 1.0),
                "0.5 x 2 on a thread with the old table"
            );
        });
        decided.wait();
        publish(2.0);
        let here = kept_at_any_rate(&set).adjusted_count;
        published.wait();
        assert_eq!(here, 1.0, "0.5 x 2 on the publishing thread");
    });
    publish(0.5);
    assert_eq!(kept_at_any_rate(&set).adjusted_count, 4.0);
    thread::scope(|s| {
        s.spawn(|| assert_eq!(kept_at_any_rate(&set).adjusted_count, 4.0));
    });
}
