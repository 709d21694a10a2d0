//! Streaming quantile sketches: the latency baselines behind "slower than the p95 of its kind".
//!
//! Keeping every trace duration to sort it is out of the question at hundreds of thousands of
//! traces per second, and a fixed histogram is either coarse or huge. A DDSketch-style sketch
//! ([`QuantileSketch`]) buckets a value `v > 0` into bin `ceil(log_γ v)` with
//! `γ = (1 + α) / (1 − α)`: every value in a bin is within relative error `α` of the bin's
//! representative, so any quantile comes back within `α` (1% by default) of the true one, whatever
//! the distribution's shape. Counts are dense `u32`s over the bins actually spanned; the number
//! of bins is bounded (1,024 by default cover durations from 1 µs to beyond 10 minutes at 1%)
//! and, past the bound, the *lowest* bins are collapsed into one, so the high quantiles the
//! latency policy asks about stay exact to `α`.
//!
//! Traffic changes, so a baseline must forget: [`WindowedSketch`] keeps two sketches, the
//! current half-window and the previous one, and rotates them by time (taken from the trace
//! view's `now()`, never the wall clock). Queries see the last half to full window of traces,
//! so a shift in the distribution is followed within one window. Walking the bins for every
//! answer would cost a few hundred bins per trace, so a window tracks where the quantiles asked
//! of it stand in its bins, value by value, and steps from the last answer to the next: every
//! answer is exact to `α`, never stale (see [`WindowedSketch::quantiles`]).
//!
//! [`GroupedSketches`] holds one windowed sketch per group (root service + root name by default)
//! in a bounded, sharded table that evicts the coldest group. Memory is bounded by
//! `max_groups × 2 × max_bins × 4` bytes (8 MiB with the defaults, usually far less: a group's
//! durations rarely span more than a few hundred bins).

use std::time::Duration;

mod windowed;

pub use windowed::{BaselineConfig, GroupedSketches, WindowedSketch};

/// Default relative accuracy of quantiles: 1%.
pub const DEFAULT_RELATIVE_ACCURACY: f64 = 0.01;
/// Default bound on the bins of one sketch.
pub const DEFAULT_MAX_BINS: usize = 1024;

/// A DDSketch-style quantile sketch of non-negative values (trace durations in nanoseconds).
#[derive(Clone, Debug)]
pub struct QuantileSketch {
    relative_accuracy: f64,
    /// `ln γ`, and its inverse, so indexing is one `ln` and one multiply.
    ln_gamma: f64,
    inv_ln_gamma: f64,
    /// `2 / (γ + 1)`: a bin's value is `γ^i` times this.
    bin_scale: f64,
    max_bins: usize,
    /// `bins[j]` counts values of index `offset + j`.
    bins: Vec<u32>,
    offset: i32,
    zero_count: u64,
    count: u64,
    min: f64,
    max: f64,
}

impl Default for QuantileSketch {
    fn default() -> QuantileSketch {
        QuantileSketch::new(DEFAULT_RELATIVE_ACCURACY, DEFAULT_MAX_BINS)
    }
}

impl QuantileSketch {
    /// A sketch with quantiles within `relative_accuracy` (clamped to `[1e-4, 0.5]`) and at most
    /// `max_bins` bins (at least 1).
    pub fn new(relative_accuracy: f64, max_bins: usize) -> QuantileSketch {
        let alpha = if relative_accuracy.is_nan() {
            DEFAULT_RELATIVE_ACCURACY
        } else {
            relative_accuracy.clamp(1e-4, 0.5)
        };
        let ln_gamma = ((1.0 + alpha) / (1.0 - alpha)).ln();
        QuantileSketch {
            relative_accuracy: alpha,
            ln_gamma,
            inv_ln_gamma: 1.0 / ln_gamma,
            bin_scale: 2.0 / (ln_gamma.exp() + 1.0),
            max_bins: max_bins.max(1),
            bins: Vec::new(),
            offset: 0,
            zero_count: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// The relative accuracy of quantiles.
    pub fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many bins the sketch holds now (never more than its bound).
    pub fn bin_count(&self) -> usize {
        self.bins.len()
    }

    /// Approximate heap memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.bins.capacity() * std::mem::size_of::<u32>()
    }

    /// Forgets every value, keeping the allocation.
    pub fn clear(&mut self) {
        self.bins.clear();
        self.offset = 0;
        self.zero_count = 0;
        self.count = 0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
    }

    /// Adds one value. Zero goes to an exact zero bucket; negative, infinite and NaN values are
    /// ignored.
    pub fn add(&mut self, value: f64) {
        self.add_counted(value);
    }

    /// [`QuantileSketch::add`], saying where the value was counted, for a caller that tracks
    /// ranks across adds ([`WindowedSketch`]).
    pub(crate) fn add_counted(&mut self, value: f64) -> Counted {
        if !value.is_finite() || value < 0.0 {
            return Counted::Ignored;
        }
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count += 1;
            Counted::Zero
        } else {
            match self.add_index(self.index(value), 1) {
                Some(index) => Counted::Bin(index),
                None => Counted::Reshaped,
            }
        }
    }

