//! Typed strategy parameters: each strategy lists its own (name, kind, default, bounds), and every
//! strategy takes the simulator's settings too. A request's `strategy_params` are checked against
//! the list: an unknown name, a wrong type or a value out of bounds is refused with words that say
//! which and why, before anything runs.
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Int,
    Float,
    Bool,
    /// One of `choices`.
    Choice,
    Text,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub default: Value,
    pub min: Option<f64>,
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub choices: &'static [&'static str],
    /// `strategy` or `simulator`: a form groups them.
    pub group: &'static str,
    pub description: &'static str,
}

pub const fn int(name: &'static str, default: i64, min: i64, max: i64, d: &'static str) -> Spec {
    Spec::new(
        name,
        Kind::Int,
        Def::I(default),
        Some(min as f64),
        Some(max as f64),
        d,
    )
}

pub const fn float(name: &'static str, default: f64, min: f64, max: f64, d: &'static str) -> Spec {
    Spec::new(name, Kind::Float, Def::F(default), Some(min), Some(max), d)
}

pub const fn text(name: &'static str, default: &'static str, d: &'static str) -> Spec {
    Spec::new(name, Kind::Text, Def::S(default), None, None, d)
}

pub const fn flag(name: &'static str, default: bool, d: &'static str) -> Spec {
    Spec::new(name, Kind::Bool, Def::B(default), None, None, d)
}

pub const fn choice(
    name: &'static str,
    default: &'static str,
    choices: &'static [&'static str],
    d: &'static str,
) -> Spec {
    let mut s = Spec::new(name, Kind::Choice, Def::S(default), None, None, d);
    s.choices = choices;
    s
}

/// A default that can live in a `const` table.
#[derive(Debug, Clone, Copy)]
pub enum Def {
    I(i64),
    F(f64),
    B(bool),
    S(&'static str),
}

/// A parameter as the tables declare it.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Def,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub choices: &'static [&'static str],
    pub description: &'static str,
}

impl Spec {
    const fn new(
        name: &'static str,
        kind: Kind,
        default: Def,
        min: Option<f64>,
        max: Option<f64>,
        description: &'static str,
    ) -> Spec {
        Spec {
            name,
            kind,
            default,
            min,
            max,
            choices: &[],
            description,
        }
    }

    pub fn public(&self, group: &'static str) -> ParamSpec {
        ParamSpec {
            name: self.name,
            kind: self.kind,
            default: def_value(self.default),
            min: self.min,
            max: self.max,
            choices: self.choices,
            group,
            description: self.description,
        }
    }

    /// `v` as this parameter's type, within its bounds.
    fn check(&self, v: &Value) -> Result<Value, String> {
        let name = self.name;
        let bounded = |x: f64| -> Result<(), String> {
            match (self.min, self.max) {
                (Some(lo), _) if x < lo => Err(format!("{name} must be ≥ {lo}, got {x}")),
                (_, Some(hi)) if x > hi => Err(format!("{name} must be ≤ {hi}, got {x}")),
                _ => Ok(()),
            }
        };
        match self.kind {
            Kind::Int => {
                let x = v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| format!("{name} must be a whole number, got {v}"))?;
                bounded(x as f64)?;
                Ok(Value::from(x))
            }
            Kind::Float => {
                let x = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|x: &f64| x.is_finite())
                    .ok_or_else(|| format!("{name} must be a number, got {v}"))?;
                bounded(x)?;
                Ok(Value::from(x))
            }
            Kind::Bool => v
                .as_bool()
                .or_else(
                    || match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("true" | "1" | "yes") => Some(true),
                        Some("false" | "0" | "no") => Some(false),
                        _ => None,
                    },
                )
                .map(Value::Bool)
                .ok_or_else(|| format!("{name} must be true or false, got {v}")),
            Kind::Choice => {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("{name} must be a string, got {v}"))?;
                let s = s.trim().to_ascii_lowercase();
                if self.choices.contains(&s.as_str()) {
                    Ok(Value::String(s))
                } else {
                    Err(format!(
                        "{name} must be one of {}, got {v}",
                        self.choices.join(", ")
                    ))
                }
            }
            Kind::Text => v
                .as_str()
                .map(|s| Value::String(s.to_string()))
                .ok_or_else(|| format!("{name} must be a string, got {v}")),
        }
    }
}

fn def_value(d: Def) -> Value {
    match d {
        Def::I(i) => Value::from(i),
        Def::F(f) => Value::from(f),
        Def::B(b) => Value::Bool(b),
        Def::S(s) => Value::String(s.into()),
    }
}

/// The simulator's settings, accepted by every strategy (names other tools rely on).
pub const SIMULATOR: &[Spec] = &[
    float(
        "commission",
        0.0,
        0.0,
        0.1,
        "commission as a fraction of traded value, charged on every fill (0.002 = 0.2 %)",
    ),
    float(
        "slippage_ticks",
        0.0,
        0.0,
        1000.0,
        "slippage in ticks against every fill",
    ),
    float(
        "tick_size",
        0.0,
        0.0,
        1e6,
        "price of one tick; 0 = the symbol's (ES/NQ 0.25, else 0.01)",
    ),
    choice(
        "sizing",
        "all_in",
        &["all_in", "fixed"],
        "all_in: floor(cash × (1 − ε) / (price × (1 + commission))) whole units, backtesting.py's all-in size (one unit less only when the division is exactly whole); fixed: qty units",
    ),
    int(
        "qty",
        1,
        1,
        1_000_000_000,
        "units per entry when sizing is fixed",
    ),
    flag(
        "allow_short",
        false,
        "false: long-only (a sell signal only closes a long); true: long/short",
    ),
];

/// Checked parameters, defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Params(pub BTreeMap<String, Value>);

impl Params {
    pub fn f(&self, name: &str) -> f64 {
        self.0.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN)
    }
    pub fn i(&self, name: &str) -> i64 {
        self.0.get(name).and_then(Value::as_i64).unwrap_or(0)
    }
    pub fn n(&self, name: &str) -> usize {
        self.i(name).max(0) as usize
    }
    pub fn b(&self, name: &str) -> bool {
        self.0.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
    pub fn s(&self, name: &str) -> &str {
        self.0.get(name).and_then(Value::as_str).unwrap_or("")
    }

    /// `given` checked against `specs` (the strategy's own, then the simulator's).
    pub fn check(specs: &[&[Spec]], given: &Map<String, Value>) -> Result<Params, String> {
        let all = || specs.iter().flat_map(|s| s.iter());
        for k in given.keys() {
            if !all().any(|s| s.name == k) {
                let known: Vec<_> = all().map(|s| s.name).collect();
                return Err(format!(
                    "unknown parameter {k:?}; this strategy takes {}",
                    known.join(", ")
                ));
            }
        }
        let mut out = BTreeMap::new();
        for s in all() {
            let v = match given.get(s.name) {
                Some(Value::Null) | None => def_value(s.default),
                Some(v) => s.check(v)?,
            };
            out.insert(s.name.to_string(), v);
        }
        Ok(Params(out))
    }
}
