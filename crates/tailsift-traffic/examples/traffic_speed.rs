//! Measures how fast the generator makes spans, and summarises what it made.
//!
//! `cargo run --release -p tailsift-traffic --example traffic_speed -- [anchor|mission] [seed]`

use std::collections::BTreeMap;
use std::time::Instant;

use tailsift_traffic::{AnchorConfig, MissionConfig, Workload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "mission".into());
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(42);
    let workload = match Workload::from_name(&name)? {
        // Large runs, so the timing means something.
        Workload::Anchor(_) => Workload::Anchor(AnchorConfig {
            traces: 200_000,
            ..AnchorConfig::default()
        }),
        Workload::Mission(_) => Workload::Mission(MissionConfig {
            duration: std::time::Duration::from_secs(600),
            ..MissionConfig::default()
        }),
    }
    .with_seed(seed);

    let started = Instant::now();
    let mut traffic = workload.traffic()?;
    let mut roots: BTreeMap<String, u64> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut critical = 0u64;
    let mut last = std::time::Duration::ZERO;
    for batch in traffic.by_ref() {
        last = batch.at;
        for truth in &batch.completed {
            *roots.entry(truth.root_operation.to_string()).or_default() += 1;
            *kinds.entry(truth.kind.as_str()).or_default() += 1;
            critical += u64::from(truth.critical_path);
        }
    }
    let elapsed = started.elapsed();
    let stats = traffic.stats();
    println!(
        "{name}: {} spans, {} traces, {} batches in {:.2?}: {:.2} M spans/s, {:.1} spans/trace",
        stats.spans,
        stats.traces,
        stats.batches,
        elapsed,
        stats.spans as f64 / elapsed.as_secs_f64() / 1e6,
        stats.spans as f64 / stats.traces.max(1) as f64,
    );
    println!(
        "simulated {:.1?}; late spans {}, malformed {}, critical-path traces {critical}",
        last, stats.late_spans, stats.malformed_spans
    );
    println!("kinds: {kinds:?}");
    for (root, count) in roots {
        println!("  {count:>8}  {root}");
    }
    for burst in traffic.error_bursts() {
        println!("burst: {burst:?}");
    }
    Ok(())
}