    /// The values counted in bin `index` (0 outside the bins held).
    pub(crate) fn bin_count_at(&self, index: i32) -> u64 {
        usize::try_from(i64::from(index) - i64::from(self.offset))
            .ok()
            .and_then(|j| self.bins.get(j))
            .map_or(0, |&c| u64::from(c))
    }

    /// The lowest bin above `index` that holds values (from the lowest bin for `None`).
    pub(crate) fn occupied_above(&self, index: Option<i32>) -> Option<i32> {
        let from = index.map_or(0, |i| {
            usize::try_from(i64::from(i) + 1 - i64::from(self.offset)).unwrap_or(0)
        });
        let k = self.bins.get(from..)?.iter().position(|&c| c != 0)?;
        Some(self.offset + (from + k) as i32)
    }

    /// The highest bin below `index` that holds values.
    pub(crate) fn occupied_below(&self, index: i32) -> Option<i32> {
        let end = usize::try_from(i64::from(index) - i64::from(self.offset)).ok()?;
        let end = end.min(self.bins.len());
        let k = self.bins[..end].iter().rposition(|&c| c != 0)?;
        Some(self.offset + k as i32)
    }

    /// The zero bucket's count.
    pub(crate) fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// The smallest and largest values added (infinities when empty).
    pub(crate) fn min_max(&self) -> (f64, f64) {
        (self.min, self.max)
    }

    /// Adds a duration, in nanoseconds.
    pub fn add_duration(&mut self, value: Duration) {
        self.add(nanos_f64(value));
    }

    /// Adds every value of `other` (which should have the same accuracy; bins are matched by
    /// index).
    pub fn merge(&mut self, other: &QuantileSketch) {
        if other.count == 0 {
            return;
        }
        self.count += other.count;
        self.zero_count += other.zero_count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (j, &c) in other.bins.iter().enumerate() {
            if c > 0 {
                self.add_index(other.offset.saturating_add(j as i32), c);
            }
        }
    }

