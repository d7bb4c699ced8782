//! Embedding tables: CSV (read here, so errors name the line) or Parquet / Arrow IPC (read
//! with polars, `frame`), with an id column and either one list column (the
//! embedding) or numeric columns. Columns named like `emb_*`, `dim_*`, `pc_*`, `latent_*`
//! (case-insensitive) are the embedding when present, and the other columns become metadata;
//! otherwise every numeric column is the embedding.

use crate::core::matrix::{Matrix, check_finite};
use crate::core::{DataError, MetaColumn};
use crate::io::text::read_csv_rows;
use std::collections::HashMap;
use std::path::Path;

/// Items with a given embedding: ids, the other columns as metadata, and the matrix.
#[derive(Debug, Clone)]
pub struct EmbeddingTable {
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub matrix: Matrix,
}

const EMBEDDING_PREFIXES: [&str; 6] = ["emb", "dim", "pc", "latent", "x_", "umap"];

fn is_embedding_name(n: &str) -> bool {
    let l = n.to_lowercase();
    EMBEDDING_PREFIXES.iter().any(|p| l.starts_with(p)) && l.chars().any(|c| c.is_ascii_digit())
}

fn id_column(names: &[String], is_text: &dyn Fn(usize) -> bool) -> Option<usize> {
    names
        .iter()
        .position(|n| {
            let l = n.to_lowercase();
            l == "id" || l == "barcode" || l == "cell" || l == "name"
        })
        .or_else(|| (0..names.len()).find(|&c| is_text(c)))
}

fn parse_list(s: &str) -> Option<Vec<f32>> {
    let t = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    t.split([',', ' '])
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse::<f32>().ok())
        .collect()
}

pub fn read_embedding_csv(path: &Path) -> Result<EmbeddingTable, DataError> {
    let (header, rows) = read_csv_rows(path)?;
    if rows.is_empty() {
        return Err(DataError::file(
            path,
            "no data rows (expected at least 2 items)",
        ));
    }
    let ncol = header.len();
    for (r, row) in rows.iter().enumerate() {
        if row.len() != ncol {
            return Err(DataError::line(
                path,
                r + 2,
                format!("{} fields, expected {} as in the header", row.len(), ncol),
            ));
        }
    }
    let numeric = |c: usize| {
        rows.iter().all(|row| {
            row[c].trim().parse::<f64>().is_ok() || row[c].trim().eq_ignore_ascii_case("nan")
        })
    };
    let listy = |c: usize| rows.iter().all(|row| row[c].trim_start().starts_with('['));
    let idc = id_column(&header, &|c| !numeric(c) && !listy(c));
    let ids: Vec<String> = match idc {
        Some(c) => rows.iter().map(|r| r[c].clone()).collect(),
        None => (0..rows.len()).map(|i| i.to_string()).collect(),
    };
    let list_col = (0..ncol).find(|&c| Some(c) != idc && listy(c));
    let (embedding, used): (Matrix, Vec<usize>) = if let Some(lc) = list_col {
        let mut data = Vec::new();
        let mut width = None;
        for (r, row) in rows.iter().enumerate() {
            let v = parse_list(&row[lc]).ok_or_else(|| {
                DataError::line(
                    path,
                    r + 2,
                    format!(
                        "column '{}': '{}' is not a list of numbers like [0.1, 0.2]",
                        header[lc], row[lc]
                    ),
                )
            })?;
            if *width.get_or_insert(v.len()) != v.len() {
                return Err(DataError::line(
                    path,
                    r + 2,
                    format!(
                        "column '{}': {} values, expected {} as in the first row",
                        header[lc],
                        v.len(),
                        width.unwrap_or(0)
                    ),
                ));
            }
            data.extend(v);
        }
        (
            Matrix::from_vec(rows.len(), width.unwrap_or(0), data),
            vec![lc],
        )
    } else {
        let named: Vec<usize> = (0..ncol)
            .filter(|&c| Some(c) != idc && is_embedding_name(&header[c]))
            .collect();
        let cols: Vec<usize> = if !named.is_empty() {
            named
        } else {
            (0..ncol)
                .filter(|&c| Some(c) != idc && numeric(c))
                .collect()
        };
        if cols.is_empty() {
            return Err(DataError::file(
                path,
                "no numeric columns to use as the embedding (expected an id column plus numeric or list columns)",
            ));
        }
        let mut data = Vec::with_capacity(rows.len() * cols.len());
        for (r, row) in rows.iter().enumerate() {
            for &c in &cols {
                let v: f32 = row[c].trim().parse().map_err(|_| {
                    DataError::line(
                        path,
                        r + 2,
                        format!("column '{}': '{}' is not a number", header[c], row[c]),
                    )
                })?;
                data.push(v);
            }
        }
        (Matrix::from_vec(rows.len(), cols.len(), data), cols)
    };
    check_finite(path, &embedding, &ids)?;
    let meta = (0..ncol)
        .filter(|c| Some(*c) != idc && !used.contains(c))
        .map(|c| MetaColumn::from_strings(&header[c], rows.iter().map(|r| r[c].clone()).collect()))
        .collect();
    Ok(EmbeddingTable {
        ids,
        meta,
        matrix: embedding,
    })
}

