//! Streaming CSV: a file is cut into batches at line ends that lie outside quotes, and each batch
//! is parsed by polars' `CsvReader` (on every core) with the columns the header fixed. Memory is a
//! batch or two whatever the file's size. polars 0.55 has no eager batched reader any more (its
//! streaming engine is the lazy API's), so the cutting is done here and the parsing is polars'.
//! The dataset import (`ingest`) reads bars this way, and the research import reads any table.
use super::source::Loaded;
use polars::prelude::*;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// The rows a file will have, estimated from the rows in its first `consumed` of `size` bytes
/// (exact once everything is read).
pub fn estimate_rows(rows: u64, consumed: u64, size: u64) -> u64 {
    if consumed >= size || consumed == 0 {
        rows
    } else {
        rows.max((rows as u128 * size as u128 / consumed as u128) as u64)
    }
}

/// Bytes per batch: large enough for polars to spread over the cores, small enough to stay flat.
pub const BATCH_BYTES: usize = 8 << 20;

/// A CSV file read a batch of whole lines at a time, after its header.
pub struct CsvBatches {
    file: std::fs::File,
    /// The header's cells, trimmed (a BOM dropped).
    pub header: Vec<String>,
    /// Bytes after the header, and how many of them the batches so far hold: a progress total
    /// is estimated from them (counting lines first would read the file twice).
    pub size: u64,
    pub consumed: u64,
    carry: Vec<u8>,
    batch_bytes: usize,
    /// The batch size asked for (a long line grows `batch_bytes` for its batch only).
    base_bytes: usize,
    eof: bool,
}

/// The last line end of `buf` outside quoted fields (a line start is always outside). A quote
/// opens a field only at the field's start (`5" screen` is plain text), and `""` inside one is
/// a quote character.
fn last_line_end(buf: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut field_start = true;
    let mut last = None;
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        if quoted {
            if b == b'"' {
                if buf.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
            field_start = false;
        } else {
            match b {
                b'"' if field_start => quoted = true,
                b'\n' => last = Some(i),
                _ => {}
            }
            field_start = matches!(b, b',' | b'\n' | b'\r');
        }
        i += 1;
    }
    last
}

impl CsvBatches {
    pub fn open(mut file: std::fs::File, batch_bytes: usize) -> anyhow::Result<Self> {
        file.seek(SeekFrom::Start(0))?;
        // the header: the first line (it may not hold a quoted line break)
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        let mut reader = std::io::BufReader::with_capacity(64 << 10, &mut file);
        loop {
            if reader.read(&mut byte)? == 0 || byte[0] == b'\n' {
                break;
            }
            head.push(byte[0]);
            if head.len() > 1 << 20 {
                anyhow::bail!("the first line is longer than 1 MiB: is this a CSV file?");
            }
        }
        let text = String::from_utf8_lossy(&head);
        let text = text.trim_start_matches('\u{feff}').trim_end_matches('\r');
        let header = if text.trim().is_empty() {
            Vec::new()
        } else {
            super::source::header_cells(text)
        };
        drop(reader);
        let start = head.len() as u64 + 1;
        let size = file.metadata()?.len().saturating_sub(start);
        file.seek(SeekFrom::Start(start))?;
        Ok(CsvBatches {
            file,
            header,
            size,
            consumed: 0,
            carry: Vec::new(),
            batch_bytes: batch_bytes.max(1024),
            base_bytes: batch_bytes.max(1024),
            eof: false,
        })
    }

