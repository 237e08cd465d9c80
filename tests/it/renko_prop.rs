//! Property: the incremental price-to-Renko builder equals the plain reference implementation on
//! random walks, for all six sizes, and every brick's open and close lie on the box grid.
use brickdesk::engine::model::BrickSize;
use brickdesk::engine::renko::{RenkoBuilder, reference};
use proptest::prelude::*;

/// A random walk on the 0.25 tick grid, with occasional gaps of many ticks.
fn walk() -> impl Strategy<Value = Vec<f64>> {
    (
        16_000i64..24_000,
        prop::collection::vec(-48i64..=48, 1..600),
    )
        .prop_map(|(start, steps)| {
            let mut ticks = start;
            let mut out = vec![ticks as f64 * 0.25];
            for s in steps {
                ticks = (ticks + s).max(1);
                out.push(ticks as f64 * 0.25);
            }
            out
        })
}

fn on_grid(x: f64, b: f64) -> bool {
    ((x / b).round() * b - x).abs() < 1e-9
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn builder_matches_reference_for_all_six_sizes(prices in walk()) {
        for size in BrickSize::ALL {
            let b = size.points();
            let mut builder = RenkoBuilder::new(b);
            let mut got = Vec::new();
            for (i, p) in prices.iter().enumerate() {
                for brick in builder.push(*p, i as i64) {
                    got.push((brick.open, brick.close, brick.color, brick.ts as usize));
                }
            }
            let want = reference::bricks(b, &prices);
            prop_assert_eq!(&got, &want, "size {}", size.name());
            for (k, (open, close, _, _)) in got.iter().enumerate() {
                prop_assert!(on_grid(*open, b) && on_grid(*close, b), "brick {} off the {} grid: {} → {}", k, b, open, close);
                prop_assert!(((close - open).abs() - b).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn reversal_needs_two_boxes(prices in walk()) {
        for size in BrickSize::ALL {
            let bricks = reference::bricks(size.points(), &prices);
            for w in bricks.windows(2) {
                let ((o1, c1, col1, _), (o2, c2, col2, _)) = (w[0], w[1]);
                if col1 == col2 {
                    prop_assert_eq!(o2, c1, "a continuation starts at the last close");
                } else {
                    prop_assert_eq!(o2, o1, "a reversal starts at the last open");
                }
                let _ = c2;
            }
        }
    }
}
