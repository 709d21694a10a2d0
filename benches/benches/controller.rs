//! The controller's step: one interval's measure in, rates out. Four policies in priority
//! order, the last stratified into 50 strata (a busy shop's root operations).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tailsift::controller::{
    ControlParams, Controller, Demand, IntervalMeasure, PolicyMeasure, Shares,
};
use tailsift::Str;

mod common;

// The measure is still growing fields (another issue); the struct update keeps this bench
// compiling as it does, even while every field is spelled out.
#[allow(clippy::needless_update)]
fn measure(step: u64) -> IntervalMeasure {
    // Demand wobbles from interval to interval so the law has work to do.
    let wobble = 1.0 + 0.3 * ((step % 7) as f64 / 7.0);
    let demand = |traces: f64| Demand {
        traces: traces * wobble,
        spans: traces * 8.0 * wobble,
        bytes: traces * 8.0 * 220.0 * wobble,
    };
    let strata: Vec<(Str, Demand)> = (0..50)
        .map(|i| {
            (
                Str::from(format!("frontend|GET /route/{i}")),
                demand(10.0 * (1 + i * i) as f64),
            )
        })
        .collect();
    let total: Demand = strata.iter().fold(Demand::default(), |a, (_, d)| Demand {
        traces: a.traces + d.traces,
        spans: a.spans + d.spans,
        bytes: a.bytes + d.bytes,
    });
    let policy = |name: &str, d: Demand, strata: Vec<(Str, Demand)>| PolicyMeasure {
        name: Str::from(name),
        demand: d,
        strata,
        min_per_minute: 6.0,
        shares: Shares::default(),
    };
    IntervalMeasure {
        policies: vec![
            policy("errors", demand(300.0), Vec::new()),
            policy("slow", demand(500.0), Vec::new()),
            policy("critical", demand(200.0), Vec::new()),
            policy("representative", total, strata),
        ],
        kept_spans: 5_500.0 * wobble,
        kept_bytes: 5_500.0 * 220.0 * wobble,
        kept_traces: 700.0 * wobble,
        fraction: 1.0,
        // Fields the controller may grow take their defaults.
        ..IntervalMeasure::default()
    }
}

fn controller(c: &mut Criterion) {
    let measures: Vec<IntervalMeasure> = (0..64).map(measure).collect();
    let mut controller = Controller::new(ControlParams {
        spans_per_second: Some(500.0),
        bytes_per_second: Some(500.0 * 220.0),
        ..ControlParams::default()
    });
    let mut i = 0usize;
    c.bench_function("controller_step/4_policies_50_strata", |b| {
        b.iter(|| {
            i = (i + 1) % measures.len();
            black_box(controller.step(black_box(&measures[i])))
        })
    });
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = controller
}
criterion_main!(benches);
