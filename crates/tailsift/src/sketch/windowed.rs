//! Sketches over time and over groups: the sliding window that lets a baseline follow traffic,
//! and the bounded set of per-group baselines (see the parent module for the why).

use std::time::Duration;

use super::{
    merged_quantiles, nanos_f64, Counted, QuantileSketch, DEFAULT_MAX_BINS,
    DEFAULT_RELATIVE_ACCURACY,
};
use crate::policy::group::{GroupKey, GroupTable};
use crate::view::Baseline;

/// A quantile sketch over a sliding time window: two sketches (current and previous half
/// window) rotated by the times passed in.
#[derive(Clone, Debug)]
pub struct WindowedSketch {
    current: QuantileSketch,
    previous: QuantileSketch,
    current_start: Option<Duration>,
    half: Duration,
    ranks: Option<Ranks>,
}

/// Where the last quantiles asked for stand in the window's bins, kept up to date as values
/// are added. Walking every bin for quantiles costs a few hundred bins per answer (about a
/// microsecond), and the policy set asks once per trace; but one added value moves a
/// quantile's rank by at most one value, so the answer is almost always in the bin it was in
/// or the next occupied one. Each tracked quantile keeps its bin and the values below and in
/// it: an add updates those counts, and an answer steps from the bin to the one holding the
/// rank. Answers are exactly those of a walk over every bin; a rotation, collapsed bins or a
/// saturated count start the tracking again from the zero bucket.
#[derive(Clone, Debug)]
struct Ranks {
    qs: [f64; TRACKED_QUANTILES],
    at: [Position; TRACKED_QUANTILES],
    len: usize,
}

/// A bin of the window (`None`: the zero bucket, below every bin), with the values counted
/// below it and in it over both halves of the window.
#[derive(Clone, Copy, Debug)]
struct Position {
    bin: Option<i32>,
    below: u64,
    here: u64,
    /// The bin's value before clamping to the window's range (0 for the zero bucket).
    value: f64,
}

const TRACKED_QUANTILES: usize = 4;

impl Position {
    const ZERO: Position = Position {
        bin: None,
        below: 0,
        here: 0,
        value: 0.0,
    };
}

impl WindowedSketch {
    /// A sketch that remembers between `window / 2` and `window` of values.
    pub fn new(window: Duration, relative_accuracy: f64, max_bins: usize) -> WindowedSketch {
        WindowedSketch {
            current: QuantileSketch::new(relative_accuracy, max_bins),
            previous: QuantileSketch::new(relative_accuracy, max_bins),
            current_start: None,
            half: (window / 2).max(Duration::from_nanos(1)),
            ranks: None,
        }
    }

    /// Rotates the windows up to `now`. Times that go backwards (threads deciding with slightly
    /// different clocks) count in the current window.
    pub fn advance(&mut self, now: Duration) {
        let Some(start) = self.current_start else {
            self.current_start = Some(now);
            return;
        };
        if now < start + self.half {
            return;
        }
        self.ranks = None;
        if now < start + self.half * 2 {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
            self.current_start = Some(start + self.half);
        } else {
            // Idle for a whole window: everything is stale.
            self.current.clear();
            self.previous.clear();
            self.current_start = Some(now);
        }
    }

    /// Adds a value at `now`.
    pub fn add(&mut self, now: Duration, value: f64) {
        self.advance(now);
        let counted = self.current.add_counted(value);
        let Some(ranks) = &mut self.ranks else {
            return;
        };
        let positions = &mut ranks.at[..ranks.len];
        match counted {
            Counted::Ignored => {}
            Counted::Zero => positions.iter_mut().for_each(|p| match p.bin {
                None => p.here += 1,
                Some(_) => p.below += 1,
            }),
            Counted::Bin(index) => positions.iter_mut().for_each(|p| match p.bin {
                Some(bin) if index < bin => p.below += 1,
                Some(bin) if index == bin => p.here += 1,
                _ => {}
            }),
            Counted::Reshaped => self.ranks = None,
        }
    }

    /// The `q`-quantile of the values in the window at `now`.
    pub fn quantile(&mut self, now: Duration, q: f64) -> Option<f64> {
        let mut out = [None];
        self.quantiles(now, &[q], &mut out);
        out[0]
    }

