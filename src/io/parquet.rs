//! Columnar tables in Parquet, through the parquet crate's low-level column API (no Arrow, no
//! polars: see the README's note on build cost). Writes required columns of strings, numbers
//! and fixed-width lists; reads those plus the optional/nullable layouts pandas and polars
//! write.

use parquet::basic::{Compression, ConvertedType, LogicalType, Repetition, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, get_typed_column_reader};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::path::Path;
use std::sync::Arc;

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Str(Vec<String>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
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
        reason: e.to_string(),
    }
}

fn leaf(name: &str, t: PhysicalType, logical: Option<LogicalType>, rep: Repetition) -> Arc<Type> {
    let mut b = Type::primitive_type_builder(name, t).with_repetition(rep);
    if let Some(l) = logical {
        b = b.with_logical_type(Some(l));
    }
    #[allow(clippy::expect_used)]
    Arc::new(b.build().expect("valid primitive schema"))
}

fn list_of(name: &str, t: PhysicalType) -> Arc<Type> {
    let element = leaf("element", t, None, Repetition::REQUIRED);
    #[allow(clippy::expect_used)]
    let list = Type::group_type_builder("list")
        .with_repetition(Repetition::REPEATED)
        .with_fields(vec![element])
        .build()
        .expect("valid list schema");
    #[allow(clippy::expect_used)]
    Arc::new(
        Type::group_type_builder(name)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::List))
            .with_converted_type(ConvertedType::LIST)
            .with_fields(vec![Arc::new(list)])
            .build()
            .expect("valid group schema"),
    )
}

fn list_levels(offsets: &[usize]) -> (Vec<i16>, Vec<i16>) {
    // Every list here is non-empty; an empty one would need def level 0 and no value.
    let n_values = offsets.last().copied().unwrap_or(0);
    let mut rep = Vec::with_capacity(n_values);
    let def = vec![1i16; n_values];
    for w in offsets.windows(2) {
        for t in 0..(w[1] - w[0]) {
            rep.push(if t == 0 { 0 } else { 1 });
        }
    }
    (def, rep)
}

/// Writes `table` to `path` (caller handles atomic placement).
pub fn write_parquet(path: &Path, table: &Table) -> Result<(), TableError> {
    for (n, c) in table.names.iter().zip(&table.columns) {
        if let Column::ListF32 { offsets, .. } | Column::ListI32 { offsets, .. } = c
            && offsets.windows(2).any(|w| w[1] == w[0])
        {
            return Err(perr(
                path,
                format!("column {n}: empty lists are not supported"),
            ));
        }
    }
    let fields: Vec<Arc<Type>> = table
        .names
        .iter()
        .zip(&table.columns)
        .map(|(n, c)| match c {
            Column::Str(_) => leaf(
                n,
                PhysicalType::BYTE_ARRAY,
                Some(LogicalType::String),
                Repetition::REQUIRED,
            ),
            Column::F32(_) => leaf(n, PhysicalType::FLOAT, None, Repetition::REQUIRED),
            Column::F64(_) => leaf(n, PhysicalType::DOUBLE, None, Repetition::REQUIRED),
            Column::I32(_) => leaf(n, PhysicalType::INT32, None, Repetition::REQUIRED),
            Column::I64(_) => leaf(n, PhysicalType::INT64, None, Repetition::REQUIRED),
            Column::ListF32 { .. } => list_of(n, PhysicalType::FLOAT),
            Column::ListI32 { .. } => list_of(n, PhysicalType::INT32),
        })
        .collect();
    let schema = Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(|e| perr(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("biolens {}", crate::VERSION))
        .build();
    let file = std::fs::File::create(path).map_err(|e| TableError::Io {
        path: path.display().to_string(),
        error: e,
    })?;
    let mut w = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props))
        .map_err(|e| perr(path, e))?;
    let n = table.n_rows();
    let group = 1 << 20;
    let mut start = 0;
    loop {
        let end = (start + group).min(n);
        let mut rg = w.next_row_group().map_err(|e| perr(path, e))?;
        for col in &table.columns {
            let mut cw = rg
                .next_column()
                .map_err(|e| perr(path, e))?
                .ok_or_else(|| perr(path, "schema has fewer columns than the table"))?;
            let r = match col {
                Column::Str(v) => {
                    let b: Vec<ByteArray> = v[start..end]
                        .iter()
                        .map(|s| ByteArray::from(s.as_str()))
                        .collect();
                    cw.typed::<ByteArrayType>().write_batch(&b, None, None)
                }
                Column::F32(v) => cw
                    .typed::<FloatType>()
                    .write_batch(&v[start..end], None, None),
                Column::F64(v) => cw
                    .typed::<DoubleType>()
                    .write_batch(&v[start..end], None, None),
                Column::I32(v) => cw
                    .typed::<Int32Type>()
                    .write_batch(&v[start..end], None, None),
                Column::I64(v) => cw
                    .typed::<Int64Type>()
                    .write_batch(&v[start..end], None, None),
                Column::ListF32 { offsets, values } => {
                    let o: Vec<usize> = offsets[start..=end].to_vec();
                    let (def, rep) = list_levels(&o.iter().map(|x| x - o[0]).collect::<Vec<_>>());
                    cw.typed::<FloatType>().write_batch(
                        &values[o[0]..o[end - start]],
                        Some(&def),
                        Some(&rep),
                    )
                }
                Column::ListI32 { offsets, values } => {
                    let o: Vec<usize> = offsets[start..=end].to_vec();
                    let (def, rep) = list_levels(&o.iter().map(|x| x - o[0]).collect::<Vec<_>>());
                    cw.typed::<Int32Type>().write_batch(
                        &values[o[0]..o[end - start]],
                        Some(&def),
                        Some(&rep),
                    )
                }
            };
            r.map_err(|e| perr(path, e))?;
            cw.close().map_err(|e| perr(path, e))?;
        }
        rg.close().map_err(|e| perr(path, e))?;
        start = end;
        if start >= n {
            break;
        }
    }
    w.close().map_err(|e| perr(path, e))?;
    Ok(())
}