    /// The `q`-quantile (`q` in `[0, 1]`; the value of rank `⌊q·(n−1)⌋`), within the relative
    /// accuracy. `None` when empty or `q` is NaN.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut out = [None];
        merged_quantiles([self], &[q], &mut out);
        out[0]
    }

    /// Several quantiles at once, into `out` (parallel to `qs`), in one pass over the bins.
    pub fn quantiles(&self, qs: &[f64], out: &mut [Option<f64>]) {
        merged_quantiles([self], qs, out);
    }

    fn index(&self, value: f64) -> i32 {
        // Clamped so absurd inputs (subnormals) cannot overflow; real durations are far inside.
        (value.ln() * self.inv_ln_gamma).ceil().clamp(-1e9, 1e9) as i32
    }

    pub(crate) fn bin_value(&self, index: i32) -> f64 {
        // The midpoint (in relative terms) of (γ^(i-1), γ^i]: 2γ^i / (γ + 1).
        (index as f64 * self.ln_gamma).exp() * self.bin_scale
    }

    /// Extends the bins with zeroes to `len`, doubling capacity but never past the bound, so
    /// memory stays within `max_bins`.
    fn grow_to(&mut self, len: usize) {
        if len > self.bins.capacity() {
            let want = (self.bins.capacity() * 2)
                .max(len)
                .min(self.max_bins.max(len));
            self.bins.reserve_exact(want - self.bins.len());
        }
        self.bins.resize(len, 0);
    }

    /// Counts `n` values in bin `index`. Returns the bin they were counted in (the lowest bin
    /// for an index below a collapsed range), or `None` when bins were collapsed or the bin's
    /// count saturated: then bins no longer hold what was added to them, and ranks tracked
    /// across adds must be found again.
    fn add_index(&mut self, index: i32, n: u32) -> Option<i32> {
        let max = self.max_bins as i64;
        if self.bins.is_empty() {
            self.offset = index;
            self.bins.push(n);
            return (n < u32::MAX).then_some(index);
        }
        let i = index as i64;
        let lo = self.offset as i64;
        let len = self.bins.len() as i64;
        let hi = lo + len - 1;
        if i < lo {
            let room = max - len;
            if room > 0 {
                // Grow downwards with some slack, so a slowly falling minimum does not shift the
                // whole vector on every new low.
                let need = lo - i;
                let grow = need.max(len / 4 + 8).min(room);
                let mut bins = Vec::with_capacity((len + grow) as usize);
                bins.resize(grow as usize, 0);
                bins.extend_from_slice(&self.bins);
                self.bins = bins;
                self.offset = (lo - grow) as i32;
            }
            // Below the collapsed range, values count in the lowest bin.
            let j = (i - self.offset as i64).max(0) as usize;
            return self.count_in(j, n);
        }
        if i > hi {
            let new_len = i - lo + 1;
            if new_len > max {
                // Collapse the lowest bins into the lowest one that stays.
                let shift = new_len - max;
                if shift >= len {
                    let total: u64 = self.bins.iter().map(|&c| u64::from(c)).sum();
                    self.bins.clear();
                    self.grow_to(max as usize);
                    self.bins[0] = u32::try_from(total).unwrap_or(u32::MAX);
                } else {
                    let folded: u64 = self.bins[..shift as usize]
                        .iter()
                        .map(|&c| u64::from(c))
                        .sum();
                    self.bins.drain(..shift as usize);
                    let first = u64::from(self.bins[0]) + folded;
                    self.bins[0] = u32::try_from(first).unwrap_or(u32::MAX);
                    self.grow_to(max as usize);
                }
                self.offset = (i - max + 1) as i32;
                let j = (i - self.offset as i64) as usize;
                self.count_in(j, n);
                return None;
            } else {
                self.grow_to(new_len as usize);
            }
        }
        let j = (i - self.offset as i64) as usize;
        self.count_in(j, n)
    }

    /// Adds `n` to bin `j`: its index, or `None` if the count saturated.
    fn count_in(&mut self, j: usize, n: u32) -> Option<i32> {
        let (count, overflow) = self.bins[j].overflowing_add(n);
        self.bins[j] = if overflow { u32::MAX } else { count };
        (!overflow && count < u32::MAX).then_some(self.offset + j as i32)
    }
}

/// Where [`QuantileSketch::add_counted`] counted a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Counted {
    /// Not a value the sketch holds (negative, infinite, NaN).
    Ignored,
    /// In the zero bucket.
    Zero,
    /// In the bin of this index.
    Bin(i32),
    /// Bins were collapsed, or a count saturated: earlier positions in the bins are void.
    Reshaped,
}

/// A duration in nanoseconds, as a float. Through `u64` ([`crate::clock::nanos`]): `u128`'s
/// conversion to `f64` is a software routine of some forty instructions, paid on every trace a
/// baseline learns from. Durations past `u64::MAX` nanoseconds (584 years) saturate.
pub(crate) fn nanos_f64(d: Duration) -> f64 {
    crate::clock::nanos(d) as f64
}

