//! The one source of randomness: a seeded `SmallRng` and the few distributions the workloads
//! draw from. Nothing here reads the OS's entropy, so a seed fully determines the traffic.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tailsift::{SpanId, TraceId};

/// A seeded generator with the draws the workloads need.
pub(crate) struct Draw {
    rng: SmallRng,
}

impl Draw {
    /// A generator whose whole output `seed` determines.
    pub(crate) fn new(seed: u64) -> Draw {
        Draw {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A uniformly random, valid (non-zero) trace id: all 128 bits random, so the engine's
    /// sampling randomness (the low 56 bits) is uniform.
    pub(crate) fn trace_id(&mut self) -> TraceId {
        loop {
            let id = self.rng.gen::<u128>();
            if id != 0 {
                return TraceId::from_u128(id);
            }
        }
    }

    /// A uniformly random, valid (non-zero) span id.
    pub(crate) fn span_id(&mut self) -> SpanId {
        loop {
            let id = self.rng.gen::<u64>();
            if id != 0 {
                return SpanId::from_u64(id);
            }
        }
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform in `[low, high]` (`low` when the range is empty).
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            low
        } else {
            self.rng.gen_range(low..=high)
        }
    }

    /// Uniform index in `[0, len)`; `len` must be non-zero.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.rng.gen_range(0..len)
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded, which keeps the
    /// generator stateless and the sequence simple to reason about).
    pub(crate) fn standard_normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        let angle = std::f64::consts::TAU * self.unit();
        radius * angle.cos()
    }

    /// A log-normal draw with the given median and shape `sigma` (the standard deviation of
    /// the underlying normal): half the draws fall below `median`.
    pub(crate) fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.standard_normal()).exp()
    }

    /// An exponential draw with the given mean (inter-arrival times of a Poisson process).
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_normal_median_is_the_median() {
        let mut draw = Draw::new(7);
        let below = (0..20_000)
            .filter(|_| draw.log_normal(10.0, 0.8) < 10.0)
            .count();
        assert!(
            (9_400..10_600).contains(&below),
            "{below} of 20000 below the median"
        );
    }

    #[test]
    fn trace_id_randomness_is_uniform() {
        let mut draw = Draw::new(1);
        let mut quarters = [0u32; 4];
        for _ in 0..40_000 {
            let r = draw.trace_id().randomness();
            quarters[(r >> 54) as usize] += 1;
        }
        for q in quarters {
            assert!((9_400..10_600).contains(&q), "{quarters:?}");
        }
    }
}
