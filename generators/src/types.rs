//! What the generators need to know of a column's type, read from the text
//! `format_type` prints (`character varying(20)`, `numeric(10,2)`,
//! `timestamp(3) with time zone`, an enum's name). Types it does not know
//! (arrays, geometry, ranges, ...) are [`Kind::Other`]: the generators leave
//! such columns alone.

use crate::model::{EnumType, Schema};
use crate::sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    SmallInt,
    Integer,
    BigInt,
    /// `numeric(p,s)`: at most `p - s` digits before the point; `None` for
    /// a plain `numeric`.
    Numeric {
        int_digits: Option<u32>,
    },
    Float,
    /// `text`, `character varying(n)`, `character(n)`.
    Text {
        max: Option<usize>,
    },
    Bool,
    Date,
    Timestamp {
        tz: bool,
    },
    Time,
    Uuid,
    Json,
    Jsonb,
    /// The `ltree` extension's label paths (`a.b`).
    Ltree,
    Enum(&'a EnumType),
    Other,
}

/// The base name of a type and its modifier: `numeric(10,2)` is
/// (`numeric`, `10,2`); `timestamp(3) with time zone` is
/// (`timestamp with time zone`, `3`).
fn split_modifier(ty: &str) -> (String, Option<&str>) {
    match (ty.find('('), ty.find(')')) {
        (Some(open), Some(close)) if open < close && !ty.starts_with('"') => {
            let base = format!("{}{}", &ty[..open], &ty[close + 1..]);
            (base.trim().to_owned(), Some(&ty[open + 1..close]))
        }
        _ => (ty.trim().to_owned(), None),
    }
}

/// An enum's name as `format_type` prints it back to the name itself:
/// `"Mood"` is `Mood`, `public.mood` is `mood`.
fn unquote(ty: &str) -> String {
    let last = ty.rsplit_once('.').map_or(ty, |(_, name)| name);
    if let Some(inner) = last.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        inner.replace("\"\"", "\"")
    } else {
        last.to_owned()
    }
}

pub fn kind<'a>(schema: &'a Schema, ty: &str) -> Kind<'a> {
    if ty.ends_with("[]") {
        return Kind::Other;
    }
    let (base, modifier) = split_modifier(ty);
    let number = |i: usize| -> Option<u32> {
        modifier
            .and_then(|m| m.split(',').nth(i))
            .and_then(|n| n.trim().parse().ok())
    };
    match base.as_str() {
        "smallint" => Kind::SmallInt,
        "integer" => Kind::Integer,
        "bigint" => Kind::BigInt,
        "numeric" => Kind::Numeric {
            int_digits: number(0).map(|p| p.saturating_sub(number(1).unwrap_or(0))),
        },
        "real" | "double precision" => Kind::Float,
        "text" => Kind::Text { max: None },
        "character varying" => Kind::Text {
            max: number(0).map(|n| n as usize),
        },
        "character" => Kind::Text {
            max: Some(number(0).unwrap_or(1) as usize),
        },
        "boolean" => Kind::Bool,
        "date" => Kind::Date,
        "timestamp without time zone" => Kind::Timestamp { tz: false },
        "timestamp with time zone" => Kind::Timestamp { tz: true },
        "time without time zone" => Kind::Time,
        "uuid" => Kind::Uuid,
        "json" => Kind::Json,
        "jsonb" => Kind::Jsonb,
        _ if unquote(ty) == "ltree" => Kind::Ltree,
        _ => schema
            .enum_type(&unquote(ty))
            .map_or(Kind::Other, Kind::Enum),
    }
}

