//! `brickdesk renko FILE --size B`: the bricks of a price CSV as `index,timestamp,open,close,color`.
//! `close` is found in any case; the timestamp by name (`TS_NAMES`) or as an unnamed first column.
use crate::engine::datasets::source::split_csv_line as split;
use crate::engine::renko::RenkoBuilder;
use anyhow::{Context, bail};
use std::io::{BufRead, Write};
use std::path::PathBuf;

const TS_NAMES: [&str; 6] = ["timestamp", "time", "date", "datetime", "dt", "ts"];

/// The file and the box size.
#[derive(clap::Args)]
pub struct RenkoArgs {
    file: PathBuf,
    /// Box size in points
    #[arg(long)]
    size: f64,
}

pub fn run(args: RenkoArgs) -> anyhow::Result<()> {
    let f = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let stdout = std::io::stdout();
    write_bricks(std::io::BufReader::new(f), args.size, stdout.lock())?;
    Ok(())
}

/// Reads prices from `input` and writes the bricks to `out`; returns how many bricks.
pub fn write_bricks(
    input: impl BufRead,
    box_size: f64,
    mut out: impl Write,
) -> anyhow::Result<u64> {
    if !(box_size.is_finite() && box_size > 0.0) {
        bail!("--size must be a positive number of points (got {box_size})");
    }
    let mut lines = input.lines();
    let header = lines.next().context("the file is empty")??;
    let (ts, close) = columns(&header)?;
    let mut builder = RenkoBuilder::new(box_size);
    let mut bricks = Vec::new();
    writeln!(out, "index,timestamp,open,close,color")?;
    let mut count = 0;
    for (n, line) in lines.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let fields = split(&line);
        let row = n + 2;
        let raw = fields.get(close).map(|s| s.trim()).unwrap_or("");
        let price: f64 = raw
            .parse()
            .with_context(|| format!("line {row}: close {raw:?} is not a number"))?;
        let stamp = fields.get(ts).map(|s| s.trim()).unwrap_or("");
        bricks.clear();
        builder.push_into(price, row as i64, &mut bricks);
        for b in &bricks {
            writeln!(
                out,
                "{},{},{},{},{}",
                b.index,
                stamp,
                b.open,
                b.close,
                b.color.as_str()
            )?;
            count += 1;
        }
    }
    Ok(count)
}

/// The (timestamp, close) column indexes of the header line.
fn columns(header: &str) -> anyhow::Result<(usize, usize)> {
    let cols: Vec<String> = split(header)
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect();
    let close = cols
        .iter()
        .position(|c| c.eq_ignore_ascii_case("close"))
        .with_context(|| format!("no `close` column in header: {header}"))?;
    let ts = cols
        .iter()
        .position(|c| TS_NAMES.iter().any(|n| c.eq_ignore_ascii_case(n)))
        .or_else(|| cols.first().filter(|c| c.is_empty()).map(|_| 0))
        .with_context(|| {
            format!("no timestamp column (named one of {TS_NAMES:?}, or an unnamed first column) in header: {header}")
        })?;
    Ok((ts, close))
}
