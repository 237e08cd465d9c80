//! The dataset's on-disk form: one raw little-endian file per column (`timestamp.i64` as UTC epoch
//! ms, `open.f64`, …) and `meta.json`. Any language maps them without parsing (numpy.fromfile).
use super::Bars;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;

fn write_col<T: Copy>(
    dir: &Path,
    name: &str,
    vals: &[T],
    to_le: impl Fn(T) -> [u8; 8],
) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(vals.len() * 8);
    for &v in vals {
        buf.extend_from_slice(&to_le(v));
    }
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&buf)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// Writes every column durably; a half-written dataset never looks complete (meta.json last).
pub fn write(dir: &Path, bars: &Bars) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_col(dir, "timestamp.i64", &bars.ts, i64::to_le_bytes)?;
    for (name, col) in [
        ("open", &bars.open),
        ("high", &bars.high),
        ("low", &bars.low),
        ("close", &bars.close),
        ("volume", &bars.volume),
    ] {
        write_col(dir, &format!("{name}.f64"), col, f64::to_le_bytes)?;
    }
    let meta = serde_json::json!({ "rows": bars.len(), "format": 1, "columns": super::COLUMNS });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    Ok(())
}

fn read_col<T>(
    dir: &Path,
    name: &str,
    rows: usize,
    from_le: impl Fn([u8; 8]) -> T,
) -> anyhow::Result<Vec<T>> {
    let bytes =
        std::fs::read(dir.join(name)).with_context(|| format!("dataset file {name} is missing"))?;
    if bytes.len() != rows * 8 {
        bail!(
            "dataset file {name} has {} bytes, expected {}",
            bytes.len(),
            rows * 8
        );
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| from_le(c.try_into().expect("8 bytes")))
        .collect())
}

pub fn read(dir: &Path) -> anyhow::Result<Bars> {
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("meta.json")).context("dataset meta.json is missing")?,
    )?;
    let rows = meta["rows"].as_u64().context("meta.json has no rows")? as usize;
    Ok(Bars {
        ts: read_col(dir, "timestamp.i64", rows, i64::from_le_bytes)?,
        open: read_col(dir, "open.f64", rows, f64::from_le_bytes)?,
        high: read_col(dir, "high.f64", rows, f64::from_le_bytes)?,
        low: read_col(dir, "low.f64", rows, f64::from_le_bytes)?,
        close: read_col(dir, "close.f64", rows, f64::from_le_bytes)?,
        volume: read_col(dir, "volume.f64", rows, f64::from_le_bytes)?,
    })
}