impl Kind<'_> {
    /// Whether a plain btree index can be built on it (json has no btree
    /// operator class; jsonb has one, but nobody indexes a document whole).
    pub fn indexable(self) -> bool {
        !matches!(self, Kind::Json | Kind::Jsonb | Kind::Other)
    }

    /// A value of this type as an SQL expression that an `INSERT` coerces
    /// to the column (untyped literals, so a column retyped by a mutation
    /// still takes it). Distinct `v` below 10,000 give distinct values
    /// where the type has room; `None` where no literal can be made.
    pub fn value(self, v: u64) -> Option<String> {
        const WORDS: &[&str] = &["alpha", "o'clock", "zeta", "Ünïcode", "a b", "x"];
        Some(match self {
            Kind::SmallInt => (v % 32_768).to_string(),
            Kind::Integer => (v % 2_147_483_648).to_string(),
            Kind::BigInt | Kind::Float => v.to_string(),
            Kind::Numeric { int_digits: None } => v.to_string(),
            Kind::Numeric {
                int_digits: Some(0),
            } => "0".to_owned(),
            Kind::Numeric {
                int_digits: Some(d),
            } => (v % 10u64.pow(d.min(9))).to_string(),
            Kind::Text { max } => {
                // The distinct part first, so that a short limit keeps it.
                let full = format!("{}-{}", base36(v), WORDS[(v % WORDS.len() as u64) as usize]);
                let text: String = full.chars().take(max.unwrap_or(usize::MAX)).collect();
                sql::literal(&text)
            }
            Kind::Bool => (v % 2 == 1).to_string(),
            Kind::Date => sql::literal(&date(v)),
            Kind::Timestamp { tz: false } => sql::literal(&format!("{} 12:34:56", date(v))),
            Kind::Timestamp { tz: true } => sql::literal(&format!("{} 12:34:56+00", date(v))),
            Kind::Time => sql::literal(&format!(
                "{:02}:{:02}:{:02}",
                (v / 3600) % 24,
                (v / 60) % 60,
                v % 60
            )),
            Kind::Uuid => format!(
                "{}::uuid",
                sql::literal(&format!("00000000-0000-4000-8000-{:012x}", v))
            ),
            Kind::Json | Kind::Jsonb => sql::literal(&format!("{{\"n\": {v}}}")),
            // Letters, digits and `_` only: the labels every version takes.
            Kind::Ltree => sql::literal(&format!("root.n{}", base36(v))),
            Kind::Enum(e) if !e.labels.is_empty() => {
                sql::literal(&e.labels[(v % e.labels.len() as u64) as usize])
            }
            Kind::Enum(_) | Kind::Other => return None,
        })
    }

    /// A constant default a person would set by hand.
    pub fn default_literal(self) -> Option<String> {
        Some(match self {
            Kind::SmallInt | Kind::Integer | Kind::BigInt | Kind::Numeric { .. } | Kind::Float => {
                "0".to_owned()
            }
            Kind::Text { .. } => "''".to_owned(),
            Kind::Bool => "false".to_owned(),
            Kind::Date => "CURRENT_DATE".to_owned(),
            Kind::Timestamp { .. } => "now()".to_owned(),
            Kind::Time => "LOCALTIME".to_owned(),
            Kind::Uuid => "'00000000-0000-0000-0000-000000000000'::uuid".to_owned(),
            Kind::Json | Kind::Jsonb => "'{}'".to_owned(),
            Kind::Ltree => "'root'".to_owned(),
            Kind::Enum(_) | Kind::Other => return self.value(0),
        })
    }
}

/// The type a column can be widened to without touching its values or
/// making an index or foreign key invalid, as `format_type` would print it.
pub fn widening(ty: &str) -> Option<String> {
    let (base, modifier) = split_modifier(ty);
    match base.as_str() {
        "smallint" => Some("integer".to_owned()),
        "integer" => Some("bigint".to_owned()),
        "character varying" => Some("text".to_owned()),
        "numeric" if modifier.is_some() => Some("numeric".to_owned()),
        "timestamp without time zone" => Some(match modifier {
            Some(m) => format!("timestamp({m}) with time zone"),
            None => "timestamp with time zone".to_owned(),
        }),
        _ => None,
    }
}

fn base36(mut v: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((v % 36) as u32, 36).unwrap_or('0'));
        v /= 36;
        if v == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

fn date(v: u64) -> String {
    format!(
        "{}-{:02}-{:02}",
        2000 + (v / 336) % 50,
        (v / 28) % 12 + 1,
        v % 28 + 1
    )
}

/// A 64-bit mix (splitmix64's finaliser): a well-spread number from a seed.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The item whose key scores highest for `seed` (rendezvous hashing): the
/// choice stays the same when other items come or go, so a shrunk case
/// (an earlier schema, a mutation fewer) still names the same object.
pub fn choose<T>(seed: u64, items: impl IntoIterator<Item = (String, T)>) -> Option<T> {
    items
        .into_iter()
        .map(|(key, item)| {
            // FNV-1a: stable across Rust versions, unlike std's hasher.
            let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            (mix(hash ^ seed), item)
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, item)| item)
}
