//! The critical path of a trace: the chain of work that determined its end-to-end duration.
//!
//! Walking back from the root's end, the path repeatedly descends into the child that finished
//! last before the current point in time, then returns to the parent at that child's start and
//! looks for the next child that finished before it. The time a span spends on the path while
//! none of its children is on it is its *self time* on the path.
//!
//! Real traces are messy, and nothing here panics on them:
//! - Clock skew between hosts: a child is clamped into its parent's interval before the walk.
//! - Async children that end after their parent (fire-and-forget): clamped to the parent's end,
//!   so they cannot extend the path past it.
//! - Overlapping children: only the one finishing last before the cursor is on the path at a
//!   time; each child is considered at most once.
//! - Rootless traces: the span with the latest end among spans whose parent is missing stands in
//!   for the root.
//!
//! Cost: O(n log n) in spans (sorting each span's children by end), iterative, so a
//! thousand-deep chain does not overflow the stack.

use std::cell::RefCell;

use crate::span::Span;
use crate::view::Children;

/// A stretch of time during which one span is on the critical path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of the span in the trace view's spans.
    pub span: u32,
    /// Start, unix nanoseconds.
    pub start: u64,
    /// End, unix nanoseconds.
    pub end: u64,
}

/// The critical path of one trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriticalPath {
    segments: Vec<Segment>,
    spans: Vec<u32>,
    self_time: Vec<u64>,
}

impl CriticalPath {
    /// The path's segments in chronological order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The distinct spans on the path (indices into the view's spans), from the root down, in
    /// the order the path first reaches them.
    pub fn spans(&self) -> &[u32] {
        &self.spans
    }

    /// Each span's self time on the path in nanoseconds, parallel to [`CriticalPath::spans`].
    pub fn self_times(&self) -> &[u64] {
        &self.self_time
    }

    /// Whether span `index` lies on the path.
    pub fn contains(&self, index: usize) -> bool {
        self.spans.iter().any(|&s| s as usize == index)
    }
}

/// The working arrays of [`compute`], kept per thread: a path is computed for many traces, and
/// allocating its arrays each time cost more than the walk itself. Only the path's own three
/// vectors are allocated per trace, at their exact size.
#[derive(Default)]
struct Scratch {
    cstart: Vec<u64>,
    cend: Vec<u64>,
    reached: Vec<bool>,
    depth: Vec<u32>,
    order: Vec<u32>,
    offsets: Vec<usize>,
    sorted: Vec<u32>,
    cursor: Vec<usize>,
    self_time: Vec<u64>,
    /// The walk's segments, latest first.
    backwards: Vec<Segment>,
    /// The spans the walk enters, in the order it enters them.
    entered: Vec<u32>,
    /// [`path_order`]'s keys.
    keys: Vec<u128>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Computes the critical path of `spans` (sorted by start time) given the root and the
/// parent/child index.
pub fn compute(spans: &[Span], root: Option<usize>, children: &Children) -> CriticalPath {
    let Some(root) = root.or_else(|| local_root(spans, children)) else {
        return CriticalPath::default();
    };
    // Nothing in `compute_with` can reach this function again, but a fresh scratch is cheap
    // insurance against a borrow that is somehow held.
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => compute_with(spans, root, children, &mut scratch),
        Err(_) => compute_with(spans, root, children, &mut Scratch::default()),
    })
}

/// Empties `v` and fills it with `n` copies of `value`, keeping its allocation.
fn reset<T: Clone>(v: &mut Vec<T>, n: usize, value: T) {
    v.clear();
    v.resize(n, value);
}

