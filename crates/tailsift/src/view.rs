//! [`TraceView`]: the one input of every policy kind.
//!
//! A view is built once per decided trace. It holds the spans (sorted by start time) and the
//! facts most policies need, computed in a single pass: the root, the trace's start, end and
//! duration, the error count, the randomness. Facts only some policies need — the parent/child
//! index and the critical path — are computed on first use and then shared by every policy that
//! asks, so a policy set that never looks at them never pays for them. Native, CEL and WASM
//! policies all read this same structure (the WASM host encodes it once per trace).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::critical_path::{self, CriticalPath};
use crate::span::{Span, StatusCode, TraceId};

/// Flags on a decision: how the trace came to be decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceFlags {
    /// Decided without a root span (at `decision_wait`, early, or at shutdown).
    pub incomplete: bool,
    /// Decided before it was ready, because the buffer was over its bounds.
    pub early: bool,
    /// Decided at `decision_wait` rather than at completion.
    pub timed_out: bool,
    /// Decided by `shutdown()`.
    pub shutdown: bool,
}

/// Quantiles of the trace durations of the trace's group (root service + root name by default),
/// from the latency baseline. Present when a latency baseline is configured and has samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    /// Median trace duration.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// How many traces the baseline has seen (after decay).
    pub samples: u64,
}

/// The parent/child index of a trace: for each span, its children's indices, by start time.
///
/// One allocation: `data` holds, for `n` spans, each span's parent (`n`), then the offsets of
/// each span's children (`n + 1`), then the children (one per span with a parent in the trace).
#[derive(Clone, Debug, Default)]
pub struct Children {
    n: usize,
    data: Vec<u32>,
}

/// Marks "no parent in this trace" in [`Children::parent`].
const NO_PARENT: u32 = u32::MAX;

impl Children {
    fn build(spans: &[Span]) -> Children {
        thread_local! {
            /// Sorted (span id, index) pairs for binary search, reused: no hashing, and no
            /// allocation once a thread has seen its largest trace.
            /// Ids as big-endian words, which order as the bytes do and compare in one step.
            static BY_ID: Cell<Vec<(u64, u32)>> = const { Cell::new(Vec::new()) };
        }
        let n = spans.len();
        let mut by_id = BY_ID.with(Cell::take);
        by_id.clear();
        by_id.extend(
            spans
                .iter()
                .enumerate()
                .map(|(i, s)| (s.span_id.to_u64(), i as u32)),
        );
        by_id.sort_unstable();
        // Parents, then offsets shifted by one place (see below); the children are appended.
        // At most n - 1 spans have a parent: one allocation holds all three parts.
        let mut data = Vec::with_capacity(3 * n + 2);
        data.resize(n, NO_PARENT);
        data.resize(2 * n + 2, 0);
        let (parents, counts) = data.split_at_mut(n);
        for (i, span) in spans.iter().enumerate() {
            if !span.parent_span_id.is_valid() || span.parent_span_id == span.span_id {
                continue;
            }
            let parent = span.parent_span_id.to_u64();
            if let Ok(pos) = by_id.binary_search_by(|&(id, _)| id.cmp(&parent)) {
                let p = by_id[pos].1;
                parents[i] = p;
                counts[p as usize + 2] += 1;
            }
        }
        BY_ID.with(|cell| cell.set(by_id));
        for i in 2..counts.len() {
            counts[i] += counts[i - 1];
        }
        // Now `counts[p + 1]` is where span p's children start. Filling advances it to where
        // they end, which is where span p + 1's start: `counts[..=n]` become the offsets.
        let with_parent = counts[n + 1] as usize;
        data.resize(2 * n + 2 + with_parent, 0);
        let (head, children) = data.split_at_mut(2 * n + 2);
        let (parents, counts) = head.split_at_mut(n);
        // Spans are sorted by start time, so children come out in start order.
        for (i, &p) in parents.iter().enumerate() {
            if p != NO_PARENT {
                let at = &mut counts[p as usize + 1];
                children[*at as usize] = i as u32;
                *at += 1;
            }
        }
        Children { n, data }
    }

    /// The children of span `index`, in start order.
    #[inline]
    pub fn of(&self, index: usize) -> &[u32] {
        if index >= self.n {
            return &[];
        }
        let offsets = &self.data[self.n..];
        let (a, b) = (offsets[index] as usize, offsets[index + 1] as usize);
        &self.data[2 * self.n + 2 + a..2 * self.n + 2 + b]
    }