    /// Several quantiles of the window at `now`, into `out` (parallel to `qs`). Exactly the
    /// answers of a walk over the bins; up to four quantiles asked again and again are tracked
    /// from answer to answer instead (see `Ranks`).
    pub fn quantiles(&mut self, now: Duration, qs: &[f64], out: &mut [Option<f64>]) {
        self.advance(now);
        let len = qs.len().min(out.len());
        let tracked = match &self.ranks {
            Some(r) => r.qs[..r.len] == qs[..len],
            None => false,
        };
        if !tracked {
            if len > TRACKED_QUANTILES || qs[..len].iter().any(|q| q.is_nan()) {
                self.ranks = None;
                merged_quantiles([&self.current, &self.previous], qs, out);
                return;
            }
            let mut ranks = Ranks {
                qs: [0.0; TRACKED_QUANTILES],
                at: [Position::ZERO; TRACKED_QUANTILES],
                len,
            };
            ranks.qs[..len].copy_from_slice(&qs[..len]);
            let zeros = self.current.zero_count() + self.previous.zero_count();
            ranks.at.iter_mut().for_each(|p| p.here = zeros);
            self.ranks = Some(ranks);
        }
        out.iter_mut().for_each(|o| *o = None);
        let count = self.current.count() + self.previous.count();
        let (min, max) = self.min_max();
        let WindowedSketch {
            current,
            previous,
            ranks: Some(ranks),
            ..
        } = self
        else {
            return;
        };
        if count == 0 {
            return;
        }
        let halves = [&*current, &*previous];
        for i in 0..len {
            if i > 0 && !tracked {
                // The previous quantile's position is as good a start as any, and nearer.
                ranks.at[i] = ranks.at[i - 1];
            }
            // The rank `merged_quantiles` answers: the first value whose count passes
            // `q × (count − 1)` (a cast truncates: for a non-negative number, the floor).
            let needed = (ranks.qs[i].clamp(0.0, 1.0) * (count - 1) as f64) as u64 + 1;
            let p = &mut ranks.at[i];
            if (needed <= p.below || needed > p.below + p.here) && !step(halves, p, needed) {
                // A rank past every bin: counts saturated. The walk knows what to answer.
                self.ranks = None;
                merged_quantiles([&self.current, &self.previous], qs, out);
                return;
            }
            out[i] = Some(match p.bin {
                None => 0.0,
                Some(_) => p.value.clamp(min, max),
            });
        }
    }

    /// The smallest and largest values in the window.
    fn min_max(&self) -> (f64, f64) {
        let (a, b) = (self.current.min_max(), self.previous.min_max());
        (a.0.min(b.0), a.1.max(b.1))
    }

    /// How many values the window holds at `now`.
    pub fn count(&mut self, now: Duration) -> u64 {
        self.advance(now);
        self.current.count() + self.previous.count()
    }

    /// The bins held, over both halves.
    pub fn bin_count(&self) -> usize {
        self.current.bin_count() + self.previous.bin_count()
    }
}

/// Moves `p` to the bin of the window's `halves` that holds the `needed`-th value (counting
/// from 1); `false` if the bins hold fewer values.
fn step(halves: [&QuantileSketch; 2], p: &mut Position, needed: u64) -> bool {
    let count_at = |index: i32| -> u64 { halves.iter().map(|s| s.bin_count_at(index)).sum() };
    let at = |index: i32, below: u64, here: u64| Position {
        bin: Some(index),
        below,
        here,
        value: halves[0].bin_value(index),
    };
    while needed <= p.below {
        // Down to the next occupied bin, or the zero bucket below them all (the values below
        // a bin are in one or the other).
        let below = p
            .bin
            .and_then(|bin| halves.iter().filter_map(|s| s.occupied_below(bin)).max());
        *p = match below {
            Some(index) => {
                let here = count_at(index);
                // `here` is among the values below `p`, so this never goes under 0 while the
                // counts are right; saturating keeps a miscount from panicking mid-decision.
                at(index, p.below.saturating_sub(here), here)
            }
            None => Position {
                here: p.below,
                ..Position::ZERO
            },
        };
    }
    while needed > p.below + p.here {
        // Up to the next occupied bin.
        let above = halves.iter().filter_map(|s| s.occupied_above(p.bin)).min();
        let Some(index) = above else {
            return false;
        };
        *p = at(index, p.below + p.here, count_at(index));
    }
    true
}

