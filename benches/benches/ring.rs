//! Ring routing: the hash of a trace id and its owner on a consistent-hash ring (8 shards, as
//! the engine builds on this machine; 64 peers, as a large deployment might).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tailsift::{Ring, TraceId};
use tailsift_benches::workloads::mix;

mod common;

fn ids(n: usize) -> Vec<TraceId> {
    (0..n as u128).map(|i| TraceId::from_u128(mix(i))).collect()
}

fn ring_of(owners: usize) -> Ring<usize> {
    let mut ring = Ring::new();
    for i in 0..owners {
        // Distinct owners: adding cannot fail.
        let _ = ring.add(i, 1);
    }
    ring
}

fn routing(c: &mut Criterion) {
    let ids = ids(1024);
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(ids.len() as u64));
    group.bench_function("hash64", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for id in &ids {
                acc ^= black_box(id).hash64();
            }
            acc
        })
    });
    for owners in [8usize, 64] {
        let ring = ring_of(owners);
        group.bench_function(format!("owner/{owners}_owners"), |b| {
            b.iter(|| {
                let mut acc = 0usize;
                for id in &ids {
                    acc ^= ring.owner(black_box(id)).copied().unwrap_or(0);
                }
                acc
            })
        });
    }
    group.finish();

    let mut build = c.benchmark_group("ring_build");
    for owners in [8usize, 64] {
        build.bench_function(format!("add_{owners}_owners"), |b| {
            b.iter(|| ring_of(black_box(owners)))
        });
        // What `Engine::build` does: every owner at once, one rebuild.
        build.bench_function(format!("from_owners_{owners}"), |b| {
            b.iter(|| Ring::from_owners((0..black_box(owners)).map(|i| (i, 1))))
        });
    }
    build.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = routing
}
criterion_main!(benches);
