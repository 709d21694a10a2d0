//! Sketches over time and over groups: the sliding window that lets a baseline follow traffic,
//! and the bounded set of per-group baselines (see the parent module for the why).

use std::time::Duration;

use super::{
    merged_quantiles, nanos_f64, QuantileSketch, DEFAULT_MAX_BINS, DEFAULT_RELATIVE_ACCURACY,
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
    cache: Option<Cached>,
}

/// The last answer of [`WindowedSketch::quantiles`]. Computing quantiles walks every bin (a few
/// hundred for a wide distribution, about a microsecond), and the policy set asks once per trace;
/// the answer barely moves while the window grows by under 1/128 of its samples, so it is reused
/// until then (or until the window rotates). Baselines thus lag by at most 0.8% of the window's
/// traces, and groups under 128 samples are always exact.
#[derive(Clone, Debug)]
struct Cached {
    qs: [f64; CACHED_QUANTILES],
    values: [Option<f64>; CACHED_QUANTILES],
    len: usize,
    count: u64,
    start: Option<Duration>,
}

const CACHED_QUANTILES: usize = 4;

impl WindowedSketch {
    /// A sketch that remembers between `window / 2` and `window` of values.
    pub fn new(window: Duration, relative_accuracy: f64, max_bins: usize) -> WindowedSketch {
        WindowedSketch {
            current: QuantileSketch::new(relative_accuracy, max_bins),
            previous: QuantileSketch::new(relative_accuracy, max_bins),
            current_start: None,
            half: (window / 2).max(Duration::from_nanos(1)),
            cache: None,
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
        self.current.add(value);
    }

    /// The `q`-quantile of the values in the window at `now`.
    pub fn quantile(&mut self, now: Duration, q: f64) -> Option<f64> {
        let mut out = [None];
        self.quantiles(now, &[q], &mut out);
        out[0]
    }

    /// Several quantiles of the window at `now`, into `out` (parallel to `qs`), in one pass.
    /// Answers may be reused while the window grows by under 1/128 of its samples.
    pub fn quantiles(&mut self, now: Duration, qs: &[f64], out: &mut [Option<f64>]) {
        self.advance(now);
        let count = self.current.count() + self.previous.count();
        if let Some(c) = &self.cache {
            let fresh = c.start == self.current_start
                && count >= c.count
                && count - c.count <= c.count / 128;
            let cached = &c.qs[..c.len];
            if fresh && qs.iter().all(|q| cached.contains(q)) {
                for (q, o) in qs.iter().zip(out.iter_mut()) {
                    *o = cached.iter().position(|c| c == q).and_then(|i| c.values[i]);
                }
                return;
            }
        }
        merged_quantiles([&self.current, &self.previous], qs, out);
        let len = qs.len().min(out.len());
        if len <= CACHED_QUANTILES {
            let mut cached = Cached {
                qs: [f64::NAN; CACHED_QUANTILES],
                values: [None; CACHED_QUANTILES],
                len,
                count,
                start: self.current_start,
            };
            cached.qs[..len].copy_from_slice(&qs[..len]);
            cached.values[..len].copy_from_slice(&out[..len]);
            self.cache = Some(cached);
        }
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
            *o = v.map(|v| Duration::from_nanos(v.round() as u64));
        }
    }
    samples
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
    fn cached_quantiles_lag_by_under_one_128th_of_the_window() {
        let mut w = WindowedSketch::new(Duration::from_secs(300), 0.01, 1024);
        let now = Duration::from_secs(1);
        for _ in 0..1280 {
            w.add(now, 1e6);
        }
        assert_eq!(w.quantile(now, 0.99), Some(1e6));
        // Ten more (under 1280/128) much larger values: the cached answer stands.
        for _ in 0..10 {
            w.add(now, 1e9);
        }
        assert_eq!(w.quantile(now, 0.99), Some(1e6));
        // Another quantile, the eleventh value, or a rotation: recomputed.
        w.add(now, 1e9);
        let p = w.quantile(now, 0.999).unwrap();
        assert!((p / 1e9 - 1.0).abs() <= 0.01, "got {p}");
        // Small windows are always exact.
        let mut small = WindowedSketch::new(Duration::from_secs(300), 0.01, 1024);
        small.add(now, 1.0);
        assert_eq!(small.quantile(now, 0.5), Some(1.0));
        small.add(now, 100.0);
        small.add(now, 100.0);
        assert!((small.quantile(now, 0.5).unwrap() / 100.0 - 1.0).abs() <= 0.01);
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
