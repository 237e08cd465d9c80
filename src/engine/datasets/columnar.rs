//! The dataset's on-disk form: one raw little-endian file per column (`timestamp.i64` as UTC epoch
//! ms, `open.f64`, …) and `meta.json`. Any language maps them without parsing (numpy.fromfile).
use super::Bars;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;

/// The column's bytes as stored: little-endian 8-byte values (the in-memory layout on
/// little-endian targets, so no copy is made there).
fn le_bytes<T: Copy + ToLe>(vals: &[T]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: i64/f64 are plain 8-byte values with no padding; the slice is borrowed as bytes.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(vals.as_ptr().cast::<u8>(), std::mem::size_of_val(vals))
        })
    } else {
        std::borrow::Cow::Owned(vals.iter().flat_map(|v| v.to_le()).collect())
    }
}

trait ToLe {
    fn to_le(self) -> [u8; 8];
}
impl ToLe for i64 {
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}
impl ToLe for f64 {
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
}

fn write_col(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// Writes every column durably, in parallel; a half-written dataset never looks complete
/// (meta.json is written last).
pub fn write(dir: &Path, bars: &Bars) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cols: Vec<(&str, std::borrow::Cow<'_, [u8]>)> = vec![
        ("timestamp.i64", le_bytes(&bars.ts)),
        ("open.f64", le_bytes(&bars.open)),
        ("high.f64", le_bytes(&bars.high)),
        ("low.f64", le_bytes(&bars.low)),
        ("close.f64", le_bytes(&bars.close)),
        ("volume.f64", le_bytes(&bars.volume)),
    ];
    std::thread::scope(|s| {
        let handles: Vec<_> = cols
            .iter()
            .map(|(name, bytes)| s.spawn(move || write_col(dir, name, bytes)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("writer thread panicked")))
        })
    })?;
    let meta = serde_json::json!({ "rows": bars.len(), "format": 1, "columns": super::COLUMNS });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    std::fs::File::open(dir)?.sync_all()?;
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

/// Writes one column of 8-byte values durably (`name` like `close.f64`).
pub fn write_f64(dir: &Path, name: &str, vals: &[f64]) -> anyhow::Result<()> {
    write_col(dir, name, &le_bytes(vals))
}

pub fn write_i64(dir: &Path, name: &str, vals: &[i64]) -> anyhow::Result<()> {
    write_col(dir, name, &le_bytes(vals))
}

pub fn read_f64(dir: &Path, name: &str, rows: usize) -> anyhow::Result<Vec<f64>> {
    read_col(dir, name, rows, f64::from_le_bytes)
}

pub fn read_i64(dir: &Path, name: &str, rows: usize) -> anyhow::Result<Vec<i64>> {
    read_col(dir, name, rows, i64::from_le_bytes)
}

/// The columns written as bars arrive (a streaming import): each file is complete, synced and
/// renamed into place, and `meta.json` written, only by `finish`.
pub struct ColumnWriter {
    dir: std::path::PathBuf,
    files: Vec<(&'static str, std::io::BufWriter<std::fs::File>)>,
    rows: usize,
}

const NAMES: [&str; 6] = [
    "timestamp.i64",
    "open.f64",
    "high.f64",
    "low.f64",
    "close.f64",
    "volume.f64",
];

impl ColumnWriter {
    pub fn create(dir: &Path) -> anyhow::Result<ColumnWriter> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let files = NAMES
            .iter()
            .map(|n| {
                let f = std::fs::File::create(dir.join(format!("{n}.tmp")))?;
                Ok((*n, std::io::BufWriter::with_capacity(1 << 20, f)))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(ColumnWriter {
            dir: dir.to_path_buf(),
            files,
            rows: 0,
        })
    }

    /// Appends bars (ms timestamps, then open, high, low, close, volume).
    pub fn push(&mut self, ts: &[i64], cols: [&[f64]; 5]) -> anyhow::Result<()> {
        self.files[0].1.write_all(&le_bytes(ts))?;
        for (k, c) in cols.iter().enumerate() {
            self.files[k + 1].1.write_all(&le_bytes(c))?;
        }
        self.rows += ts.len();
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<usize> {
        for (name, w) in self.files {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_data()?;
            std::fs::rename(self.dir.join(format!("{name}.tmp")), self.dir.join(name))?;
        }
        let meta = serde_json::json!({ "rows": self.rows, "format": 1, "columns": super::COLUMNS });
        std::fs::write(self.dir.join("meta.json"), meta.to_string())?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(self.rows)
    }
}
