//! Columnar tables in Parquet, written and read with polars. A `Table` is the plain-Rust
//! view the session code works with (strings, numbers, lists of numbers); nulls read from
//! other tools' files become NaN in numbers and "" in strings.

use polars::prelude::{self as pl, DataType, IntoColumn, NamedFrom, Series};
use polars_arrow::array::{Array, ListArray, PrimitiveArray};
use polars_arrow::offset::OffsetsBuffer;
use polars_io::prelude::{ParquetCompression, ParquetReader, ParquetWriter, SerReader};
use std::path::Path;

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Str(Vec<String>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    /// Integers where some rows have none (written as nulls; read back as `F64` with NaN).
    OptI32(Vec<Option<i32>>),
    I64(Vec<i64>),
    /// A list per row; `offsets` has n + 1 entries.
    ListF32 {
        offsets: Vec<usize>,
        values: Vec<f32>,
    },
    ListI32 {
        offsets: Vec<usize>,
        values: Vec<i32>,
    },
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Str(v) => v.len(),
            Column::F32(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::OptI32(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::ListF32 { offsets, .. } | Column::ListI32 { offsets, .. } => offsets.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn fixed_list_f32(width: usize, values: Vec<f32>) -> Column {
        let n = values.len().checked_div(width).unwrap_or(0);
        Column::ListF32 {
            offsets: (0..=n).map(|i| i * width).collect(),
            values,
        }
    }

    pub fn fixed_list_i32(width: usize, values: Vec<i32>) -> Column {
        let n = values.len().checked_div(width).unwrap_or(0);
        Column::ListI32 {
            offsets: (0..=n).map(|i| i * width).collect(),
            values,
        }
    }

    /// Numeric values as f64 (lists and strings give `None`).
    pub fn as_f64(&self) -> Option<Vec<f64>> {
        match self {
            Column::F32(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Column::F64(v) => Some(v.clone()),
            Column::I32(v) => Some(v.iter().map(|&x| x as f64).collect()),
            Column::OptI32(v) => Some(v.iter().map(|x| x.map_or(f64::NAN, f64::from)).collect()),
            Column::I64(v) => Some(v.iter().map(|&x| x as f64).collect()),
            _ => None,
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Column>,
}

impl Table {
    pub fn push(&mut self, name: &str, col: Column) {
        self.names.push(name.to_string());
        self.columns.push(col);
    }
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
    }
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Appends the rows of a table with the same columns (names and kinds).
    pub fn append(&mut self, other: Table) -> Result<(), String> {
        if self.names != other.names {
            return Err(format!(
                "columns differ: {:?} vs {:?}",
                self.names, other.names
            ));
        }
        for (dst, src) in self.columns.iter_mut().zip(other.columns) {
            match (dst, src) {
                (Column::Str(a), Column::Str(b)) => a.extend(b),
                (Column::F32(a), Column::F32(b)) => a.extend(b),
                (Column::F64(a), Column::F64(b)) => a.extend(b),
                (Column::I32(a), Column::I32(b)) => a.extend(b),
                (Column::OptI32(a), Column::OptI32(b)) => a.extend(b),
                (Column::I64(a), Column::I64(b)) => a.extend(b),
                (
                    Column::ListF32 {
                        offsets: ao,
                        values: av,
                    },
                    Column::ListF32 {
                        offsets: bo,
                        values: bv,
                    },
                ) => {
                    let base = av.len();
                    ao.extend(bo.iter().skip(1).map(|o| o + base));
                    av.extend(bv);
                }
                (
                    Column::ListI32 {
                        offsets: ao,
                        values: av,
                    },
                    Column::ListI32 {
                        offsets: bo,
                        values: bv,
                    },
                ) => {
                    let base = av.len();
                    ao.extend(bo.iter().skip(1).map(|o| o + base));
                    av.extend(bv);
                }
                _ => return Err("a column's kind differs between the tables".into()),
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
}

fn perr(path: &Path, e: impl std::fmt::Display) -> TableError {
    TableError::Format {
        path: path.display().to_string(),
        reason: e.to_string().lines().next().unwrap_or("").to_string(),
    }
}

fn io_err(path: &Path, error: std::io::Error) -> TableError {
    TableError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// A list column from offsets (n + 1 entries) and flat values.
fn list_series<T: polars_arrow::types::NativeType>(
    name: &str,
    offsets: &[usize],
    values: &[T],
) -> pl::PolarsResult<Series> {
    let values = PrimitiveArray::<T>::from_vec(values.to_vec());
    let offsets: Vec<i64> = offsets.iter().map(|&o| o as i64).collect();
    let dtype = ListArray::<i64>::default_datatype(values.dtype().clone());
    let list = ListArray::<i64>::try_new(
        dtype,
        OffsetsBuffer::try_from(offsets)?,
        values.boxed(),
        None,
    )?;
    Series::from_arrow(name.into(), list.boxed())
}

fn to_frame(table: &Table) -> pl::PolarsResult<pl::DataFrame> {
    let mut cols = Vec::with_capacity(table.columns.len());
    for (n, c) in table.names.iter().zip(&table.columns) {
        let name = n.as_str().into();
        let s = match c {
            Column::Str(v) => Series::new(name, v.as_slice()),
            Column::F32(v) => Series::new(name, v.as_slice()),
            Column::F64(v) => Series::new(name, v.as_slice()),
            Column::I32(v) => Series::new(name, v.as_slice()),
            Column::OptI32(v) => Series::new(name, v.as_slice()),
            Column::I64(v) => Series::new(name, v.as_slice()),
            Column::ListF32 { offsets, values } => list_series(n, offsets, values)?,
            Column::ListI32 { offsets, values } => list_series(n, offsets, values)?,
        };
        cols.push(s.into_column());
    }
    pl::DataFrame::new(table.n_rows(), cols)
}

/// Writes `table` to `path` (caller handles atomic placement).
pub fn write_parquet(path: &Path, table: &Table) -> Result<(), TableError> {
    let mut df = to_frame(table).map_err(|e| perr(path, e))?;
    let file = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    ParquetWriter::new(std::io::BufWriter::new(file))
        .with_compression(ParquetCompression::Snappy)
        .finish(&mut df)
        .map_err(|e| perr(path, e))?;
    Ok(())
}

/// Writes a table of `n_rows` rows that `part` makes `batch` rows at a time, one row group
/// per batch: a big table (a million items with their embeddings) is never held whole, nor
/// twice (once as a `Table`, once as polars' frame). The caller handles atomic placement.
pub fn write_parquet_batched(
    path: &Path,
    n_rows: usize,
    batch: usize,
    mut part: impl FnMut(std::ops::Range<usize>) -> Table,
) -> Result<(), TableError> {
    let batch = batch.max(1);
    let frame = |t: Table| to_frame(&t).map_err(|e| perr(path, e));
    let first = frame(part(0..batch.min(n_rows)))?;
    let file = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    let mut w = ParquetWriter::new(std::io::BufWriter::new(file))
        .with_compression(ParquetCompression::Snappy)
        .batched(first.schema())
        .map_err(|e| perr(path, e))?;
    w.write_batch(&first).map_err(|e| perr(path, e))?;
    drop(first);
    let mut start = batch;
    while start < n_rows {
        let end = (start + batch).min(n_rows);
        let df = frame(part(start..end))?;
        w.write_batch(&df).map_err(|e| perr(path, e))?;
        start = end;
    }
    w.finish().map_err(|e| perr(path, e))?;
    Ok(())
}

/// A list column as offsets, flat values and each row's presence: nulls inside a list become
/// `fill`, a null list an empty one. Fixed-size lists are read the same way.
pub struct ListParts<T> {
    pub offsets: Vec<usize>,
    pub values: Vec<T>,
    pub present: Vec<bool>,
}

pub fn list_parts<P: pl::PolarsNumericType>(
    c: &pl::Column,
    fill: P::Native,
) -> Result<ListParts<P::Native>, String> {
    let first = |e: pl::PolarsError| e.to_string().lines().next().unwrap_or("").to_string();
    let c = match c.dtype() {
        DataType::Array(inner, _) => c.cast(&DataType::List(inner.clone())).map_err(first)?,
        _ => c.clone(),
    };
    let c = c
        .cast(&DataType::List(Box::new(P::get_static_dtype())))
        .map_err(first)?;
    let ca = c.list().map_err(first)?;
    let mut out = ListParts {
        offsets: Vec::with_capacity(ca.len() + 1),
        values: Vec::new(),
        present: Vec::with_capacity(ca.len()),
    };
    out.offsets.push(0);
    for arr in ca.downcast_iter() {
        let inner = arr
            .values()
            .as_any()
            .downcast_ref::<PrimitiveArray<P::Native>>()
            .ok_or("list values are not numbers")?;
        let o = arr.offsets().as_slice();
        for i in 0..arr.len() {
            let valid = arr.is_valid(i);
            out.present.push(valid);
            if valid {
                for k in o[i] as usize..o[i + 1] as usize {
                    out.values.push(if inner.is_valid(k) {
                        inner.value(k)
                    } else {
                        fill
                    });
                }
            }
            out.offsets.push(out.values.len());
        }
    }
    Ok(out)
}

/// One column of a frame as a table column; `None` for kinds sessions never hold.
fn from_column(c: &pl::Column) -> Result<Option<Column>, String> {
    let first = |e: pl::PolarsError| e.to_string().lines().next().unwrap_or("").to_string();
    let nulls = c.null_count() > 0;
    let col = match c.dtype() {
        DataType::String | DataType::Categorical(..) | DataType::Enum(..) | DataType::Boolean => {
            let s = c.cast(&DataType::String).map_err(first)?;
            let s = s.str().map_err(first)?;
            Column::Str(s.iter().map(|v| v.unwrap_or("").to_string()).collect())
        }
        DataType::Float32 => {
            let v = c.f32().map_err(first)?;
            Column::F32(v.iter().map(|x| x.unwrap_or(f32::NAN)).collect())
        }
        DataType::Int32 if !nulls => {
            Column::I32(c.i32().map_err(first)?.iter().flatten().collect())
        }
        DataType::Int64 if !nulls => {
            Column::I64(c.i64().map_err(first)?.iter().flatten().collect())
        }
        dt if dt.is_primitive_numeric() => {
            let s = c.cast(&DataType::Float64).map_err(first)?;
            let v = s.f64().map_err(first)?;
            Column::F64(v.iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        }
        DataType::List(inner) | DataType::Array(inner, _) if inner.is_primitive_numeric() => {
            if matches!(**inner, DataType::Int32) {
                let p = list_parts::<pl::Int32Type>(c, 0)?;
                Column::ListI32 {
                    offsets: p.offsets,
                    values: p.values,
                }
            } else {
                let p = list_parts::<pl::Float32Type>(c, f32::NAN)?;
                Column::ListF32 {
                    offsets: p.offsets,
                    values: p.values,
                }
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(col))
}

fn open_reader(path: &Path) -> Result<ParquetReader<std::fs::File>, TableError> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    Ok(ParquetReader::new(file))
}

/// Reads a Parquet file into a table. Nulls in numeric columns become NaN, in strings "".
pub fn read_parquet(path: &Path) -> Result<Table, TableError> {
    read_parquet_columns(path, None)
}

/// Top-level column names of a Parquet file, from its footer.
pub fn parquet_column_names(path: &Path) -> Result<Vec<String>, TableError> {
    let mut r = open_reader(path)?;
    let schema = crate::core::guard::contain(|| r.schema())
        .map_err(|p| perr(path, format!("not a readable Parquet file ({p})")))?
        .map_err(|e| perr(path, format!("not a readable Parquet file: {e}")))?;
    Ok(schema.iter_names().map(|n| n.to_string()).collect())
}

/// Reads only the named top-level columns (all when `only` is None); names the file lacks
/// are left out, as are columns of kinds a table cannot hold.
pub fn read_parquet_columns(path: &Path, only: Option<&[&str]>) -> Result<Table, TableError> {
    let mut r = open_reader(path)?;
    if let Some(o) = only {
        let have = parquet_column_names(path)?;
        r = r.with_columns(Some(
            o.iter()
                .filter(|n| have.iter().any(|h| h == *n))
                .map(|n| n.to_string())
                .collect(),
        ));
    }
    let df = crate::core::guard::contain(|| r.finish())
        .map_err(|p| perr(path, format!("not a readable Parquet file ({p})")))?
        .map_err(|e| perr(path, format!("not a readable Parquet file: {e}")))?;
    let mut table = Table::default();
    for c in df.columns() {
        let col = from_column(c).map_err(|e| perr(path, format!("column {}: {e}", c.name())))?;
        match col {
            Some(col) => table.push(c.name(), col),
            None => {
                return Err(perr(
                    path,
                    format!("column {}: type {} is not supported", c.name(), c.dtype()),
                ));
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_concatenates_rows_and_list_offsets() {
        let mk = |ids: &[&str], emb: Vec<f32>| {
            let mut t = Table::default();
            t.push(
                "id",
                Column::Str(ids.iter().map(|s| s.to_string()).collect()),
            );
            t.push("embedding", Column::fixed_list_f32(2, emb));
            t
        };
        let mut a = mk(&["a"], vec![1., 2.]);
        a.append(mk(&["b", "c"], vec![3., 4., 5., 6.])).unwrap();
        assert_eq!(a, mk(&["a", "b", "c"], vec![1., 2., 3., 4., 5., 6.]));
        let mut other = Table::default();
        other.push("x", Column::F32(vec![1.0]));
        assert!(a.append(other).is_err());
    }

    /// A small table fits the write buffer, so the disk's error comes only when the buffer is
    /// flushed (polars flushes after the footer): it must still reach the caller.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error_not_a_silently_truncated_file() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut t = Table::default();
        t.push("x", Column::F32(vec![1.0, 2.0]));
        let e = write_parquet(full, &t).expect_err("written to a full disk");
        assert!(e.to_string().contains("/dev/full"), "{e}");
        let e = write_parquet_batched(full, 2, 1, |r| {
            let mut p = Table::default();
            p.push("x", Column::F32(vec![1.0; r.len()]));
            p
        })
        .expect_err("written to a full disk in batches");
        assert!(e.to_string().contains("/dev/full"), "{e}");
    }

    #[test]
    fn round_trip_every_column_kind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.parquet");
        let mut t = Table::default();
        t.push("id", Column::Str(vec!["a".into(), "b".into(), "c".into()]));
        t.push("x", Column::F32(vec![1.0, 2.5, -3.0]));
        t.push("score", Column::F64(vec![0.1, 0.2, 0.3]));
        t.push("cluster", Column::I32(vec![0, 1, 0]));
        t.push("big", Column::I64(vec![1, 2, 3]));
        t.push(
            "embedding",
            Column::fixed_list_f32(2, vec![1., 2., 3., 4., 5., 6.]),
        );
        t.push("nn", Column::fixed_list_i32(1, vec![2, 0, 1]));
        write_parquet(&p, &t).unwrap();
        assert_eq!(read_parquet(&p).unwrap(), t);
        // Written in batches of any size (one row group each), it reads back the same.
        let rows = |r: std::ops::Range<usize>| {
            let mut part = Table::default();
            for (name, c) in t.names.iter().zip(&t.columns) {
                let c = match c {
                    Column::Str(v) => Column::Str(v[r.clone()].to_vec()),
                    Column::F32(v) => Column::F32(v[r.clone()].to_vec()),
                    Column::F64(v) => Column::F64(v[r.clone()].to_vec()),
                    Column::I32(v) => Column::I32(v[r.clone()].to_vec()),
                    Column::I64(v) => Column::I64(v[r.clone()].to_vec()),
                    Column::ListF32 { values, .. } => {
                        Column::fixed_list_f32(2, values[2 * r.start..2 * r.end].to_vec())
                    }
                    Column::ListI32 { values, .. } => {
                        Column::fixed_list_i32(1, values[r.clone()].to_vec())
                    }
                    Column::OptI32(_) => unreachable!("not in this table"),
                };
                part.push(name, c);
            }
            part
        };
        for batch in [1, 2, 3, 10] {
            let q = dir.path().join(format!("b{batch}.parquet"));
            write_parquet_batched(&q, 3, batch, rows).unwrap();
            assert_eq!(read_parquet(&q).unwrap(), t, "batch {batch}");
        }
        // An empty table still has its columns.
        let q = dir.path().join("empty.parquet");
        write_parquet_batched(&q, 0, 4, |_| rows(0..0)).unwrap();
        assert_eq!(read_parquet(&q).unwrap(), rows(0..0));
    }
}