fn compute_with(
    spans: &[Span],
    root: usize,
    children: &Children,
    scratch: &mut Scratch,
) -> CriticalPath {
    let n = spans.len();
    let Scratch {
        cstart,
        cend,
        reached,
        depth,
        order,
        offsets,
        sorted,
        cursor,
        self_time,
        backwards,
        entered,
        keys,
    } = scratch;
    // Clamp every reachable span into its parent's interval, top-down.
    reset(cstart, n, 0);
    reset(cend, n, 0);
    reset(reached, n, false);
    reset(depth, n, 0);
    order.clear();
    cstart[root] = spans[root].start_time_unix_nano;
    cend[root] = spans[root].end_time_unix_nano.max(cstart[root]);
    reached[root] = true;
    order.push(root as u32);
    let mut head = 0;
    while head < order.len() {
        let p = order[head] as usize;
        head += 1;
        for &c in children.of(p) {
            let c = c as usize;
            if reached[c] {
                continue;
            }
            reached[c] = true;
            let s = spans[c].start_time_unix_nano.clamp(cstart[p], cend[p]);
            let e = spans[c].end_time_unix_nano.clamp(s, cend[p]);
            cstart[c] = s;
            cend[c] = e;
            depth[c] = depth[p] + 1;
            order.push(c as u32);
        }
    }
    // Each reached span's children sorted by clamped end, latest first, with a cursor into them.
    reset(offsets, n + 1, 0);
    for i in 0..n {
        offsets[i + 1] = offsets[i] + if reached[i] { children.of(i).len() } else { 0 };
    }
    reset(sorted, offsets[n], 0);
    for i in 0..n {
        if reached[i] {
            let dst = &mut sorted[offsets[i]..offsets[i + 1]];
            dst.copy_from_slice(children.of(i));
            dst.sort_unstable_by(|&a, &b| cend[b as usize].cmp(&cend[a as usize]));
        }
    }
    cursor.clear();
    cursor.extend_from_slice(offsets);

    backwards.clear();
    // Every span the walk enters is on the path, even one whose children cover all its time.
    entered.clear();
    entered.push(root as u32);
    let mut current = root;
    let mut returning: Option<u64> = None;
    loop {
        let limit = returning.unwrap_or(cend[current]);
        let end = offsets[current + 1];
        while cursor[current] < end && cend[sorted[cursor[current]] as usize] > limit {
            cursor[current] += 1;
        }
        if cursor[current] < end {
            let child = sorted[cursor[current]] as usize;
            cursor[current] += 1;
            if cend[child] < limit {
                backwards.push(Segment {
                    span: current as u32,
                    start: cend[child],
                    end: limit,
                });
            }
            entered.push(child as u32);
            current = child;
            returning = None;
            continue;
        }
        if cstart[current] < limit {
            backwards.push(Segment {
                span: current as u32,
                start: cstart[current],
                end: limit,
            });
        }
        if current == root {
            break;
        }
        returning = Some(cstart[current]);
        current = match children.parent(current) {
            Some(p) if reached[p] => p,
            _ => break,
        };
    }
    reset(self_time, n, 0);
    for seg in backwards.iter() {
        self_time[seg.span as usize] += seg.end - seg.start;
    }
    path_order(entered, depth, cstart, keys);
    // Exact-size copies out of the scratch: one allocation each.
    CriticalPath {
        segments: backwards.iter().rev().copied().collect(),
        self_time: entered.iter().map(|&i| self_time[i as usize]).collect(),
        spans: entered.clone(),
    }
}

/// Sorts the distinct spans `entered` from the root down, each depth in (clamped) start order,
/// ties in the order they were entered. Each key packs a span's depth (bits 96–127), start
/// (bits 32–95) and place in `entered` (bits 0–31), so the sort compares plain integers and,
/// with every key distinct, keeps ties in entry order.
fn path_order(entered: &mut [u32], depth: &[u32], cstart: &[u64], keys: &mut Vec<u128>) {
    keys.clear();
    keys.extend(entered.iter().enumerate().map(|(at, &i)| {
        (u128::from(depth[i as usize]) << 96) | (u128::from(cstart[i as usize]) << 32) | at as u128
    }));
    keys.sort_unstable();
    // Swap each key's place for the span entered there, then write the spans back in order.
    for key in keys.iter_mut() {
        *key = u128::from(entered[*key as u32 as usize]);
    }
    for (span, key) in entered.iter_mut().zip(keys.iter()) {
        *span = *key as u32;
    }
}