    /// The parent of span `index`, if its parent is in the trace.
    #[inline]
    pub fn parent(&self, index: usize) -> Option<usize> {
        match self.data[..self.n].get(index) {
            Some(&p) if p != NO_PARENT => Some(p as usize),
            _ => None,
        }
    }
}

/// [`TraceView::bytes`] not known yet (no trace is `u64::MAX` bytes).
const UNKNOWN_BYTES: u64 = u64::MAX;

/// A whole trace, as policies see it.
#[derive(Debug)]
pub struct TraceView<'a> {
    trace_id: TraceId,
    spans: &'a [Span],
    root: Option<usize>,
    start: u64,
    end: u64,
    error_count: usize,
    randomness: u64,
    flags: TraceFlags,
    now: Duration,
    baseline: Option<Baseline>,
    /// The summed span sizes, or [`UNKNOWN_BYTES`] until given or first asked for. An atomic
    /// rather than a `OnceLock`, whose initialization goes through a `Once`: this is set for
    /// every decided trace.
    bytes: AtomicU64,
    children: OnceLock<Children>,
    critical_path: OnceLock<CriticalPath>,
}

impl<'a> TraceView<'a> {
    /// Builds the view of one trace. `spans` must all belong to `trace_id` and should be sorted
    /// by start time (the engine sorts them; [`sort_spans`] does it for other callers).
    ///
    /// Inlined: the view is large (288 bytes), and built out of line it is returned by a copy.
    #[inline]
    pub fn new(trace_id: TraceId, spans: &'a [Span], flags: TraceFlags, now: Duration) -> Self {
        let mut root: Option<usize> = None;
        let mut start = u64::MAX;
        let mut end = 0;
        let mut error_count = 0;
        for (i, s) in spans.iter().enumerate() {
            start = start.min(s.start_time_unix_nano);
            end = end.max(s.end_time_unix_nano.max(s.start_time_unix_nano));
            if s.status_code == StatusCode::Error {
                error_count += 1;
            }
            // The earliest-starting parentless span is the root; spans are in start order.
            if root.is_none() && s.is_root() {
                root = Some(i);
            }
        }
        if spans.is_empty() {
            start = 0;
        }
        let randomness = root
            .map(|r| &spans[r])
            .or(spans.first())
            .and_then(|s| explicit_randomness(s.trace_state()))
            .unwrap_or_else(|| trace_id.randomness());
        TraceView {
            trace_id,
            spans,
            root,
            start,
            end,
            error_count,
            randomness,
            flags,
            now,
            baseline: None,
            bytes: AtomicU64::new(UNKNOWN_BYTES),
            children: OnceLock::new(),
            critical_path: OnceLock::new(),
        }
    }

    /// The same view, with the spans' summed [`Span::size_estimate`] given rather than
    /// computed on first use (the engine has it already: it counts every span's size at
    /// ingest). `bytes` must be that sum.
    pub fn with_bytes(self, bytes: u64) -> Self {
        self.bytes.store(bytes, Ordering::Relaxed);
        self
    }

    /// The trace's estimated OTLP size: the sum of its spans' [`Span::size_estimate`], the unit
    /// of byte budgets. Given by the engine, else summed on first use.
    pub fn bytes(&self) -> u64 {
        match self.bytes.load(Ordering::Relaxed) {
            UNKNOWN_BYTES => {
                let bytes = self.spans.iter().map(|s| s.size_estimate() as u64).sum();
                // Threads racing here compute the same sum.
                self.bytes.store(bytes, Ordering::Relaxed);
                bytes
            }
            bytes => bytes,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The spans, sorted by start time.
    pub fn spans(&self) -> &'a [Span] {
        self.spans
    }

    /// The index of the root span (the earliest parentless span), if the trace has one.
    pub fn root_index(&self) -> Option<usize> {
        self.root
    }

    /// The root span, if the trace has one.
    pub fn root(&self) -> Option<&'a Span> {
        self.root.map(|r| &self.spans[r])
    }

    /// Earliest start, unix nanoseconds.
    pub fn start_unix_nano(&self) -> u64 {
        self.start
    }

    /// Latest end, unix nanoseconds.
    pub fn end_unix_nano(&self) -> u64 {
        self.end
    }