/// Settings of a [`GroupedSketches`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaselineConfig {
    /// How far back a baseline looks (between half of it and all of it). Default 5 minutes.
    pub window: Duration,
    /// Most groups held; the least recently seen is evicted past it. Default 1,024.
    pub max_groups: usize,
    /// Relative accuracy of quantiles. Default 1%.
    pub relative_accuracy: f64,
    /// Most bins per sketch. Default 1,024.
    pub max_bins: usize,
}

impl Default for BaselineConfig {
    fn default() -> BaselineConfig {
        BaselineConfig {
            window: Duration::from_secs(300),
            max_groups: 1024,
            relative_accuracy: DEFAULT_RELATIVE_ACCURACY,
            max_bins: DEFAULT_MAX_BINS,
        }
    }
}

/// Windowed duration sketches per group, bounded in groups and bins.
pub struct GroupedSketches {
    config: BaselineConfig,
    groups: GroupTable<WindowedSketch>,
}

impl GroupedSketches {
    /// An empty set of baselines.
    pub fn new(config: BaselineConfig) -> GroupedSketches {
        GroupedSketches {
            groups: GroupTable::new(config.max_groups),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &BaselineConfig {
        &self.config
    }

    fn fresh(&self) -> WindowedSketch {
        WindowedSketch::new(
            self.config.window,
            self.config.relative_accuracy,
            self.config.max_bins,
        )
    }

    /// The group's quantiles `qs` at `now` into `out` (parallel to `qs`; `None` without samples),
    /// and how many samples the group holds. Does not create the group.
    pub fn quantiles(
        &self,
        group: GroupKey,
        now: Duration,
        qs: &[f64],
        out: &mut [Option<Duration>],
    ) -> u64 {
        out.iter_mut().for_each(|o| *o = None);
        self.groups
            .get(group, |sketch| fill_quantiles(sketch, now, qs, out))
            .unwrap_or(0)
    }

    /// Adds one duration to the group at `now`.
    pub fn record(&self, group: GroupKey, now: Duration, duration: Duration) {
        self.groups.with(
            group,
            now,
            || self.fresh(),
            |sketch| sketch.add(now, nanos_f64(duration)),
        );
    }

    /// [`GroupedSketches::quantiles`] before adding `duration`, then adds it: one lock.
    pub fn observe(
        &self,
        group: GroupKey,
        now: Duration,
        duration: Duration,
        qs: &[f64],
        out: &mut [Option<Duration>],
    ) -> u64 {
        self.groups.with(
            group,
            now,
            || self.fresh(),
            |sketch| {
                let samples = fill_quantiles(sketch, now, qs, out);
                sketch.add(now, nanos_f64(duration));
                samples
            },
        )
    }

    /// The group's p50, p95 and p99 at `now`, if it has samples.
    pub fn baseline(&self, group: GroupKey, now: Duration) -> Option<Baseline> {
        let mut out = [None; 3];
        let samples = self.quantiles(group, now, &BASELINE_QUANTILES, &mut out);
        as_baseline(out, samples)
    }

    /// [`GroupedSketches::baseline`] before adding `duration`, then adds it: one lock and one
    /// lookup where the two calls take two each (the group is created if absent).
    pub fn observe_baseline(
        &self,
        group: GroupKey,
        now: Duration,
        duration: Duration,
    ) -> Option<Baseline> {
        let mut out = [None; 3];
        let samples = self.observe(group, now, duration, &BASELINE_QUANTILES, &mut out);
        as_baseline(out, samples)
    }

    /// How many groups are held.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// How many groups were evicted to stay within `max_groups`.
    pub fn evicted_groups(&self) -> u64 {
        self.groups.evicted()
    }

    /// Bins held over all groups (a memory gauge: 4 bytes each).
    pub fn bin_count(&self) -> usize {
        let mut n = 0;
        self.groups.for_each(|_, s| n += s.bin_count());
        n
    }
}

/// The quantiles a [`Baseline`] holds.
const BASELINE_QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

fn as_baseline(out: [Option<Duration>; 3], samples: u64) -> Option<Baseline> {
    match out {
        [Some(p50), Some(p95), Some(p99)] if samples > 0 => Some(Baseline {
            p50,
            p95,
            p99,
            samples,
        }),
        _ => None,
    }
}

fn fill_quantiles(
    sketch: &mut WindowedSketch,
    now: Duration,
    qs: &[f64],
    out: &mut [Option<Duration>],
) -> u64 {
    let samples = sketch.count(now);
    // Through a small stack buffer: no allocation per trace.
    let mut buf = [None; 8];
    for (qs, out) in qs.chunks(buf.len()).zip(out.chunks_mut(buf.len())) {
        sketch.quantiles(now, qs, &mut buf[..qs.len()]);
        for (o, v) in out.iter_mut().zip(&buf) {
            *o = v.map(|v| Duration::from_nanos(round_nanos(v)));
        }
    }
    samples
}

/// `v.round() as u64` for the non-negative values a sketch answers, without the software
/// `round` (a call of some twenty instructions on x86-64 without SSE4.1), three times a trace.
fn round_nanos(v: f64) -> u64 {
    let whole = v as u64;
    // Below 2^64 the fraction is exact; past it (or for NaN) the cast saturates, as with `round`.
    if v - whole as f64 >= 0.5 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_a_shift_in_the_distribution() {
        let mut w = WindowedSketch::new(Duration::from_secs(300), 0.01, 1024);
        let ms = 1e6;
        // Ten minutes at 100 ms, then ten minutes at 1 s, one value a second.
        for s in 0..600 {
            w.add(Duration::from_secs(s), 100.0 * ms);
        }
        let before = w.quantile(Duration::from_secs(600), 0.5).unwrap();
        assert!((before / (100.0 * ms) - 1.0).abs() <= 0.01);
        for s in 600..1200 {
            w.add(Duration::from_secs(s), 1000.0 * ms);
        }
        let after = w.quantile(Duration::from_secs(1200), 0.5).unwrap();
        assert!((after / (1000.0 * ms) - 1.0).abs() <= 0.01, "got {after}");
        let held = w.count(Duration::from_secs(1200));
        assert!((150..=300).contains(&held), "held {held}");
        // A long idle gap forgets everything.
        assert_eq!(w.count(Duration::from_secs(5000)), 0);
    }

    #[test]
    fn nanoseconds_round_as_round_does() {
        let values = [
            0.0,
            0.49999999999999994,
            0.5,
            1.5,
            2.5,
            1e6 + 0.499,
            1e6 + 0.5,
            4503599627370495.5,
            9007199254740993.0,
            1.8446744073709552e19,
            1e30,
            f64::MAX,
        ];
        for v in values {
            assert_eq!(round_nanos(v), v.round() as u64, "{v}");
        }
    }

    /// The walk over every bin, which tracked answers must equal.
    fn walked(w: &WindowedSketch, qs: &[f64]) -> Vec<Option<f64>> {
        let mut out = vec![None; qs.len()];
        merged_quantiles([&w.current, &w.previous], qs, &mut out);
        out
    }

    #[test]
    fn tracked_quantiles_follow_every_added_value() {
        let mut w = WindowedSketch::new(Duration::from_secs(300), 0.01, 1024);
        let now = Duration::from_secs(1);
        let qs = [0.5, 0.95, 0.99];
        for _ in 0..1280 {
            w.add(now, 1e6);
        }
        let mut out = [None; 3];
        w.quantiles(now, &qs, &mut out);
        assert_eq!(out, [Some(1e6); 3]);
        // Each larger value moves the p99 as soon as its rank is reached: no staleness.
        let mut moved_at = None;
        for k in 1..=20 {
            w.add(now, 1e9);
            w.quantiles(now, &qs, &mut out);
            assert_eq!(out.to_vec(), walked(&w, &qs), "after {k} large values");
            if moved_at.is_none() && out[2] != Some(1e6) {
                moved_at = Some(k);
            }
        }
        // 1,280 + k values: the p99's rank ⌊0.99 (n − 1)⌋ + 1 passes 1,280 at k = 14.
        assert_eq!(moved_at, Some(14));
        // Small windows, as large ones.
        let mut small = WindowedSketch::new(Duration::from_secs(300), 0.01, 1024);
        small.add(now, 1.0);
        assert_eq!(small.quantile(now, 0.5), Some(1.0));
        small.add(now, 100.0);
        small.add(now, 100.0);
        assert!((small.quantile(now, 0.5).unwrap() / 100.0 - 1.0).abs() <= 0.01);
    }

    /// One step of [`tracked_answers_are_the_walks_answers`].
    #[derive(Clone, Debug)]
    enum Op {
        Add(f64),
        Pass(u64),
        Ask(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            // Bins from the zero bucket to far apart, with repeats and the odd bad value.
            6 => prop_oneof![
                Just(0.0),
                Just(-1.0),
                Just(f64::NAN),
                (1u32..40).prop_map(|k| f64::from(k) * 1e6),
                (0.0f64..30.0).prop_map(f64::exp),
            ].prop_map(Op::Add),
            1 => (0u64..200).prop_map(Op::Pass),
            3 => (0usize..QUANTILE_SETS.len()).prop_map(Op::Ask),
        ]
    }

    const QUANTILE_SETS: [&[f64]; 5] = [
        &[0.5, 0.95, 0.99],
        &[0.95],
        &[0.0, 1.0],
        &[0.99, 0.5, 0.25, 0.75],
        &[0.1, 0.2, 0.3, 0.4, 0.5],
    ];

    proptest::proptest! {
        /// Whatever was added, rotated, collapsed or asked before, the tracked answers are the
        /// walk's: small bin bounds force collapses, seconds passing force rotations.
        #[test]
        fn tracked_answers_are_the_walks_answers(
            max_bins in 2usize..64,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let mut w = WindowedSketch::new(Duration::from_secs(300), 0.01, max_bins);
            let mut now = Duration::ZERO;
            for op in ops {
                match op {
                    Op::Add(v) => w.add(now, v),
                    Op::Pass(s) => now += Duration::from_secs(s),
                    Op::Ask(k) => {
                        let qs = QUANTILE_SETS[k];
                        let mut out = vec![None; qs.len()];
                        w.quantiles(now, qs, &mut out);
                        proptest::prop_assert_eq!(out, walked(&w, qs));
                    }
                }
            }
        }
    }

    #[test]
    fn grouped_sketches_bound_groups_and_compare_before_adding() {
        let groups = GroupedSketches::new(BaselineConfig {
            max_groups: 32,
            ..BaselineConfig::default()
        });
        let now = Duration::from_secs(1);
        for g in 0..1000u64 {
            groups.record(GroupKey(g << 40 | g), now, Duration::from_millis(g + 1));
        }
        assert!(groups.group_count() <= 32);
        assert!(groups.evicted_groups() >= 968);

        let key = GroupKey(7);
        let mut out = [None];
        assert_eq!(
            groups.observe(key, now, Duration::from_secs(9), &[0.5], &mut out),
            0
        );
        assert_eq!(out, [None]);
        let samples = groups.observe(key, now, Duration::from_secs(1), &[0.5], &mut out);
        assert_eq!(samples, 1);
        let p50 = out[0].unwrap().as_secs_f64();
        assert!((p50 / 9.0 - 1.0).abs() <= 0.01);
        let baseline = groups.baseline(key, now).unwrap();
        assert_eq!(baseline.samples, 2);
        assert!(groups.baseline(GroupKey(12345), now).is_none());

        // `observe_baseline`: the baseline before the duration (none for a new group), then the
        // duration learned; the same answer as `baseline` then `record`.
        let fresh = GroupKey(99);
        assert!(groups
            .observe_baseline(fresh, now, Duration::from_secs(2))
            .is_none());
        let before = groups
            .observe_baseline(fresh, now, Duration::from_secs(30))
            .unwrap();
        assert_eq!(before.samples, 1);
        assert!((before.p99.as_secs_f64() / 2.0 - 1.0).abs() <= 0.01);
        assert_eq!(groups.baseline(fresh, now).unwrap().samples, 2);
    }
}