/// For a trace without a root: the latest-ending span whose parent is not in the trace.
fn local_root(spans: &[Span], children: &Children) -> Option<usize> {
    (0..spans.len())
        .filter(|&i| children.parent(i).is_none())
        .max_by_key(|&i| (spans[i].end_time_unix_nano, std::cmp::Reverse(i)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanId, TraceId};
    use crate::view::{sort_spans, TraceFlags, TraceView};
    use std::time::Duration;

    fn span(id: u64, parent: u64, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId::from_u128(7),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Span::default()
        }
    }

    fn path_ids(mut spans: Vec<Span>) -> (Vec<u64>, Vec<u64>) {
        sort_spans(&mut spans);
        let view = TraceView::new(
            TraceId::from_u128(7),
            &spans,
            TraceFlags::default(),
            Duration::ZERO,
        );
        let path = view.critical_path();
        let ids = path
            .spans()
            .iter()
            .map(|&i| spans[i as usize].span_id.to_u64())
            .collect();
        (ids, path.self_times().to_vec())
    }

    proptest::proptest! {
        /// The packed-key sort orders as a stable sort by (depth, start) does, with ties
        /// (equal depth and start) in entry order.
        #[test]
        fn path_order_is_a_stable_sort_by_depth_then_start(
            facts in proptest::collection::vec((0u32..4, 0u64..4), 0..40),
            shuffle in proptest::collection::vec(proptest::num::usize::ANY, 40),
        ) {
            let n = facts.len();
            let depth: Vec<u32> = facts.iter().map(|f| f.0).collect();
            let cstart: Vec<u64> = facts.iter().map(|f| f.1 << 62).collect();
            // A permutation of the spans, as the walk might enter them.
            let mut entered: Vec<u32> = (0..n as u32).collect();
            for (i, r) in shuffle.iter().take(n).enumerate() {
                entered.swap(i, i + r % (n - i));
            }
            let mut expected = entered.clone();
            expected.sort_by_key(|&i| (depth[i as usize], cstart[i as usize]));
            path_order(&mut entered, &depth, &cstart, &mut Vec::new());
            proptest::prop_assert_eq!(entered, expected);
        }
    }

    #[test]
    fn sequential_children_are_all_on_the_path() {
        // root 0..100; a 10..40; b 40..90 (b starts when a ends).
        let (ids, self_times) = path_ids(vec![
            span(1, 0, 0, 100),
            span(2, 1, 10, 40),
            span(3, 1, 40, 90),
        ]);
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(self_times, vec![20, 30, 50]);
    }

    #[test]
    fn of_parallel_children_only_the_last_to_finish_counts() {
        // a 10..50 and b 10..80 run in parallel: b bounds the root.
        let (ids, self_times) = path_ids(vec![
            span(1, 0, 0, 100),
            span(2, 1, 10, 50),
            span(3, 1, 10, 80),
        ]);
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(self_times, vec![30, 70]);
    }

    #[test]
    fn skewed_and_async_children_are_clamped() {
        // Child starts before its parent (skew) and ends after it (async).
        let (ids, self_times) = path_ids(vec![span(1, 0, 100, 200), span(2, 1, 50, 300)]);
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(self_times.iter().sum::<u64>(), 100);
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let n = 100_000u64;
        let spans: Vec<Span> = (1..=n).map(|i| span(i, i - 1, i, 2 * n + 10 - i)).collect();
        let (ids, _) = path_ids(spans);
        assert_eq!(ids.len(), n as usize);
    }

    #[test]
    fn rootless_traces_use_the_latest_orphan() {
        let (ids, _) = path_ids(vec![
            span(2, 9, 0, 50),
            span(3, 9, 10, 80),
            span(4, 3, 20, 30),
        ]);
        assert_eq!(ids[0], 3);
        assert!(ids.contains(&4));
    }
}