/// An embedding table in Parquet or Arrow IPC / Feather, read with polars: the id column
/// (`id`, `barcode`, `cell`, `name`, pandas' `__index_level_0__`, else the first text
/// column), the embedding (the first list or fixed-size-list column, else `emb_*`-like
/// columns, else every numeric column) and the rest as metadata.
pub fn read_embedding_columnar(path: &Path) -> Result<EmbeddingTable, DataError> {
    use crate::io::frame::{Kind, kind, meta_columns, numbers, texts, vectors};
    let df = crate::io::frame::read_columnar(path)?;
    let n = df.height();
    if n == 0 {
        return Err(DataError::file(path, "no rows (expected at least 2 items)"));
    }
    let cols = df.columns();
    let names: Vec<String> = cols.iter().map(|c| c.name().to_string()).collect();
    let is_text = |c: usize| matches!(kind(cols[c].dtype()), Kind::Text);
    let idc = names
        .iter()
        .position(|n| n == "__index_level_0__")
        .or_else(|| id_column(&names, &is_text));
    let bad = |e: String| DataError::file(path, e);
    let ids: Vec<String> = match idc {
        Some(c) if is_text(c) => texts(&cols[c]).map_err(bad)?,
        Some(c) => numbers(&cols[c])
            .map_err(bad)?
            .iter()
            .map(|x| format!("{x}"))
            .collect(),
        None => (0..n).map(|i| i.to_string()).collect(),
    };
    let list_col =
        (0..cols.len()).find(|&c| Some(c) != idc && matches!(kind(cols[c].dtype()), Kind::Vector));
    let numeric = |c: usize| Some(c) != idc && matches!(kind(cols[c].dtype()), Kind::Number);
    let (embedding, used) = if let Some(lc) = list_col {
        let (width, data) = vectors(&cols[lc]).map_err(|(r, e)| {
            DataError::file(
                path,
                format!("column '{}', record {}: {e}", names[lc], r + 1),
            )
        })?;
        (Matrix::from_vec(n, width, data), vec![lc])
    } else {
        let named: Vec<usize> = (0..cols.len())
            .filter(|&c| numeric(c) && is_embedding_name(&names[c]))
            .collect();
        let used: Vec<usize> = if named.is_empty() {
            (0..cols.len()).filter(|&c| numeric(c)).collect()
        } else {
            named
        };
        if used.is_empty() {
            return Err(DataError::file(
                path,
                "no numeric or list column to use as the embedding",
            ));
        }
        let vals: Vec<Vec<f64>> = used
            .iter()
            .map(|&c| numbers(&cols[c]))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        let mut data = Vec::with_capacity(n * used.len());
        for i in 0..n {
            for v in &vals {
                data.push(v[i] as f32);
            }
        }
        (Matrix::from_vec(n, used.len(), data), used)
    };
    check_finite(path, &embedding, &ids)?;
    let mut skip = used;
    skip.extend(idc);
    let meta = meta_columns(&df, &skip).map_err(bad)?;
    Ok(EmbeddingTable {
        ids,
        meta,
        matrix: embedding,
    })
}

