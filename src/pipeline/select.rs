//! Selections evaluated against a dataset and its analysis. The points table (ids, map
//! position, cluster, anomaly scores, metadata, and any gene a predicate names) is a polars
//! DataFrame, and `where` predicates become polars expressions over it (`predicate`).

use crate::core::MetaValues;
use crate::core::selection::{Definition, Selection, SetExpr};
use crate::modality::Dataset;
use crate::pipeline::Partial;
use polars::prelude::*;
use std::collections::HashMap;

/// The row-number column every frame carries, so filters return item indices.
pub const ROW: &str = "__row";

/// Columns of the points frame that are not metadata.
pub const FIXED: [&str; 9] = [
    ROW,
    "id",
    "x",
    "y",
    "cluster",
    "anomaly_knn",
    "anomaly_iforest",
    crate::pipeline::DEPTH_SCORE,
    "anomaly_model",
];

fn f32_column(name: &str, v: &[f32]) -> Column {
    let v: Vec<Option<f32>> = v.iter().map(|&x| x.is_finite().then_some(x)).collect();
    Column::new(name.into(), v)
}

/// The points table of `ds` as far as the analysis `r` has got: `__row`, `id`, `x`, `y`,
/// `cluster`, the anomaly scores, then the metadata columns (numbers as nullable Float64,
/// text as String). A metadata column named like a fixed one is left out.
pub fn points_frame(ds: &Dataset, r: &Partial) -> PolarsResult<DataFrame> {
    let n = ds.len();
    let mut cols = vec![
        Column::new(ROW.into(), (0..n as u32).collect::<Vec<u32>>()),
        Column::new("id".into(), ds.ids.as_slice()),
    ];
    if let Some(l) = r.layout.as_deref().filter(|l| l.len() == n) {
        cols.push(f32_column("x", &l.iter().map(|p| p[0]).collect::<Vec<_>>()));
        cols.push(f32_column("y", &l.iter().map(|p| p[1]).collect::<Vec<_>>()));
    }
    if let Some(c) = r.clusters.as_deref().filter(|c| c.len() == n) {
        cols.push(Column::new("cluster".into(), c.as_slice()));
    }
    for (name, s) in [
        ("anomaly_knn", &r.anomaly_knn),
        ("anomaly_iforest", &r.anomaly_iforest),
        (crate::pipeline::DEPTH_SCORE, &r.anomaly_depth),
        ("anomaly_model", &r.anomaly_model),
    ] {
        if let Some(s) = s.as_deref().filter(|s| s.len() == n) {
            cols.push(f32_column(name, s));
        }
    }
    for m in &ds.meta {
        if FIXED.contains(&m.name.as_str()) || m.len() != n {
            continue;
        }
        cols.push(match &m.values {
            MetaValues::Number(v) => {
                let v: Vec<Option<f64>> = v.iter().map(|&x| (!x.is_nan()).then_some(x)).collect();
                Column::new(m.name.as_str().into(), v)
            }
            MetaValues::Text(v) => Column::new(m.name.as_str().into(), v.as_slice()),
        });
    }
    DataFrame::new(n, cols)
}

/// Items satisfying a predicate (see `predicate`), in item order. Names resolve to the
/// frame's columns (exact, then ignoring case), then to genes of a cells dataset, whose
/// values (log1p CP10k for counts, as colouring and markers use) join the frame.
pub fn filter_where(ds: &Dataset, r: &Partial, pred: &str) -> Result<Vec<u32>, String> {
    let mut df = points_frame(ds, r).map_err(|e| first_line(&e))?;
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .filter(|s| s != ROW)
        .collect();
    let expr = ds.expression();
    let mut frame = FrameColumns {
        df: &df,
        columns: &columns,
        expr: expr.map(|e| e.as_ref()),
        genes: Vec::new(),
    };
    let filter = super::predicate::parse(pred, &mut frame).map_err(|e| {
        if e.starts_with("no column or gene") {
            format!(
                "{e}; columns are {}{}",
                columns.join(", "),
                if expr.is_some() {
                    " and every gene (quote names with - or spaces: \"HLA-DRA\")"
                } else {
                    ""
                }
            )
        } else {
            e
        }
    })?;
    let genes = frame.genes;
    if let Some(e) = expr {
        for (column, g) in &genes {
            df.with_column(Column::new(column.as_str().into(), e.normalised_gene(*g)))
                .map_err(|e| first_line(&e))?;
        }
    }
    let out = df
        .lazy()
        .filter(filter)
        .select([col(ROW)])
        .collect()
        .map_err(|e| format!("predicate '{pred}': {}", first_line(&e)))?;
    let rows = out
        .column(ROW)
        .and_then(|c| c.u32().map(|c| c.into_no_null_iter().collect::<Vec<u32>>()))
        .map_err(|e| first_line(&e))?;
    Ok(rows)
}

