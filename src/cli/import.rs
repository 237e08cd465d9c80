//! `brickdesk import FILE`: a CSV or xlsx file in as a dataset (mapping inferred, issues listed),
//! with a staged progress bar on stderr and the registered dataset on stdout.
use super::wiring;
use crate::config::Config;
use crate::engine::datasets::{self, COLUMNS, DatasetMeta, Prepared, STAGES, SourceConfig};
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

/// Prepares the file off the async threads, then persists and registers it if it has bars.
async fn import(cfg: Config, src: SourceConfig) -> anyhow::Result<()> {
    let bar = Progress::start();
    let src2 = src.clone();
    let p = tokio::task::spawn_blocking(move || {
        datasets::prepare_with_progress(
            &src2,
            &datasets::files::FilePolicy::anywhere(u64::MAX),
            &mut |k| bar.show(k, STAGES[k]),
        )
    })
    .await??;
    let result = if p.bars.is_some() {
        Some(register(&cfg, &src, &p, bar).await?)
    } else {
        None
    };
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
    match result {
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

/// Writes the columns into the data dir and registers the dataset with the engine.
async fn register(
    cfg: &Config,
    src: &SourceConfig,
    p: &Prepared,
    bar: Progress,
) -> anyhow::Result<DatasetMeta> {
    let data_dir = cfg.data_dir();
    bar.show(bar.total - 1, "writing columns and registering");
    // the engine first: it makes the data dir, the operator's alone
    let (engine, thread) = wiring::start_engine(cfg, &data_dir, wiring::system_clock())?;
    let meta = datasets::persist(&data_dir, src, p, chrono::Utc::now())?;
    let meta = engine.call(move |e| e.register_dataset(meta)).await?;
    drop(engine);
    thread.join().ok();
    bar.show(bar.total, "imported");
    Ok(meta)
}

/// The staged progress bar: redrawn in place on a terminal, one line per stage otherwise.
#[derive(Clone, Copy)]
struct Progress {
    started: Instant,
    tty: bool,
    /// The preparing stages, then writing and registering.
    total: usize,
}

impl Progress {
    fn start() -> Progress {
        Progress {
            started: Instant::now(),
            tty: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            total: STAGES.len() + 1,
        }
    }

    fn show(&self, k: usize, what: &str) {
        let total = self.total;
        let filled = super::BAR_CELLS * k / total;
        super::show_progress(
            self.tty,
            filled,
            &format!("{k}/{total} {what}"),
            self.started,
        );
    }
}
