//! Column mapping: from names first (`dt`, `Date`, `time`, an unnamed first column, `o/h/l/c/v`,
//! any case), then from values (a column of timestamps; among numeric columns the one always on
//! top is `high`, always at the bottom `low`, the others `open` then `close` in file order).
use super::timeparse;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub timestamp: Option<String>,
    pub open: Option<String>,
    pub high: Option<String>,
    pub low: Option<String>,
    pub close: Option<String>,
    pub volume: Option<String>,
}

impl Mapping {
    pub fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("timestamp", &self.timestamp),
            ("open", &self.open),
            ("high", &self.high),
            ("low", &self.low),
            ("close", &self.close),
            ("volume", &self.volume),
        ]
    }

    /// Fields given explicitly win; the rest come from `inferred`.
    pub fn or(&self, inferred: &Mapping) -> Mapping {
        let pick = |a: &Option<String>, b: &Option<String>| {
            a.clone().filter(|s| !s.is_empty()).or_else(|| b.clone())
        };
        Mapping {
            timestamp: pick(&self.timestamp, &inferred.timestamp),
            open: pick(&self.open, &inferred.open),
            high: pick(&self.high, &inferred.high),
            low: pick(&self.low, &inferred.low),
            close: pick(&self.close, &inferred.close),
            volume: pick(&self.volume, &inferred.volume),
        }
    }
}

const TS_NAMES: [&str; 9] = [
    "timestamp",
    "datetime",
    "date_time",
    "date",
    "time",
    "dt",
    "ts",
    "t",
    "index",
];

fn by_name(columns: &[String], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        columns
            .iter()
            .find(|c| c.trim().eq_ignore_ascii_case(n))
            .cloned()
    })
}

fn unnamed(c: &str) -> bool {
    let c = c.trim().to_ascii_lowercase();
    c.is_empty() || c.starts_with("unnamed") || c == "column_1"
}

/// Infers the mapping from column names and the first rows (as text, `rows[i][j]` = row i, column j).
pub fn infer(columns: &[String], rows: &[Vec<String>]) -> Mapping {
    let col = |j: usize| {
        rows.iter()
            .filter_map(move |r| r.get(j))
            .map(String::as_str)
    };
    let mut m = Mapping {
        timestamp: by_name(columns, &TS_NAMES[..6]),
        open: by_name(columns, &["open", "o", "opening"]),
        high: by_name(columns, &["high", "h", "hi"]),
        low: by_name(columns, &["low", "l", "lo"]),
        close: by_name(
            columns,
            &["close", "c", "last", "price", "adj close", "adj_close"],
        ),
        volume: by_name(columns, &["volume", "v", "vol", "qty"]),
    };
    let parses_as_time = |j: usize| {
        let mut n = 0;
        col(j).all(|v| {
            n += 1;
            timeparse::parse(v).is_some()
        }) && n > 0
    };
    if m.timestamp.is_none() {
        // an unnamed first column (a pandas index), then `ts`/`t`, then any column of timestamps
        m.timestamp = columns
            .first()
            .filter(|c| unnamed(c) && parses_as_time(0))
            .cloned()
            .or_else(|| {
                by_name(columns, &TS_NAMES[6..]).filter(|c| {
                    columns
                        .iter()
                        .position(|x| x == c)
                        .is_some_and(parses_as_time)
                })
            })
            .or_else(|| {
                (0..columns.len())
                    .find(|&j| parses_as_time(j))
                    .map(|j| columns[j].clone())
            });
    }
    if m.open.is_none() || m.high.is_none() || m.low.is_none() || m.close.is_none() {
        from_values(columns, rows, &mut m);
    }
    m
}

/// Fills missing OHLC fields from numeric columns by their relations.
fn from_values(columns: &[String], rows: &[Vec<String>], m: &mut Mapping) {
    let taken: Vec<String> = m
        .fields()
        .iter()
        .filter_map(|(_, v)| (*v).clone())
        .collect();
    let numeric: Vec<usize> = (0..columns.len())
        .filter(|&j| !taken.contains(&columns[j]))
        .filter(|&j| {
            let vals: Vec<Option<f64>> = rows
                .iter()
                .map(|r| r.get(j).and_then(|v| v.trim().parse().ok()))
                .collect();
            !vals.is_empty() && vals.iter().all(Option::is_some)
        })
        .collect();
    let val = |i: usize, j: usize| rows[i][j].trim().parse::<f64>().unwrap_or(f64::NAN);
    let always = |j: usize, top: bool| {
        numeric.iter().filter(|&&k| k != j).take(3).all(|&k| {
            (0..rows.len()).all(|i| {
                if top {
                    val(i, j) >= val(i, k)
                } else {
                    val(i, j) <= val(i, k)
                }
            })
        })
    };
    // four price-like columns: high on top, low at the bottom, open and close in file order
    if numeric.len() >= 4 {
        let prices = &numeric[..4];
        let high = prices.iter().copied().find(|&j| always(j, true));
        let low = prices.iter().copied().find(|&j| always(j, false));
        if let (Some(h), Some(l)) = (high, low)
            && h != l
        {
            let rest: Vec<usize> = prices
                .iter()
                .copied()
                .filter(|&j| j != h && j != l)
                .collect();
            m.high.get_or_insert_with(|| columns[h].clone());
            m.low.get_or_insert_with(|| columns[l].clone());
            m.open.get_or_insert_with(|| columns[rest[0]].clone());
            m.close.get_or_insert_with(|| columns[rest[1]].clone());
            if let Some(&v) = numeric.get(4) {
                m.volume.get_or_insert_with(|| columns[v].clone());
            }
        }
    } else if m.close.is_none() && numeric.len() == 1 {
        m.close = Some(columns[numeric[0]].clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_in_any_case_and_the_seed_example() {
        let m = infer(&s(&["t", "o", "h", "l", "c", "v", "dt"]), &[]);
        assert_eq!(m.timestamp.as_deref(), Some("dt"));
        assert_eq!(
            (m.open.as_deref(), m.high.as_deref(), m.low.as_deref()),
            (Some("o"), Some("h"), Some("l"))
        );
        assert_eq!(
            (m.close.as_deref(), m.volume.as_deref()),
            (Some("c"), Some("v"))
        );
        let m = infer(&s(&["Date", "Open", "HIGH", "low", "Close", "Volume"]), &[]);
        assert_eq!(m.timestamp.as_deref(), Some("Date"));
        assert_eq!(m.high.as_deref(), Some("HIGH"));
    }

    #[test]
    fn unnamed_index_and_relations_from_values() {
        let cols = s(&["", "a", "b", "x", "y", "n"]);
        let rows = vec![
            s(&["2025-02-27T09:15:00+05:30", "10", "12", "9", "11", "100"]),
            s(&[
                "2025-02-27T09:20:00+05:30",
                "11",
                "11.5",
                "10",
                "10.5",
                "120",
            ]),
        ];
        let m = infer(&cols, &rows);
        assert_eq!(m.timestamp.as_deref(), Some(""));
        assert_eq!(m.open.as_deref(), Some("a"));
        assert_eq!(m.high.as_deref(), Some("b"));
        assert_eq!(m.low.as_deref(), Some("x"));
        assert_eq!(m.close.as_deref(), Some("y"));
        assert_eq!(m.volume.as_deref(), Some("n"));
    }
}