/// A leaf column's values with its definition and repetition levels.
type Leaf<V> = (Vec<V>, Vec<i16>, Vec<i16>);

/// Reads one leaf column of every row group: values, def and rep levels.
fn read_leaf<T: DataType>(
    reader: &SerializedFileReader<std::fs::File>,
    col: usize,
    path: &Path,
) -> Result<Leaf<T::T>, TableError>
where
    T::T: Clone,
{
    let mut vals = Vec::new();
    let mut defs = Vec::new();
    let mut reps = Vec::new();
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(|e| perr(path, e))?;
        let rows = rg.metadata().num_rows() as usize;
        let cr: ColumnReader = rg.get_column_reader(col).map_err(|e| perr(path, e))?;
        let mut typed = get_typed_column_reader::<T>(cr);
        let mut got = 0;
        while got < rows {
            let (recs, _, _) = typed
                .read_records(rows - got, Some(&mut defs), Some(&mut reps), &mut vals)
                .map_err(|e| perr(path, e))?;
            if recs == 0 {
                break;
            }
            got += recs;
        }
    }
    Ok((vals, defs, reps))
}

/// Expands nullable leaves: returns per-row (start, end) into a dense value vector with
/// `fill` where a value was null.
fn assemble<V: Clone>(
    vals: Vec<V>,
    defs: &[i16],
    reps: &[i16],
    max_def: i16,
    max_rep: i16,
    fill: V,
    elem_optional: bool,
) -> (Vec<usize>, Vec<V>) {
    if max_def == 0 && max_rep == 0 {
        let n = vals.len();
        return ((0..=n).collect(), vals);
    }
    let mut out = Vec::with_capacity(defs.len());
    let mut offsets = vec![0usize];
    let mut it = vals.into_iter();
    for (t, &d) in defs.iter().enumerate() {
        let r = if max_rep > 0 { reps[t] } else { 0 };
        if r == 0 && t > 0 {
            offsets.push(out.len());
        }
        if d == max_def {
            if let Some(v) = it.next() {
                out.push(v);
            }
        } else if max_rep == 0 || (elem_optional && d == max_def - 1) {
            // A null scalar, or a null element inside a present list.
            out.push(fill.clone());
        }
        // Lower levels: null or empty list, contributes no element.
    }
    if !defs.is_empty() {
        offsets.push(out.len());
    }
    (offsets, out)
}

/// A nullable integer column as f64, nulls as NaN.
fn nullable_numbers(
    v: Vec<f64>,
    d: &[i16],
    r: &[i16],
    max_def: i16,
    max_rep: i16,
    opt: bool,
) -> Column {
    Column::F64(assemble(v, d, r, max_def, max_rep, f64::NAN, opt).1)
}

/// Reads a Parquet file into a table. Nulls in numeric columns become NaN, in strings "".
pub fn read_parquet(path: &Path) -> Result<Table, TableError> {
    read_parquet_columns(path, None)
}