/// A Parquet or IPC metadata table as header and text cells (numbers re-parsed by
/// `MetaColumn::from_strings`, as for CSV).
fn columnar_rows(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), DataError> {
    use crate::io::frame::{Kind, kind, numbers, texts};
    let df = crate::io::frame::read_columnar(path)?;
    let mut header = Vec::new();
    let mut columns: Vec<Vec<String>> = Vec::new();
    for c in df.columns() {
        let cells = match kind(c.dtype()) {
            Kind::Text => texts(c),
            Kind::Number => numbers(c).map(|v| {
                v.iter()
                    .map(|x| {
                        if x.is_nan() {
                            String::new()
                        } else {
                            format!("{x}")
                        }
                    })
                    .collect()
            }),
            Kind::Vector | Kind::Other => continue,
        }
        .map_err(|e| DataError::file(path, e))?;
        // pandas writes its index as this column; it is the id column.
        let name = match c.name().as_str() {
            "__index_level_0__" => "id".to_string(),
            n => n.to_string(),
        };
        header.push(name);
        columns.push(cells);
    }
    let rows = (0..df.height())
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect();
    Ok((header, rows))
}

/// Attaches a metadata table (CSV, TSV, Parquet, Arrow IPC / Feather): aligned by id when its
/// id column (`id`, `barcode` or `cell`, else the first) holds every item's id, by row when
/// the row count matches and fewer than half the ids are found there (a table without ids;
/// the returned note says so). Refused: an id listed twice, most ids found but not all (a
/// table of other items), a row count that matches nothing.
pub fn attach_csv(
    ids: &[String],
    meta: &mut Vec<MetaColumn>,
    path: &Path,
) -> Result<Option<String>, DataError> {
    let (header, rows) = if crate::io::frame::is_columnar(path) {
        columnar_rows(path)?
    } else {
        crate::io::text::read_csv_rows(path)?
    };
    let id_col = header
        .iter()
        .position(|h| h == "id" || h == "barcode" || h == "cell")
        .unwrap_or(0);
    let id_name = header.get(id_col).cloned().unwrap_or_default();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut repeated: Option<(&str, usize, usize)> = None;
    for (r, row) in rows.iter().enumerate() {
        if let Some(id) = row.get(id_col)
            && let Some(first) = index.insert(id.as_str(), r)
        {
            repeated.get_or_insert((id.as_str(), first, r));
        }
    }
    let matched = ids
        .iter()
        .filter(|id| index.contains_key(id.as_str()))
        .count();
    let missing = || {
        ids.iter()
            .find(|id| !index.contains_key(id.as_str()))
            .cloned()
            .unwrap_or_default()
    };
    let mut note = None;
    let by_id = matched == ids.len();
    let order: Vec<usize> = if by_id {
        if let Some((id, first, again)) = repeated {
            return Err(DataError::file(
                path,
                format!(
                    "id '{id}' is listed twice in column '{id_name}' (data rows {} and {}): \
                     each item needs one row",
                    first + 1,
                    again + 1
                ),
            ));
        }
        ids.iter().map(|id| index[id.as_str()]).collect()
    } else if rows.len() == ids.len() && matched * 2 < ids.len() {
        note = Some(format!(
            "{}: aligned by row ({matched} of {} ids found in column '{id_name}')",
            path.display(),
            ids.len()
        ));
        (0..rows.len()).collect()
    } else {
        return Err(DataError::file(
            path,
            format!(
                "metadata does not align: {matched} of {} items' ids are in column \
                 '{id_name}' (first missing: '{}'), and it has {} rows; give a row per item \
                 with its id, or a table of exactly {} rows in item order",
                ids.len(),
                missing(),
                rows.len(),
                ids.len()
            ),
        ));
    };
    for (c, name) in header.iter().enumerate() {
        if by_id && c == id_col {
            continue;
        }
        if meta.iter().any(|m| &m.name == name) || name == "id" {
            continue;
        }
        let cells = order
            .iter()
            .map(|&r| rows[r].get(c).cloned().unwrap_or_default())
            .collect();
        meta.push(MetaColumn::from_strings(name, cells));
    }
    Ok(note)
}