    /// The next batch of whole lines, or None at the end.
    pub fn next_batch(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            if self.eof {
                let rest = std::mem::take(&mut self.carry);
                self.consumed = self.size;
                return Ok((!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest));
            }
            let mut buf = std::mem::take(&mut self.carry);
            let have = buf.len();
            buf.resize(have + self.batch_bytes, 0);
            let mut filled = have;
            while filled < buf.len() {
                let n = self.file.read(&mut buf[filled..])?;
                if n == 0 {
                    self.eof = true;
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            if self.eof {
                self.carry = buf;
                continue;
            }
            match last_line_end(&buf) {
                Some(end) => {
                    self.carry = buf[end + 1..].to_vec();
                    buf.truncate(end + 1);
                    self.consumed += buf.len() as u64;
                    self.batch_bytes = self.base_bytes;
                    return Ok(Some(buf));
                }
                // one line longer than a batch (or an open quote): read on
                None => {
                    if buf.len() > 512 << 20 {
                        anyhow::bail!("a line is longer than 512 MiB (an unclosed quote?)");
                    }
                    self.carry = buf;
                    self.batch_bytes *= 2;
                }
            }
        }
    }
}

/// A parsed batch and the bytes of the file read up to its end (for a progress estimate).
pub type Parsed<T> = anyhow::Result<(T, u64)>;

/// Parses `batches` with `parse` on a thread of its own, one batch ahead of `consume`, which gets
/// them in order through a channel of one (memory: the batch parsed and the one consumed). A
/// parse error is the last thing sent; `consume` dropping the receiver stops the parser.
pub fn parse_ahead<T: Send, R>(
    mut batches: CsvBatches,
    mut parse: impl FnMut(Vec<u8>) -> anyhow::Result<T> + Send,
    consume: impl FnOnce(std::sync::mpsc::Receiver<Parsed<T>>) -> R,
) -> R {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Parsed<T>>(1);
    std::thread::scope(|s| {
        s.spawn(move || {
            loop {
                let next = match batches.next_batch() {
                    Ok(Some(bytes)) => parse(bytes).map(|t| (t, batches.consumed)),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = next.is_err();
                if tx.send(next).is_err() || failed {
                    return;
                }
            }
        });
        consume(rx)
    })
}

fn read_frame(
    bytes: &[u8],
    schema: Option<SchemaRef>,
    projection: Option<Vec<usize>>,
    lenient: bool,
) -> PolarsResult<DataFrame> {
    read_frame_inferring(bytes, schema, projection, lenient, Some(10_000))
}

fn read_frame_inferring(
    bytes: &[u8],
    schema: Option<SchemaRef>,
    projection: Option<Vec<usize>>,
    lenient: bool,
    infer_rows: Option<usize>,
) -> PolarsResult<DataFrame> {
    let mut opts = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(schema)
        .with_infer_schema_length(infer_rows)
        .with_ignore_errors(lenient)
        .with_raise_if_empty(false)
        .with_parse_options(CsvParseOptions::default().with_truncate_ragged_lines(true));
    if let Some(p) = projection {
        opts = opts.with_projection(Some(Arc::new(p)));
    }
    opts.into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()
}

/// The mapped bar columns of one batch (no header), as `source::load` reads a whole file.
pub fn bars_batch(
    bytes: Vec<u8>,
    ts: usize,
    fields: [Option<usize>; 5],
    width: usize,
    tz: Option<chrono_tz::Tz>,
) -> anyhow::Result<Loaded> {
    let (schema, projection) = super::source::bar_columns(width, ts, fields);
    let df = read_frame(&bytes, Some(Arc::new(schema)), Some(projection), true)
        .map_err(|e| anyhow::anyhow!("cannot read the batch as CSV: {e}"))?;
    super::source::frame_bars(&df, ts, fields, tz)
}

/// One column of a research table batch, as SQLite will store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl Cells {
    /// The column's SQLite type.
    pub fn sql_type(&self) -> &'static str {
        match self {
            Cells::Int(_) => "INTEGER",
            Cells::Float(_) => "REAL",
            Cells::Text(_) => "TEXT",
        }
    }
}

/// The column types a table's first batch fixed (kept opaque: polars stays in this module).
#[derive(Clone)]
pub struct TableSchema(SchemaRef);

/// A batch of a table: one `Cells` per header column.
pub struct Table {
    pub columns: Vec<Cells>,
    pub rows: usize,
}

fn cells(col: &Column) -> anyhow::Result<Cells> {
    Ok(match col.dtype() {
        DataType::Int64 => Cells::Int(col.i64()?.iter().collect()),
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt32 | DataType::UInt8 => {
            Cells::Int(col.cast(&DataType::Int64)?.i64()?.iter().collect())
        }
        DataType::Boolean => Cells::Int(col.bool()?.iter().map(|b| b.map(i64::from)).collect()),
        DataType::Float64 | DataType::Float32 => {
            Cells::Float(col.cast(&DataType::Float64)?.f64()?.iter().collect())
        }
        DataType::String => Cells::Text(col.str()?.iter().map(|s| s.map(str::to_string)).collect()),
        _ => Cells::Text(
            col.cast(&DataType::String)?
                .str()?
                .iter()
                .map(|s| s.map(str::to_string))
                .collect(),
        ),
    })
}

fn table(df: &DataFrame, width: usize) -> anyhow::Result<Table> {
    let rows = df.height();
    let mut columns = Vec::with_capacity(width);
    for j in 0..width {
        match df.columns().get(j) {
            Some(c) => columns.push(cells(c)?),
            None => columns.push(Cells::Text(vec![None; rows])),
        }
    }
    Ok(Table { columns, rows })
}