/// Top-level column names of a Parquet file, from its footer.
pub fn parquet_column_names(path: &Path) -> Result<Vec<String>, TableError> {
    let file = std::fs::File::open(path).map_err(|e| TableError::Io {
        path: path.display().to_string(),
        error: e,
    })?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| perr(path, format!("not a readable Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    Ok(schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect())
}

/// Reads only the named top-level columns (all when `only` is None).
pub fn read_parquet_columns(path: &Path, only: Option<&[&str]>) -> Result<Table, TableError> {
    let file = std::fs::File::open(path).map_err(|e| TableError::Io {
        path: path.display().to_string(),
        error: e,
    })?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| perr(path, format!("not a readable Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let mut table = Table::default();
    for c in 0..schema.num_columns() {
        let desc = schema.column(c);
        let top = desc.path().parts()[0].clone();
        if only.is_some_and(|o| !o.contains(&top.as_str())) {
            continue;
        }
        let (max_def, max_rep) = (desc.max_def_level(), desc.max_rep_level());
        if max_rep > 1 {
            return Err(perr(
                path,
                format!("column {top}: nested lists are not supported"),
            ));
        }
        let is_list = max_rep == 1;
        let opt = desc.self_type().is_optional();
        let col = match desc.physical_type() {
            PhysicalType::BYTE_ARRAY => {
                let (v, d, r) = read_leaf::<ByteArrayType>(&reader, c, path)?;
                let (_, s) = assemble(v, &d, &r, max_def, max_rep, ByteArray::from(""), opt);
                if is_list {
                    return Err(perr(
                        path,
                        format!("column {top}: lists of strings are not supported"),
                    ));
                }
                Column::Str(
                    s.iter()
                        .map(|b| String::from_utf8_lossy(b.data()).into_owned())
                        .collect(),
                )
            }
            PhysicalType::FLOAT => {
                let (v, d, r) = read_leaf::<FloatType>(&reader, c, path)?;
                let (o, s) = assemble(v, &d, &r, max_def, max_rep, f32::NAN, opt);
                if is_list {
                    Column::ListF32 {
                        offsets: o,
                        values: s,
                    }
                } else {
                    Column::F32(s)
                }
            }
            PhysicalType::DOUBLE => {
                let (v, d, r) = read_leaf::<DoubleType>(&reader, c, path)?;
                let (o, s) = assemble(v, &d, &r, max_def, max_rep, f64::NAN, opt);
                if is_list {
                    Column::ListF32 {
                        offsets: o,
                        values: s.iter().map(|&x| x as f32).collect(),
                    }
                } else {
                    Column::F64(s)
                }
            }
            PhysicalType::INT32 => {
                let (v, d, r) = read_leaf::<Int32Type>(&reader, c, path)?;
                match (is_list, max_def) {
                    (true, _) => {
                        let (o, s) = assemble(v, &d, &r, max_def, max_rep, 0, opt);
                        Column::ListI32 {
                            offsets: o,
                            values: s,
                        }
                    }
                    (false, 0) => Column::I32(v),
                    (false, _) => nullable_numbers(
                        v.into_iter().map(f64::from).collect(),
                        &d,
                        &r,
                        max_def,
                        max_rep,
                        opt,
                    ),
                }
            }
            PhysicalType::INT64 => {
                let (v, d, r) = read_leaf::<Int64Type>(&reader, c, path)?;
                match (is_list, max_def) {
                    (true, _) => {
                        let vals = v.into_iter().map(|x| x as f32).collect();
                        let (o, s) = assemble(vals, &d, &r, max_def, max_rep, f32::NAN, opt);
                        Column::ListF32 {
                            offsets: o,
                            values: s,
                        }
                    }
                    (false, 0) => Column::I64(v),
                    (false, _) => nullable_numbers(
                        v.into_iter().map(|x| x as f64).collect(),
                        &d,
                        &r,
                        max_def,
                        max_rep,
                        opt,
                    ),
                }
            }
            PhysicalType::BOOLEAN => {
                let (v, d, r) = read_leaf::<parquet::data_type::BoolType>(&reader, c, path)?;
                let (_, s) = assemble(
                    v.into_iter()
                        .map(|b| if b { "true" } else { "false" }.to_string())
                        .collect(),
                    &d,
                    &r,
                    max_def,
                    max_rep,
                    String::new(),
                    opt,
                );
                Column::Str(s)
            }
            other => {
                return Err(perr(
                    path,
                    format!("column {top}: Parquet type {other} is not supported"),
                ));
            }
        };
        table.push(&top, col);
    }
    if let Some(bad) = table.columns.iter().position(|c| c.len() != table.n_rows()) {
        return Err(perr(
            path,
            format!(
                "column {} has {} rows, expected {}",
                table.names[bad],
                table.columns[bad].len(),
                table.n_rows()
            ),
        ));
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
    }
}
