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

/// A trace's view as policies see it, built outside the timed loop.
// Each bench binary compiles this module and not every one uses every helper.
#[allow(dead_code)]
pub fn view(spans: &[tailsift::Span]) -> tailsift::TraceView<'_> {
    tailsift::TraceView::new(
        spans[0].trace_id,
        spans,
        tailsift::TraceFlags::default(),
        Duration::from_secs(60),
    )
}

/// Benches `policy` over every trace of `traces`: views are built outside the timed loop;
/// facts they compute lazily (the critical path) are computed inside it, once per view, as in
/// the engine.
// Each bench binary compiles this module and not every one uses every helper.
#[allow(dead_code)]
pub fn bench_per_trace(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    policy: &dyn tailsift::Policy,
    traces: &[Vec<tailsift::Span>],
) {
    group.bench_function(name, |b| {
        b.iter_batched_ref(
            || traces.iter().map(|t| view(t)).collect::<Vec<_>>(),
            |views| {
                for v in views.iter() {
                    let _ = std::hint::black_box(policy.evaluate(v));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
}
