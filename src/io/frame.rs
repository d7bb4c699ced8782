//! Tables other tools wrote, read with polars: Parquet (pandas, pyarrow, polars, R arrow:
//! nullable columns, dictionary-encoded strings and categoricals, list, large_list and
//! fixed_size_list columns). A table becomes an id column, an embedding matrix and metadata
//! columns (see `tables`). Arrow IPC / Feather input is not taken: polars' IPC reader
//! allocates whatever uncompressed length a compressed buffer claims, and one flipped byte
//! of a Feather file aborted the process asking for 418 GB (tests/fuzz.rs), which no
//! `catch_unwind` can contain.

use crate::core::{DataError, MetaColumn, MetaValues};
use polars::prelude::*;
use polars_io::prelude::{ParquetReader, SerReader};
use std::path::Path;

/// True for the extensions read here.
pub fn is_columnar(path: &Path) -> bool {
    matches!(
        path.extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref(),
        Some("parquet" | "pq")
    )
}

fn first_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

/// Reads a Parquet file whole.
pub fn read_columnar(path: &Path) -> Result<DataFrame, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::file(path, e.to_string()))?;
    crate::core::guard::contain(|| ParquetReader::new(file).finish())
        .map_err(|p| {
            DataError::file(
                path,
                format!("not a readable Parquet file (corrupt or truncated: {p})"),
            )
        })?
        .map_err(|e| {
            DataError::file(
                path,
                format!("not a readable Parquet file: {}", first_line(e)),
            )
        })
}

/// The kind of a column, as the table readers use it.
pub enum Kind {
    Text,
    Number,
    /// A list or fixed-size list of numbers per row.
    Vector,
    Other,
}

pub fn kind(dt: &DataType) -> Kind {
    match dt {
        DataType::String | DataType::Categorical(..) | DataType::Enum(..) => Kind::Text,
        DataType::List(inner) if inner.is_primitive_numeric() => Kind::Vector,
        #[allow(unreachable_patterns)]
        dt if dt.is_primitive_numeric() || dt.is_bool() => Kind::Number,
        _ => match dt {
            DataType::Array(inner, _) if inner.is_primitive_numeric() => Kind::Vector,
            _ => Kind::Other,
        },
    }
}

/// A text column's values (missing values as empty text).
pub fn texts(c: &Column) -> Result<Vec<String>, String> {
    let s = c.cast(&DataType::String).map_err(first_line)?;
    let s = s.str().map_err(first_line)?;
    Ok((0..s.len())
        .map(|i| s.get(i).unwrap_or("").to_string())
        .collect())
}

/// A numeric or boolean column as f64 (missing values as NaN).
pub fn numbers(c: &Column) -> Result<Vec<f64>, String> {
    let s = c.cast(&DataType::Float64).map_err(first_line)?;
    let s = s.f64().map_err(first_line)?;
    Ok((0..s.len()).map(|i| s.get(i).unwrap_or(f64::NAN)).collect())
}

/// A list column as rows of f32; `Err((row, reason))` names the first bad row.
pub fn vectors(c: &Column) -> Result<(usize, Vec<f32>), (usize, String)> {
    let p = crate::io::parquet::list_parts::<Float32Type>(c, f32::NAN).map_err(|e| (0, e))?;
    let mut width = None;
    for (i, w) in p.offsets.windows(2).enumerate() {
        if !p.present[i] {
            return Err((i, "missing (null) instead of a list of numbers".into()));
        }
        let len = w[1] - w[0];
        if *width.get_or_insert(len) != len {
            return Err((
                i,
                format!(
                    "{len} values, expected {} as in the first record",
                    width.unwrap_or(0)
                ),
            ));
        }
    }
    Ok((width.unwrap_or(0), p.values))
}

/// The frame's columns as metadata: text (categoricals included) and numbers; list and
/// other columns are left out.
pub fn meta_columns(df: &DataFrame, skip: &[usize]) -> Result<Vec<MetaColumn>, String> {
    let mut out = Vec::new();
    for (k, c) in df.columns().iter().enumerate() {
        if skip.contains(&k) {
            continue;
        }
        let values = match kind(c.dtype()) {
            Kind::Text => MetaValues::Text(texts(c)?),
            Kind::Number => MetaValues::Number(numbers(c)?),
            Kind::Vector | Kind::Other => continue,
        };
        out.push(MetaColumn {
            name: c.name().to_string(),
            values,
        });
    }
    Ok(out)
}
