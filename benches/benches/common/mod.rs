//! Settings every bench shares: short runs, because the benches run on a shared 2-core machine
//! (pass `--measurement-time` or `--quick` to criterion to change them).

use std::time::Duration;

use criterion::Criterion;

/// Criterion with short warm-up and measurement times.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}
