//! Metadata columns that travel with the items: numeric or text (categorical).

use super::{DataError, Dataset};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValues {
    Text(Vec<String>),
    Number(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetaColumn {
    pub name: String,
    pub values: MetaValues,
}

impl MetaColumn {
    /// Builds a column from text cells: numeric if every non-empty cell parses as a number.
    pub fn from_strings(name: &str, cells: Vec<String>) -> Self {
        let numeric = cells.iter().any(|c| !c.is_empty())
            && cells
                .iter()
                .all(|c| c.is_empty() || c.parse::<f64>().is_ok());
        let values = if numeric {
            MetaValues::Number(
                cells
                    .iter()
                    .map(|c| c.parse::<f64>().unwrap_or(f64::NAN))
                    .collect(),
            )
        } else {
            MetaValues::Text(cells)
        };
        Self {
            name: name.to_string(),
            values,
        }
    }

    pub fn len(&self) -> usize {
        match &self.values {
            MetaValues::Text(v) => v.len(),
            MetaValues::Number(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of item `i` as display text.
    pub fn display(&self, i: usize) -> String {
        match &self.values {
            MetaValues::Text(v) => v[i].clone(),
            MetaValues::Number(v) => {
                let x = v[i];
                if x.is_nan() {
                    String::new()
                } else if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x:.4}")
                }
            }
        }
    }

    pub fn is_text(&self) -> bool {
        matches!(self.values, MetaValues::Text(_))
    }

    pub fn select(&self, idx: &[usize]) -> MetaColumn {
        let values = match &self.values {
            MetaValues::Text(v) => MetaValues::Text(idx.iter().map(|&i| v[i].clone()).collect()),
            MetaValues::Number(v) => MetaValues::Number(idx.iter().map(|&i| v[i]).collect()),
        };
        MetaColumn {
            name: self.name.clone(),
            values,
        }
    }
}

/// Reads a CSV with a header; returns (header, rows).
pub fn read_csv_rows(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), DataError> {
    let rdr = super::open_text(path)?;
    let delim = if path.to_string_lossy().contains(".tsv") {
        b'\t'
    } else {
        b','
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .from_reader(rdr);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| DataError::line(path, 1, format!("cannot read the header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(i + 2, |p| p.line() as usize);
            DataError::line(path, line, format!("malformed CSV record: {e}"))
        })?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    Ok((header, rows))
}

/// Attaches a metadata CSV: aligned by id when its first column (or one named `id`/`barcode`)
/// holds the dataset's ids, otherwise by row when the row count matches.
pub fn attach_csv(ds: &mut Dataset, path: &Path) -> Result<(), DataError> {
    let (header, rows) = read_csv_rows(path)?;
    let id_col = header
        .iter()
        .position(|h| h == "id" || h == "barcode" || h == "cell")
        .unwrap_or(0);
    let index: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(r, row)| row.get(id_col).map(|s| (s.as_str(), r)))
        .collect();
    let by_id = ds.ids.iter().all(|id| index.contains_key(id.as_str()));
    let order: Vec<usize> = if by_id {
        ds.ids.iter().map(|id| index[id.as_str()]).collect()
    } else if rows.len() == ds.len() {
        (0..rows.len()).collect()
    } else {
        let missing = ds
            .ids
            .iter()
            .find(|id| !index.contains_key(id.as_str()))
            .cloned()
            .unwrap_or_default();
        return Err(DataError::file(
            path,
            format!(
                "metadata does not align: {} rows for {} items, and id '{}' is not in column '{}'",
                rows.len(),
                ds.len(),
                missing,
                header.get(id_col).cloned().unwrap_or_default()
            ),
        ));
    };
    for (c, name) in header.iter().enumerate() {
        if by_id && c == id_col {
            continue;
        }
        if ds.meta.iter().any(|m| &m.name == name) || name == "id" {
            continue;
        }
        let cells = order
            .iter()
            .map(|&r| rows[r].get(c).cloned().unwrap_or_default())
            .collect();
        ds.meta.push(MetaColumn::from_strings(name, cells));
    }
    Ok(())
}
