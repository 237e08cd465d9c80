//! `brickdesk import FILE`: a CSV or xlsx file in as a dataset (mapping inferred, issues listed),
//! with a staged progress bar on stderr and the registered dataset on stdout.
use super::wiring;
use crate::config::Config;
use crate::engine::datasets::{self, COLUMNS, SourceConfig};
use crate::services::research::{self, ingest};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ImportArgs {
    file: PathBuf,
    /// Dataset name (default: the file name)
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    symbol: Option<String>,
    #[arg(long)]
    timeframe: Option<String>,
    /// Timezone of naive timestamps in the file (IANA name); default UTC
    #[arg(long)]
    timezone: Option<String>,
    /// Worksheet of an xlsx file (default: the first)
    #[arg(long)]
    sheet: Option<String>,
    /// Column for a field, e.g. --map timestamp=dt --map close=Last (repeatable)
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    map: Vec<String>,
}

pub fn run(cfg: Config, args: ImportArgs) -> anyhow::Result<()> {
    let src = source(args)?;
    wiring::tokio_main(import(cfg, src))
}

/// The dataset source the flags describe (checked before anything is read).
fn source(args: ImportArgs) -> anyhow::Result<SourceConfig> {
    let mut mapping = serde_json::Map::new();
    for m in &args.map {
        let (k, v) = m
            .split_once('=')
            .with_context(|| format!("--map {m:?}: write FIELD=COLUMN"))?;
        if !COLUMNS.contains(&k) {
            anyhow::bail!("--map {m:?}: the field must be one of {COLUMNS:?}");
        }
        mapping.insert(k.into(), v.into());
    }
    let file = &args.file;
    let abs = std::path::absolute(file)?;
    let name = args.name.unwrap_or_else(|| {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(serde_json::from_value(serde_json::json!({
        "type": "auto", "name": name, "file_path": abs, "symbol": args.symbol,
        "timeframe": args.timeframe, "timezone": args.timezone, "mapping": mapping,
        "extra": { "sheet": args.sheet },
    }))?)
}

/// Streams the file into its dataset (columnar files and measurements) off the async threads,
/// then registers it with the desk.
async fn import(cfg: Config, src: SourceConfig) -> anyhow::Result<()> {
    let bar = Progress::start();
    let data_dir = cfg.data_dir();
    bar.show(0, 0, "sampling and mapping columns");
    // the engine first: it makes the data dir, the operator's alone
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let desk_db = engine
        .reader()
        .path()
        .context("the desk store has no file")?;
    let research_db = research::db_path(&desk_db);
    let (src2, dir) = (src.clone(), data_dir.clone());
    let (ingested, bar) = tokio::task::spawn_blocking(move || {
        let made = ingest::csv(
            &research_db,
            &dir,
            &src2,
            &datasets::files::FilePolicy::anywhere(u64::MAX),
            &mut |done, total| bar.show(done, total, "rows"),
        );
        (made, bar)
    })
    .await?;
    let result = match ingested {
        Ok((p, Some(meta))) => {
            bar.show(1, 1, "registering");
            let meta = engine.call(move |e| e.register_dataset(meta)).await?;
            let n = meta.row_count;
            bar.show(1, 1, &format!("{n}/{n} rows imported"));
            Ok((p, Some(meta)))
        }
        other => other,
    };
    drop(engine);
    thread.join().ok();
    let (p, meta) = result?;
    if bar.tty {
        eprintln!();
    }
    for i in &p.issues {
        eprintln!(
            "{:>7} {:<24} {}",
            format!("{:?}", i.severity).to_lowercase(),
            i.code,
            i.message
        );
    }
    match meta {
        Some(meta) => {
            println!(
                "{}  {} rows  {}  ({:.1}s)",
                meta.dataset_id,
                meta.row_count,
                meta.data_path,
                bar.started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        None => anyhow::bail!(
            "{} cannot be imported (see the issues above)",
            src.file_path.unwrap_or_default()
        ),
    }
}

/// The progress bar: rows read of the file's rows, redrawn in place on a terminal (at most every
/// 200 ms), one line per tenth otherwise.
struct Progress {
    started: Instant,
    tty: bool,
    /// The step last drawn.
    last: std::cell::Cell<u64>,
}

impl Progress {
    fn start() -> Progress {
        Progress {
            started: Instant::now(),
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            last: std::cell::Cell::new(u64::MAX),
        }
    }

    fn show(&self, done: u64, total: u64, what: &str) {
        let filled = (super::BAR_CELLS as u64 * done.min(total))
            .checked_div(total)
            .unwrap_or(0) as usize;
        // a terminal redraws every 200 ms; a log gets a line per tenth
        let step = if self.tty {
            self.started.elapsed().as_millis() as u64 / 200
        } else {
            (done * 10).checked_div(total).unwrap_or(0)
        };
        if self.last.replace(step) == step && done < total {
            return;
        }
        let text = if what == "rows" {
            format!("{done}/{total} rows")
        } else {
            what.to_string()
        };
        super::show_progress(self.tty, filled, &text, self.started);
    }
}