/// The first batch of a table: its column types inferred (from up to 10,000 rows) and fixed.
pub fn first_table(bytes: Vec<u8>, width: usize) -> anyhow::Result<(TableSchema, Table)> {
    let mut schema = Schema::with_capacity(width);
    // types from the first 10,000 rows; if a later row of the batch does not fit them, from all
    let df = match read_frame(&bytes, None, None, false) {
        Ok(df) => df,
        Err(_) => read_frame_inferring(&bytes, None, None, false, None)
            .map_err(|e| anyhow::anyhow!("cannot read the CSV: {e}"))?,
    };
    for (j, c) in df.columns().iter().enumerate().take(width) {
        let dt = match c.dtype() {
            DataType::Int64 | DataType::Float64 | DataType::String | DataType::Boolean => {
                c.dtype().clone()
            }
            _ => DataType::String,
        };
        schema.with_column(format!("c{j}").into(), dt);
    }
    for j in df.width()..width {
        schema.with_column(format!("c{j}").into(), DataType::String);
    }
    let t = table(&df, width)?;
    Ok((TableSchema(Arc::new(schema)), t))
}

/// A later batch, read with the first batch's types; a batch that does not fit them (an integer
/// column that turns decimal, a `N/A` in a number column) is read as text, which the store
/// keeps as numbers where they are numbers (its columns' affinity) and as text where not.
pub fn next_table(bytes: Vec<u8>, schema: &TableSchema, width: usize) -> anyhow::Result<Table> {
    match read_frame(&bytes, Some(schema.0.clone()), None, false) {
        Ok(df) => table(&df, width),
        Err(_) => {
            let mut text = Schema::with_capacity(width);
            for j in 0..width {
                text.with_column(format!("c{j}").into(), DataType::String);
            }
            let df = read_frame(&bytes, Some(Arc::new(text)), None, false)
                .map_err(|e| anyhow::anyhow!("cannot read the CSV: {e}"))?;
            table(&df, width)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn batches_end_on_lines_outside_quotes() {
        let mut text = String::from("a,b\n");
        for i in 0..500 {
            text.push_str(&format!("{i},\"x\ny,{i}\"\n"));
        }
        let mut b = CsvBatches::open(file(&text), 1024).unwrap();
        assert_eq!(b.header, ["a", "b"]);
        let mut rows = 0;
        while let Some(batch) = b.next_batch().unwrap() {
            let (_, t) = first_table(batch, 2).unwrap();
            assert!(
                matches!(&t.columns[1], Cells::Text(v) if v.iter().all(|s| s.as_deref().unwrap().contains('\n')))
            );
            rows += t.rows;
        }
        assert_eq!(rows, 500);
    }

    #[test]
    fn a_quote_inside_a_plain_field_opens_nothing() {
        let buf = b"a,5\" screen\nb,\"x\"\"\ny\"\nc,d\n";
        // lines end at 11 (after `5" screen`), 21 (after the quoted `x""\ny`; 18 is inside it)
        // and 25
        assert_eq!(last_line_end(buf), Some(25));
        assert_eq!(last_line_end(&buf[..25]), Some(21));
        assert_eq!(last_line_end(&buf[..20]), Some(11));
    }

    #[test]
    fn types_are_inferred_then_kept_and_a_misfit_batch_reads_on() {
        let mut text = String::from("\u{feff}t,n,x,s\n");
        for i in 0..300 {
            text.push_str(&format!("{i},{i},{}.5,s{i}\n", i));
        }
        text.push_str("300,1.25,2,\n");
        let mut b = CsvBatches::open(file(&text), 2048).unwrap();
        assert_eq!(b.header, ["t", "n", "x", "s"]);
        assert_eq!(b.size, text.len() as u64 - "\u{feff}t,n,x,s\n".len() as u64);
        let (schema, first) = first_table(b.next_batch().unwrap().unwrap(), 4).unwrap();
        assert!(matches!(first.columns[1], Cells::Int(_)));
        assert!(matches!(first.columns[2], Cells::Float(_)));
        let mut last = None;
        while let Some(batch) = b.next_batch().unwrap() {
            last = Some(next_table(batch, &schema, 4).unwrap());
        }
        let last = last.unwrap();
        assert!(
            matches!(&last.columns[1], Cells::Text(v) if v.last() == Some(&Some("1.25".into())))
        );
        assert!(matches!(&last.columns[3], Cells::Text(v) if v.last() == Some(&None)));
    }
}
