//! Comparison throughput: 1M bars × 5 series (Python vs Pine), compared values per second; beside
//! the peer, a plain zipped loop doing the same tolerance test without alignment or bookkeeping.
use brickdesk::engine::runs::compare::{Series, compare_pair};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let n = 1_000_000;
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| 1_700_000_000_000 + i * 60_000)
        .collect();
    let series: Vec<(Vec<f64>, Series)> = (0..5)
        .map(|k| {
            let py: Vec<f64> = (0..n)
                .map(|i| 700.0 + ((i * (k + 3)) % 97) as f64 * 0.01)
                .collect();
            let mut pine = py.clone();
            pine[n / 2] += 1.0; // one mismatch each
            (
                py,
                Series {
                    name: format!("s{k}"),
                    is_bool: false,
                    ts: ts.clone(),
                    values: pine,
                },
            )
        })
        .collect();
    let mut g = c.benchmark_group("compare 1M bars x 5 series");
    g.throughput(Throughput::Elements(5 * n as u64));
    g.sample_size(20);
    g.bench_function("brickdesk compare_pair", |b| {
        b.iter(|| {
            let total: usize = series
                .iter()
                .map(|(py, pine)| {
                    compare_pair(&pine.name, &ts, py, pine, false, 1e-3, 100).mismatch_count
                })
                .sum();
            assert_eq!(total, 5);
            black_box(total)
        })
    });
    g.bench_function("peer: plain zipped loop", |b| {
        b.iter(|| {
            let total: usize = series
                .iter()
                .map(|(py, pine)| {
                    py[100..]
                        .iter()
                        .zip(&pine.values[100..])
                        .filter(|(a, b)| (**a - **b).abs() > 1e-3)
                        .count()
                })
                .sum();
            black_box(total)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