    /// The trace's duration: earliest start to latest end.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end.saturating_sub(self.start))
    }

    /// How many spans have status ERROR.
    pub fn error_count(&self) -> usize {
        self.error_count
    }

    /// The trace's 56-bit randomness: the `rv` value of the root's `ot` tracestate entry when
    /// present, else the low 56 bits of the trace id.
    pub fn randomness(&self) -> u64 {
        self.randomness
    }

    /// How the trace came to be decided.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The engine's time at decision.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The root span's service name and name: the default group of latency baselines and
    /// representative strata. Empty strings when the trace has no root.
    pub fn root_operation(&self) -> (&'a str, &'a str) {
        match self.root() {
            Some(r) => (r.service_name(), &r.name),
            None => ("", ""),
        }
    }

    /// The latency baseline of the trace's group, when a latency baseline has been attached.
    pub fn baseline(&self) -> Option<Baseline> {
        self.baseline
    }

    /// Attaches the latency baseline of the trace's group (done by the policy set, once per
    /// trace, before policies run).
    pub fn set_baseline(&mut self, baseline: Option<Baseline>) {
        self.baseline = baseline;
    }

    /// The parent/child index, built on first use.
    pub fn children(&self) -> &Children {
        self.children.get_or_init(|| Children::build(self.spans))
    }

    /// The critical path, computed on first use.
    pub fn critical_path(&self) -> &CriticalPath {
        self.critical_path
            .get_or_init(|| critical_path::compute(self.spans, self.root, self.children()))
    }
}

/// Sorts spans by start time (then span id, so the order is total and deterministic).
pub fn sort_spans(spans: &mut [Span]) {
    spans.sort_unstable_by_key(|s| (s.start_time_unix_nano, s.span_id));
}

