//! Renko builder throughput: prices/s through all six sizes at once, beside the plain reference
//! implementation (the peer) on the same random walk.
use brickdesk::engine::model::BrickSize;
use brickdesk::engine::renko::{RenkoBuilder, reference};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use std::hint::black_box;

fn walk(n: usize) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut ticks: i64 = 20_000;
    (0..n)
        .map(|_| {
            ticks += rng.random_range(-8..=8);
            ticks as f64 * 0.25
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let prices = walk(1_000_000);
    let mut g = c.benchmark_group("renko_six_sizes");
    g.throughput(Throughput::Elements(prices.len() as u64));
    g.sample_size(20);
    g.bench_with_input(
        BenchmarkId::new("builder", "1M prices"),
        &prices,
        |b, prices| {
            b.iter(|| {
                let mut builders: Vec<RenkoBuilder> = BrickSize::ALL
                    .iter()
                    .map(|s| RenkoBuilder::new(s.points()))
                    .collect();
                let mut out = Vec::with_capacity(1024);
                let mut n = 0usize;
                for (i, &p) in prices.iter().enumerate() {
                    for bld in builders.iter_mut() {
                        bld.push_into(p, i as i64, &mut out);
                    }
                    if out.len() > 512 {
                        n += out.len();
                        out.clear();
                    }
                }
                black_box(n + out.len())
            })
        },
    );
    g.bench_with_input(
        BenchmarkId::new("reference", "1M prices"),
        &prices,
        |b, prices| {
            b.iter(|| {
                let n: usize = BrickSize::ALL
                    .iter()
                    .map(|s| reference::bricks(s.points(), prices).len())
                    .sum();
                black_box(n)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
