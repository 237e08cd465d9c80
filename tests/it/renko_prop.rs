//! Property: the incremental price-to-Renko builder equals the plain reference implementation on
//! random walks, for all six sizes, and every brick's open and close lie on the box grid. The
//! walks are on tick grids of 1/4 (ES), 1/10, 1/32 (bonds), 1/100 and 1/3 (no decimal grid).
use brickdesk::engine::model::BrickSize;
use brickdesk::engine::renko::{RenkoBuilder, reference};
use proptest::prelude::*;

/// A random walk on a tick grid of `1/per_point` (prices `ticks / per_point`, so a price that is
/// a box level is exactly that level), around 4000–6000, steps of up to 12 points.
fn walk() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![Just(4i64), Just(10), Just(32), Just(100), Just(3)].prop_flat_map(|per_point| {
        (
            (4_000 * per_point)..(6_000 * per_point),
            prop::collection::vec(-12 * per_point..=12 * per_point, 1..600),
        )
            .prop_map(move |(start, steps)| {
                let mut ticks = start;
                let mut out = vec![ticks as f64 / per_point as f64];
                for s in steps {
                    ticks = (ticks + s).max(1);
                    out.push(ticks as f64 / per_point as f64);
                }
                out
            })
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
        use brickdesk::engine::model::Color;
        for size in BrickSize::ALL {
            let b = size.points();
            let bricks = reference::bricks(b, &prices);
            for w in bricks.windows(2) {
                let ((o1, c1, col1, _), (o2, c2, col2, at)) = (w[0], w[1]);
                let up = col2 == Color::Green;
                prop_assert_eq!(c2 > o2, up, "the color says which way the brick went");
                prop_assert!(((c2 - o2).abs() - b).abs() < 1e-9, "one box: {} → {}", o2, c2);
                if col1 == col2 {
                    prop_assert_eq!(o2, c1, "a continuation starts at the last close");
                } else {
                    prop_assert_eq!(o2, o1, "a reversal starts at the last open");
                    // so its close is two boxes from the last close
                    prop_assert!(((c2 - c1).abs() - 2.0 * b).abs() < 1e-9, "{} → {}", c1, c2);
                }
                // and the price that made it got at least that far
                let p = prices[at];
                prop_assert!(if up { p >= c2 } else { p <= c2 }, "price {} did not reach {}", p, c2);
            }
        }
    }
}