/// The points frame as the predicate parser sees it: columns first, then genes.
struct FrameColumns<'a> {
    df: &'a DataFrame,
    columns: &'a [String],
    expr: Option<&'a crate::modality::cells::Expression>,
    /// Genes named so far, as (column, gene index).
    genes: Vec<(String, usize)>,
}

impl super::predicate::Columns for FrameColumns<'_> {
    fn resolve(&mut self, name: &str) -> Option<String> {
        if let Some(c) = self
            .columns
            .iter()
            .find(|c| *c == name)
            .or_else(|| self.columns.iter().find(|c| c.eq_ignore_ascii_case(name)))
        {
            return Some(c.clone());
        }
        let e = self.expr?;
        let g = e.gene_index(name)?;
        let column = format!("gene:{}", e.genes[g]);
        if !self.genes.iter().any(|(c, _)| *c == column) {
            self.genes.push((column.clone(), g));
        }
        Some(column)
    }

    fn distinct(&self, column: &str) -> Vec<String> {
        let Ok(c) = self
            .df
            .column(column)
            .and_then(|c| c.cast(&DataType::String))
        else {
            return Vec::new();
        };
        let Ok(s) = c.str() else { return Vec::new() };
        let mut v: Vec<String> = (0..s.len())
            .filter_map(|i| s.get(i))
            .map(String::from)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn first_line(e: &PolarsError) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").to_string()
}

/// The items of selection `name` among `all`, in item order. Set expressions are evaluated
/// through the selections they name; a circle or an unknown name is an error.
pub fn members(
    all: &[Selection],
    name: &str,
    ds: &Dataset,
    r: &Partial,
) -> Result<Vec<u32>, String> {
    let mut memo = HashMap::new();
    members_memo(all, name, ds, r, &mut Vec::new(), &mut memo)
}

fn members_memo(
    all: &[Selection],
    name: &str,
    ds: &Dataset,
    r: &Partial,
    stack: &mut Vec<String>,
    memo: &mut HashMap<String, Vec<u32>>,
) -> Result<Vec<u32>, String> {
    if let Some(m) = memo.get(name) {
        return Ok(m.clone());
    }
    if stack.iter().any(|s| s == name) {
        return Err(format!(
            "selections refer to each other in a circle: {} → {name}",
            stack.join(" → ")
        ));
    }
    let sel = all
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no selection named '{name}'"))?;
    let n = ds.len();
    let rows: Vec<u32> = match &sel.def {
        Definition::Where { predicate } => filter_where(ds, r, predicate)?,
        Definition::Cluster { clusters } => {
            let c = r
                .clusters
                .as_deref()
                .ok_or("no clusters yet: cluster selections wait for the clustering")?;
            (0..n as u32)
                .filter(|&i| clusters.contains(&c[i as usize]))
                .collect()
        }
        Definition::Ids { ids, .. } => {
            let want: std::collections::HashSet<&str> = ids.iter().map(|s| s.as_str()).collect();
            (0..n as u32)
                .filter(|&i| want.contains(ds.ids[i as usize].as_str()))
                .collect()
        }
        Definition::Box { x0, x1, y0, y1 } => {
            let l = r
                .layout
                .as_deref()
                .ok_or("no map yet: box selections wait for the projection")?;
            (0..n as u32)
                .filter(|&i| {
                    let p = l[i as usize];
                    p[0] >= *x0 && p[0] <= *x1 && p[1] >= *y0 && p[1] <= *y1
                })
                .collect()
        }
        Definition::Set { expr } => {
            let e = SetExpr::parse(expr)?;
            let mut names = Vec::new();
            e.names(&mut names);
            stack.push(name.to_string());
            let mut sets: HashMap<String, Vec<bool>> = HashMap::new();
            for m in &names {
                let rows = members_memo(all, m, ds, r, stack, memo)?;
                let mut mask = vec![false; n];
                for i in rows {
                    mask[i as usize] = true;
                }
                sets.insert(m.clone(), mask);
            }
            stack.pop();
            (0..n)
                .filter(|&i| e.eval(&|m| sets.get(m).is_some_and(|s| s[i])))
                .map(|i| i as u32)
                .collect()
        }
    };
    memo.insert(name.to_string(), rows.clone());
    Ok(rows)
}

/// Ids read from a file: one per line, or the first column of a CSV/TSV with a header named
/// `id`, `barcode`, `cell` or `name`. Blank lines and `#` comments are skipped.
pub fn read_ids(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the id list: {e}", path.display()))?;
    let mut ids = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let first = line.split([',', '\t']).next().unwrap_or("").trim();
        let first = first.trim_matches('"');
        if k == 0
            && ["id", "barcode", "cell", "name", "index", "obs_names"]
                .contains(&first.to_ascii_lowercase().as_str())
        {
            continue;
        }
        ids.push(first.to_string());
    }
    if ids.is_empty() {
        return Err(format!(
            "{}: no ids (expected one id per line, or a CSV/TSV whose first column holds them)",
            path.display()
        ));
    }
    Ok(ids)
}