/// The quantiles `qs` of the union of `sketches` (which share one accuracy) into `out`, in one
/// pass over the bins, without merging or allocating. `None` for NaN quantiles or no values.
///
/// The `q`-quantile is the value of the bin where the count of values seen first passes
/// `q × (count − 1)`: that rank is turned into a whole number of values once per quantile, and
/// the walk sums bins a chunk at a time, looking at single bins only in the chunk where the
/// next quantile's count is reached (a walk covers a few hundred bins, mostly between
/// quantiles). A [`WindowedSketch`] steps from its last answers instead, and walks only when
/// it has none to step from.
pub(crate) fn merged_quantiles<const N: usize>(
    sketches: [&QuantileSketch; N],
    qs: &[f64],
    out: &mut [Option<f64>],
) {
    out.iter_mut().for_each(|o| *o = None);
    let live = || sketches.iter().filter(|s| s.count > 0);
    let Some(first) = live().next() else {
        return;
    };
    let count: u64 = live().map(|s| s.count).sum();
    let (min, max) = live().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s.min), hi.max(s.max))
    });
    // How many values must be seen for the walk to pass `q`'s rank: `seen > q × (count − 1)`
    // exactly when `seen ≥ ⌊q × (count − 1)⌋ + 1`, for whole `seen`.
    let needed = |q: f64| (q.clamp(0.0, 1.0) * (count - 1) as f64).floor() as u64 + 1;
    // Answers the pending quantiles that `seen` values reach with `value`, and returns the
    // count the next one needs (`None` when none is left).
    let answer = |seen: u64, value: f64, out: &mut [Option<f64>]| -> Option<u64> {
        let mut next = None::<u64>;
        for (&q, o) in qs.iter().zip(out.iter_mut()) {
            if o.is_some() || q.is_nan() {
                continue;
            }
            let n = needed(q);
            if seen >= n {
                *o = Some(value);
            } else {
                next = Some(next.map_or(n, |m| m.min(n)));
            }
        }
        next
    };
    let mut seen: u64 = live().map(|s| s.zero_count).sum();
    let Some(mut next) = answer(seen, 0.0, out) else {
        return;
    };
    // Walk the union of the bins in index order. Each sketch's bins are a slice starting at its
    // offset; walking them in runs between the points where a slice starts or ends keeps the
    // inner loops to plain indexing.
    let bins: [(i64, &[u32]); N] = sketches.map(|s| (s.offset as i64, &s.bins[..]));
    let slices = || bins.iter().filter(|(_, b)| !b.is_empty());
    let lo = slices().map(|&(o, _)| o).min().unwrap_or(0);
    let hi = slices()
        .map(|&(o, b)| o + b.len() as i64)
        .max()
        .unwrap_or(0);
    let mut index = lo;
    'walk: while index < hi {
        // The next index where some slice starts or ends: in between, the same slices cover.
        let run_end = slices()
            .flat_map(|&(o, b)| [o, o + b.len() as i64])
            .filter(|&p| p > index)
            .min()
            .unwrap_or(hi);
        let covering: [&[u32]; N] = bins.map(|(o, b)| {
            if o <= index && index < o + b.len() as i64 {
                &b[(index - o) as usize..(run_end - o) as usize]
            } else {
                &[]
            }
        });
        // The values in bins `range` of this run, over the covering slices.
        let sum = |range: std::ops::Range<usize>| -> u64 {
            covering
                .iter()
                .filter(|b| !b.is_empty())
                .map(|b| b[range.clone()].iter().map(|&c| u64::from(c)).sum::<u64>())
                .sum()
        };
        let len = (run_end - index) as usize;
        let mut k = 0;
        while k < len {
            let end = (k + CHUNK_BINS).min(len);
            let chunk = sum(k..end);
            if seen + chunk < next {
                seen += chunk;
                k = end;
                continue;
            }
            // The next quantile is in this chunk: bin by bin (`seen` passes `next` only on a
            // bin that holds values).
            for j in k..end {
                seen += sum(j..j + 1);
                if seen >= next {
                    let value = first.bin_value((index + j as i64) as i32).clamp(min, max);
                    match answer(seen, value, out) {
                        Some(n) => next = n,
                        None => break 'walk,
                    }
                }
            }
            k = end;
        }
        index = run_end;
    }
    // Saturated bin counts can leave a rank unreached: such a quantile is the maximum.
    for (&q, o) in qs.iter().zip(out.iter_mut()) {
        if o.is_none() && !q.is_nan() {
            *o = Some(max);
        }
    }
}