/// The `rv` sub-key of the `ot` entry of a W3C tracestate: 14 hex digits of explicit randomness.
pub fn explicit_randomness(trace_state: &str) -> Option<u64> {
    // Most traces carry no tracestate: skip the splitting.
    if trace_state.is_empty() {
        return None;
    }
    let ot = trace_state
        .split(',')
        .map(str::trim)
        .find_map(|entry| entry.strip_prefix("ot="))?;
    let rv = ot.split(';').find_map(|kv| kv.strip_prefix("rv:"))?;
    if rv.len() != 14 {
        return None;
    }
    u64::from_str_radix(rv, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanId, Str};

    fn span(id: u64, parent: u64, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Span::default()
        }
    }

    #[test]
    fn children_index_agrees_with_a_naive_scan() {
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(7);
        for n in [0usize, 1, 2, 3, 10, 64, 200] {
            for _ in 0..20 {
                // Ids 1..=n in random order; parents anywhere in 0..=n+3 (0: root, over n:
                // missing), some spans their own parent, some ids repeated.
                let mut spans: Vec<Span> = (1..=n as u64)
                    .map(|id| {
                        let id = if rng.gen_bool(0.05) { 1 } else { id };
                        let parent = match rng.gen_range(0..10) {
                            0 => id,
                            _ => rng.gen_range(0..=n as u64 + 3),
                        };
                        span(id, parent, rng.gen_range(0..50), 100)
                    })
                    .collect();
                sort_spans(&mut spans);
                let view = TraceView::new(
                    TraceId::from_u128(1),
                    &spans,
                    TraceFlags::default(),
                    Duration::ZERO,
                );
                let children = view.children();
                // A parent id shared by several spans resolves as a binary search over the
                // sorted (id, index) pairs finds it, as the index does.
                let mut by_id: Vec<(SpanId, usize)> = spans
                    .iter()
                    .enumerate()
                    .map(|(k, s)| (s.span_id, k))
                    .collect();
                by_id.sort_unstable();
                for (i, s) in spans.iter().enumerate() {
                    let parent = (s.parent_span_id.is_valid() && s.parent_span_id != s.span_id)
                        .then(|| {
                            by_id
                                .binary_search_by(|(id, _)| id.cmp(&s.parent_span_id))
                                .ok()
                                .map(|pos| by_id[pos].1)
                        })
                        .flatten();
                    assert_eq!(children.parent(i), parent, "n={n} span {i}");
                    let expected: Vec<u32> = (0..spans.len())
                        .filter(|&c| children.parent(c) == Some(i))
                        .map(|c| c as u32)
                        .collect();
                    assert_eq!(children.of(i), &expected[..], "n={n} span {i}");
                }
                assert!(children.of(spans.len()).is_empty());
                assert_eq!(children.parent(spans.len()), None);
            }
        }
    }

    #[test]
    fn facts_come_from_one_pass() {
        let mut spans = vec![span(2, 1, 10, 50), span(1, 0, 0, 100), span(3, 1, 60, 120)];
        spans[0].status_code = StatusCode::Error;
        sort_spans(&mut spans);
        let view = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        assert_eq!(view.root().unwrap().span_id, SpanId::from_u64(1));
        assert_eq!(view.duration(), Duration::from_nanos(120));
        assert_eq!(view.error_count(), 1);
        let root = view.root_index().unwrap();
        let kids: Vec<u64> = view
            .children()
            .of(root)
            .iter()
            .map(|&i| spans[i as usize].span_id.to_u64())
            .collect();
        assert_eq!(kids, vec![2, 3]);
        assert_eq!(view.children().parent(1), Some(root));
    }

    #[test]
    fn sort_spans_orders_sorted_reversed_and_shuffled_input() {
        let ids = |spans: &[Span]| spans.iter().map(|s| s.span_id.to_u64()).collect::<Vec<_>>();
        let mut sorted: Vec<Span> = (1..=6).map(|i| span(i, 0, i * 10, 100)).collect();
        sort_spans(&mut sorted);
        assert_eq!(ids(&sorted), [1, 2, 3, 4, 5, 6]);
        let mut reversed: Vec<Span> = sorted.iter().rev().cloned().collect();
        sort_spans(&mut reversed);
        assert_eq!(ids(&reversed), [1, 2, 3, 4, 5, 6]);
        // Equal start times are ordered by span id, in every direction.
        let mut ties = vec![span(3, 0, 5, 9), span(2, 0, 5, 9), span(1, 0, 0, 9)];
        sort_spans(&mut ties);
        assert_eq!(ids(&ties), [1, 2, 3]);
        let mut shuffled = vec![
            span(4, 0, 40, 100),
            span(1, 0, 10, 100),
            span(6, 0, 60, 100),
            span(2, 0, 20, 100),
            span(5, 0, 50, 100),
            span(3, 0, 30, 100),
        ];
        sort_spans(&mut shuffled);
        assert_eq!(ids(&shuffled), [1, 2, 3, 4, 5, 6]);
        // Longer traces, in a scrambled order.
        for n in [33u64, 200] {
            let mut spans: Vec<Span> = (0..n)
                .map(|i| {
                    let at = (i * 7 + 3) % n;
                    span(at + 1, 0, if at % 5 == 0 { 0 } else { at * 10 }, 5000)
                })
                .collect();
            let mut expected = spans.clone();
            expected.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
            sort_spans(&mut spans);
            assert_eq!(ids(&spans), ids(&expected), "{n} spans");
        }
    }

    #[test]
    fn bytes_are_summed_unless_given() {
        let spans = vec![span(1, 0, 0, 10), span(2, 1, 1, 5)];
        let view = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        let sum: u64 = spans.iter().map(|s| s.size_estimate() as u64).sum();
        assert_eq!(view.bytes(), sum);
        let given = TraceView::new(
            TraceId::from_u128(1),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        )
        .with_bytes(sum);
        assert_eq!(given.bytes(), sum);
    }

    #[test]
    fn rv_in_tracestate_overrides_the_trace_id() {
        assert_eq!(
            explicit_randomness("vendor=x,ot=th:8;rv:0123456789abcd"),
            Some(0x0123456789abcd)
        );
        assert_eq!(explicit_randomness("ot=rv:123"), None);
        let mut spans = vec![span(1, 0, 0, 10)];
        spans[0].extra_mut().trace_state = Str::from("ot=rv:00000000000001");
        let view = TraceView::new(
            TraceId::from_u128(u128::MAX),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        assert_eq!(view.randomness(), 1);
    }

    #[test]
    fn empty_and_rootless_traces_do_not_panic() {
        let view = TraceView::new(
            TraceId::from_u128(1),
            &[],
            TraceFlags::default(),
            Duration::ZERO,
        );
        assert_eq!(view.duration(), Duration::ZERO);
        assert!(view.root().is_none());
        assert!(view.critical_path().spans().is_empty());
    }
}