/// Bins summed at a time by [`merged_quantiles`] between quantiles.
const CHUNK_BINS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn check(name: &str, mut values: Vec<f64>) {
        let mut sketch = QuantileSketch::default();
        values.iter().for_each(|&v| sketch.add(v));
        values.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let want = exact(&values, q);
            let got = sketch.quantile(q).unwrap();
            let err = (got - want).abs() / want;
            assert!(err <= 0.01 + 1e-9, "{name} p{q}: got {got}, want {want}");
        }
        assert_eq!(sketch.count(), values.len() as u64);
    }

    #[test]
    fn durations_become_nanoseconds_exactly_and_saturate() {
        assert_eq!(nanos_f64(Duration::ZERO), 0.0);
        assert_eq!(nanos_f64(Duration::new(1, 500)), 1_000_000_500.0);
        let hours = Duration::from_secs(100 * 3600) + Duration::from_nanos(7);
        assert_eq!(nanos_f64(hours), 360_000_000_000_007.0);
        assert_eq!(nanos_f64(Duration::MAX), u64::MAX as f64);
    }

    #[test]
    fn quantiles_are_within_one_percent_on_uniform_data() {
        let mut rng = SmallRng::seed_from_u64(1);
        check(
            "uniform",
            (0..100_000)
                .map(|_| rng.gen_range(1e6..5e8))
                .collect::<Vec<f64>>(),
        );
    }

    #[test]
    fn quantiles_are_within_one_percent_on_log_normal_data() {
        let mut rng = SmallRng::seed_from_u64(2);
        let values = (0..100_000)
            .map(|_| {
                // Box-Muller: a standard normal, then exp(μ + σ z) around 50 ms.
                let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                (17.7 + 1.2 * z).exp()
            })
            .collect();
        check("log-normal", values);
    }

    #[test]
    fn quantiles_are_within_one_percent_on_bimodal_data() {
        let mut rng = SmallRng::seed_from_u64(3);
        let values = (0..100_000)
            .map(|_| {
                if rng.gen_bool(0.9) {
                    rng.gen_range(2e6..4e6) // cache hits, 2-4 ms
                } else {
                    rng.gen_range(8e8..1.2e9) // misses, ~1 s
                }
            })
            .collect();
        check("bimodal", values);
    }

    #[test]
    fn bins_stay_bounded_and_high_quantiles_survive_collapse() {
        let mut sketch = QuantileSketch::new(0.01, 128);
        for e in 0..=150 {
            for k in 0..10 {
                sketch.add(10f64.powf(e as f64 / 10.0) * (1.0 + k as f64 / 100.0));
            }
        }
        assert!(sketch.bin_count() <= 128);
        assert!(sketch.memory_bytes() <= 128 * 4);
        let p99 = sketch.quantile(0.99).unwrap();
        assert!(p99 > 5e14, "high quantiles stay accurate, got {p99}");
        // Values below the collapsed range still count.
        sketch.add(1.0);
        assert_eq!(sketch.count(), 1511);
        assert!(sketch.bin_count() <= 128);
    }

    #[test]
    fn zero_and_odd_values_do_not_break_the_sketch() {
        let mut sketch = QuantileSketch::default();
        assert_eq!(sketch.quantile(0.5), None);
        sketch.add(f64::NAN);
        sketch.add(-1.0);
        sketch.add(f64::INFINITY);
        assert!(sketch.is_empty());
        sketch.add(0.0);
        sketch.add(0.0);
        sketch.add(100.0);
        assert_eq!(sketch.quantile(0.5), Some(0.0));
        assert_eq!(sketch.quantile(1.0), Some(100.0));
        assert_eq!(sketch.quantile(f64::NAN), None);
        sketch.add(f64::MIN_POSITIVE);
        assert_eq!(sketch.count(), 4);
    }

    #[test]
    fn merge_equals_adding_everything() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut a = QuantileSketch::default();
        let mut b = QuantileSketch::default();
        let mut all = QuantileSketch::default();
        for i in 0..10_000 {
            let v = rng.gen_range(1e3..1e9);
            if i % 2 == 0 { &mut a } else { &mut b }.add(v);
            all.add(v);
        }
        a.merge(&b);
        let qs = [0.99, 0.1, f64::NAN, 0.5, 0.9];
        let mut together = [None; 5];
        a.quantiles(&qs, &mut together);
        for (q, t) in qs.iter().zip(together) {
            assert_eq!(a.quantile(*q), all.quantile(*q));
            assert_eq!(
                t,
                all.quantile(*q),
                "one pass gives the same answers, in any order"
            );
        }
    }

    /// The walk spelled out plainly: every bin of the union in index order, one at a time,
    /// each quantile's rank compared as a float.
    fn reference_quantiles(sketches: &[&QuantileSketch], qs: &[f64]) -> Vec<Option<f64>> {
        let live: Vec<_> = sketches.iter().filter(|s| s.count > 0).collect();
        let Some(first) = live.first() else {
            return vec![None; qs.len()];
        };
        let count: u64 = live.iter().map(|s| s.count).sum();
        let min = live.iter().map(|s| s.min).fold(f64::INFINITY, f64::min);
        let max = live.iter().map(|s| s.max).fold(f64::NEG_INFINITY, f64::max);
        let mut bins = std::collections::BTreeMap::<i64, u64>::new();
        for s in &live {
            for (j, &c) in s.bins.iter().enumerate() {
                *bins.entry(i64::from(s.offset) + j as i64).or_default() += u64::from(c);
            }
        }
        let zeroes: u64 = live.iter().map(|s| s.zero_count).sum();
        qs.iter()
            .map(|&q| {
                if q.is_nan() {
                    return None;
                }
                let rank = q.clamp(0.0, 1.0) * (count - 1) as f64;
                let mut seen = zeroes;
                if seen as f64 > rank {
                    return Some(0.0);
                }
                for (&index, &c) in &bins {
                    seen += c;
                    if c > 0 && seen as f64 > rank {
                        return Some(first.bin_value(index as i32).clamp(min, max));
                    }
                }
                Some(max)
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn the_chunked_walk_agrees_with_the_plain_one(
            a in proptest::collection::vec(0u32..400, 0..300),
            b in proptest::collection::vec(0u32..400, 0..300),
            b_shift in -40i32..40,
            zeroes in 0u32..30,
            max_bins in proptest::sample::select(vec![8usize, 64, 1024]),
            qs in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => 0.0f64..=1.0,
                    1 => proptest::sample::select(vec![0.0, 1.0, -0.5, 1.5, f64::NAN]),
                ],
                0..9,
            ),
        ) {
            // Values a few bins apart (2% steps at 1% accuracy), so runs of empty bins, bins
            // with many values, and (with few bins) collapsed low bins all occur.
            let mut x = QuantileSketch::new(0.01, max_bins);
            let mut y = QuantileSketch::new(0.01, max_bins);
            for &k in &a {
                x.add(1e6 * 1.02f64.powi(k as i32));
            }
            for &k in &b {
                y.add(1e6 * 1.02f64.powi(k as i32 + b_shift));
            }
            for _ in 0..zeroes {
                y.add(0.0);
            }
            let want = reference_quantiles(&[&x, &y], &qs);
            let mut two = vec![None; qs.len()];
            merged_quantiles([&x, &y], &qs, &mut two);
            proptest::prop_assert_eq!(&two, &want);
            let mut one = vec![None; qs.len()];
            merged_quantiles([&x], &qs, &mut one);
            proptest::prop_assert_eq!(one, reference_quantiles(&[&x], &qs));
        }
    }

    #[test]
    fn quantiles_of_two_sketches_equal_those_of_their_merge() {
        // Disjoint, overlapping, nested and empty ranges of bins, and zeroes.
        let mut rng = SmallRng::seed_from_u64(9);
        let ranges = [
            ((1e3, 1e5), (1e7, 1e9)),
            ((1e3, 1e7), (1e5, 1e9)),
            ((1e3, 1e9), (1e5, 1e6)),
            ((1e4, 1e6), (0.0, 0.0)),
        ];
        for ((a_lo, a_hi), (b_lo, b_hi)) in ranges {
            for n in [0usize, 1, 7, 500] {
                let mut a = QuantileSketch::default();
                let mut b = QuantileSketch::default();
                for i in 0..n {
                    a.add(rng.gen_range(a_lo..a_hi));
                    if b_hi > 0.0 {
                        b.add(rng.gen_range(b_lo..b_hi));
                    }
                    if i % 50 == 0 {
                        b.add(0.0);
                    }
                }
                let mut merged = a.clone();
                merged.merge(&b);
                let qs = [0.0, 0.01, 0.25, 0.5, 0.95, 0.99, 1.0];
                let mut two = [None; 7];
                merged_quantiles([&a, &b], &qs, &mut two);
                let mut one = [None; 7];
                merged.quantiles(&qs, &mut one);
                assert_eq!(
                    two, one,
                    "a in {a_lo}..{a_hi}, b in {b_lo}..{b_hi}, n = {n}"
                );
            }
        }
    }
}
