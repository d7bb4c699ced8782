//! 10x Matrix Market folders: `matrix.mtx[.gz]` (genes × cells, 1-based coordinates),
//! `barcodes.tsv[.gz]`, `features.tsv[.gz]` or `genes.tsv[.gz]`, and an optional `labels.csv`
//! (first column the barcode) whose columns become metadata.

use crate::core::DataError;
use crate::core::meta::MetaColumn;
use crate::io::text::open_text;
use crate::io::text::read_csv_rows;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Counts stored by cell (CSR): cell `i` has genes `genes[indptr[i]..indptr[i+1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseCounts {
    pub n_cells: usize,
    pub n_genes: usize,
    pub indptr: Vec<usize>,
    pub genes: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseCounts {
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.genes[a..b], &self.values[a..b])
    }

    /// The given cells, in that order.
    pub fn select_rows(&self, keep: &[usize]) -> Self {
        let mut indptr = Vec::with_capacity(keep.len() + 1);
        indptr.push(0);
        let (mut genes, mut values) = (Vec::new(), Vec::new());
        for &i in keep {
            let (g, v) = self.row(i);
            genes.extend_from_slice(g);
            values.extend_from_slice(v);
            indptr.push(genes.len());
        }
        Self {
            n_cells: keep.len(),
            n_genes: self.n_genes,
            indptr,
            genes,
            values,
        }
    }

    /// Per-cell sum of the values.
    pub fn totals(&self) -> Vec<f64> {
        (0..self.n_cells)
            .map(|i| self.row(i).1.iter().map(|&v| v as f64).sum())
            .collect()
    }

    /// The per-cell QC columns every cells loader adds: `total_counts` and `n_genes`
    /// (genes with a non-zero value).
    pub fn qc_columns(&self) -> [MetaColumn; 2] {
        let detected = (0..self.n_cells)
            .map(|i| self.row(i).1.iter().filter(|&&v| v != 0.0).count() as f64)
            .collect();
        [
            MetaColumn {
                name: "total_counts".into(),
                values: crate::core::meta::MetaValues::Number(self.totals()),
            },
            MetaColumn {
                name: "n_genes".into(),
                values: crate::core::meta::MetaValues::Number(detected),
            },
        ]
    }
}

/// A 10x folder as read.
#[derive(Debug, Clone)]
pub struct TenX {
    pub counts: SparseCounts,
    pub barcodes: Vec<String>,
    pub gene_names: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub files: Vec<PathBuf>,
}

fn first_existing(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.exists())
}

pub fn find_matrix(dir: &Path) -> Option<PathBuf> {
    first_existing(dir, &["matrix.mtx.gz", "matrix.mtx"])
}

fn io_err(path: &Path, line: usize, e: std::io::Error) -> DataError {
    let reason = match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "file ends early (truncated gzip?)".to_string(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("corrupt or truncated compressed data: {e}")
        }
        _ => format!("read error: {e}"),
    };
    DataError::line(path, line, reason)
}

/// The longest line read (a Matrix Market line is a few dozen bytes; a longer one is not one).
const MAX_LINE: usize = 1 << 16;
/// The largest matrix accepted: sizes come from the file's own header and are allocated.
const MAX_CELLS: usize = 200_000_000;
const MAX_GENES: usize = 10_000_000;

/// At most `n` characters of `s`, for quoting input in a message.
fn excerpt(s: &str, n: usize) -> String {
    let t = s.trim();
    if t.chars().count() <= n {
        t.to_string()
    } else {
        format!("{}…", t.chars().take(n).collect::<String>())
    }
}

/// Reads a Matrix Market coordinate matrix of genes × cells into cell-major CSR.
pub fn read_mtx<R: BufRead>(mut r: R, path: &Path) -> Result<SparseCounts, DataError> {
    let mut line = String::new();
    let mut lineno = 0usize;
    let mut next_line = |buf: &mut String, lineno: &mut usize| -> Result<bool, DataError> {
        buf.clear();
        *lineno += 1;
        match r.by_ref().take(MAX_LINE as u64 + 1).read_line(buf) {
            Ok(0) => Ok(false),
            Ok(_) if buf.len() > MAX_LINE => Err(DataError::line(
                path,
                *lineno,
                format!("line longer than {MAX_LINE} bytes (not a Matrix Market entry)"),
            )),
            Ok(_) => Ok(true),
            Err(e) => Err(io_err(path, *lineno, e)),
        }
    };
    if !next_line(&mut line, &mut lineno)? {
        return Err(DataError::file(
            path,
            "empty file (expected a %%MatrixMarket header)",
        ));
    }
    let header: Vec<String> = line.split_whitespace().map(|s| s.to_lowercase()).collect();
    if header.len() < 5 || header[0] != "%%matrixmarket" || header[1] != "matrix" {
        return Err(DataError::line(
            path,
            1,
            format!(
                "expected '%%MatrixMarket matrix coordinate <type> general', found '{}'",
                excerpt(&line, 80)
            ),
        ));
    }
    if header[2] != "coordinate" {
        return Err(DataError::line(
            path,
            1,
            format!(
                "only 'coordinate' matrices are supported, found '{}'",
                header[2]
            ),
        ));
    }
    let integer = match header[3].as_str() {
        "integer" => true,
        "real" | "double" => false,
        other => {
            return Err(DataError::line(
                path,
                1,
                format!("value type '{other}' is not supported (expected integer or real)"),
            ));
        }
    };
    if header[4] != "general" {
        return Err(DataError::line(
            path,
            1,
            format!(
                "symmetry '{}' is not supported (expected general)",
                header[4]
            ),
        ));
    }
    // Skip comments up to the size line.
    loop {
        if !next_line(&mut line, &mut lineno)? {
            return Err(DataError::line(
                path,
                lineno,
                "file ends before the size line 'rows cols entries'",
            ));
        }
        if !line.starts_with('%') && !line.trim().is_empty() {
            break;
        }
    }
    let size: Vec<usize> = line
        .split_whitespace()
        .map(|t| t.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            DataError::line(
                path,
                lineno,
                format!(
                    "expected the size line 'rows cols entries', found '{}'",
                    excerpt(&line, 80)
                ),
            )
        })?;
    if size.len() != 3 {
        return Err(DataError::line(
            path,
            lineno,
            format!(
                "expected 3 numbers 'rows cols entries', found '{}'",
                excerpt(&line, 80)
            ),
        ));
    }
    let (n_genes, n_cells, nnz) = (size[0], size[1], size[2]);
    if n_genes > MAX_GENES || n_cells > MAX_CELLS {
        return Err(DataError::line(
            path,
            lineno,
            format!(
                "size {n_genes} genes × {n_cells} cells is beyond what biolens reads (at most {MAX_GENES} genes and {MAX_CELLS} cells)"
            ),
        ));
    }
    if nnz as u128 > n_genes as u128 * n_cells as u128 {
        return Err(DataError::line(
            path,
            lineno,
            format!("{nnz} entries cannot fit a {n_genes} × {n_cells} matrix"),
        ));
    }
    // The header's entry count is a claim: grow towards it as entries arrive.
    let mut trip: Vec<(u32, u32, f32)> = Vec::with_capacity(nnz.min(1 << 20));
    while trip.len() < nnz {
        if !next_line(&mut line, &mut lineno)? {
            return Err(DataError::line(
                path,
                lineno,
                format!(
                    "file ends after {} of {} entries (truncated?)",
                    trip.len(),
                    nnz
                ),
            ));
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        let mut it = t.split_whitespace();
        let bad = |what: &str| {
            DataError::line(
                path,
                lineno,
                format!(
                    "{what} in entry '{}' (expected 'gene cell value')",
                    excerpt(t, 60)
                ),
            )
        };
        let g: usize = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad row index"))?;
        let c: usize = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad column index"))?;
        let v: f64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad value"))?;
        if g == 0 || g > n_genes || c == 0 || c > n_cells {
            return Err(DataError::line(
                path,
                lineno,
                format!("entry ({g}, {c}) is outside the stated {n_genes} × {n_cells} matrix"),
            ));
        }
        if !v.is_finite() || v < 0.0 || v > f32::MAX as f64 {
            return Err(DataError::line(
                path,
                lineno,
                format!("value {v} is not a non-negative finite count (within float32)"),
            ));
        }
        if integer && v.fract() != 0.0 {
            return Err(DataError::line(
                path,
                lineno,
                format!("value {v} is not an integer in an 'integer' matrix"),
            ));
        }
        if v != 0.0 {
            trip.push(((c - 1) as u32, (g - 1) as u32, v as f32));
        } else {
            trip.push((u32::MAX, 0, 0.0));
        }
    }
    trip.retain(|t| t.0 != u32::MAX);
    trip.sort_unstable_by_key(|t| ((t.0 as u64) << 32) | t.1 as u64);
    let mut indptr = vec![0usize; n_cells + 1];
    let mut genes = Vec::with_capacity(trip.len());
    let mut values = Vec::with_capacity(trip.len());
    for w in 0..trip.len() {
        let (c, g, v) = trip[w];
        if w > 0 && trip[w - 1].0 == c && trip[w - 1].1 == g {
            return Err(DataError::file(
                path,
                format!("entry ({}, {}) appears twice", g + 1, c + 1),
            ));
        }
        indptr[c as usize + 1] += 1;
        genes.push(g);
        values.push(v);
    }
    for i in 0..n_cells {
        indptr[i + 1] += indptr[i];
    }
    Ok(SparseCounts {
        n_cells,
        n_genes,
        indptr,
        genes,
        values,
    })
}

fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let r = open_text(path)?;
    let mut out = Vec::new();
    for (i, l) in r.lines().enumerate() {
        let l = l.map_err(|e| io_err(path, i + 1, e))?;
        if !l.trim().is_empty() {
            out.push(l);
        }
    }
    Ok(out)
}

/// Reads a 10x folder; cells with zero counts are kept (they are reported, not dropped).
pub fn read_10x_folder(dir: &Path) -> Result<TenX, DataError> {
    let mpath =
        find_matrix(dir).ok_or_else(|| DataError::file(dir, "no matrix.mtx or matrix.mtx.gz"))?;
    let bpath = first_existing(dir, &["barcodes.tsv.gz", "barcodes.tsv"]).ok_or_else(|| {
        DataError::file(dir, "no barcodes.tsv or barcodes.tsv.gz beside the matrix")
    })?;
    let fpath = first_existing(
        dir,
        &[
            "features.tsv.gz",
            "features.tsv",
            "genes.tsv.gz",
            "genes.tsv",
        ],
    )
    .ok_or_else(|| {
        DataError::file(
            dir,
            "no features.tsv(.gz) or genes.tsv(.gz) beside the matrix",
        )
    })?;
    let counts = read_mtx(open_text(&mpath)?, &mpath)?;
    let barcodes: Vec<String> = read_lines(&bpath)?
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    if barcodes.len() != counts.n_cells {
        return Err(DataError::file(
            &bpath,
            format!(
                "{} barcodes but the matrix has {} cells (columns)",
                barcodes.len(),
                counts.n_cells
            ),
        ));
    }
    let gene_names: Vec<String> = read_lines(&fpath)?
        .into_iter()
        .map(|l| {
            let mut f = l.split('\t');
            let id = f.next().unwrap_or("").to_string();
            f.next().map(str::to_string).unwrap_or(id)
        })
        .collect();
    if gene_names.len() != counts.n_genes {
        return Err(DataError::file(
            &fpath,
            format!(
                "{} features but the matrix has {} genes (rows)",
                gene_names.len(),
                counts.n_genes
            ),
        ));
    }
    let mut files = vec![mpath, bpath, fpath];
    let mut meta = Vec::new();
    meta.extend(counts.qc_columns());
    if let Some(lpath) = first_existing(dir, &["labels.csv", "labels.csv.gz"]) {
        let (header, rows) = read_csv_rows(&lpath)?;
        if rows.len() != barcodes.len() {
            return Err(DataError::file(
                &lpath,
                format!(
                    "{} rows but the matrix has {} cells",
                    rows.len(),
                    barcodes.len()
                ),
            ));
        }
        for (r, (row, bc)) in rows.iter().zip(&barcodes).enumerate() {
            if row.first().map(String::as_str) != Some(bc.as_str()) {
                return Err(DataError::line(
                    &lpath,
                    r + 2,
                    format!(
                        "first column '{}' does not match barcode '{}' (labels must be in barcode order)",
                        row.first().cloned().unwrap_or_default(),
                        bc
                    ),
                ));
            }
        }
        for (c, name) in header.iter().enumerate().skip(1) {
            let cells = rows
                .iter()
                .map(|row| row.get(c).cloned().unwrap_or_default())
                .collect();
            meta.push(MetaColumn::from_strings(name, cells));
        }
        files.push(lpath);
    }
    Ok(TenX {
        counts,
        barcodes,
        gene_names,
        meta,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_values_from_a_hostile_header_are_errors_not_allocations() {
        let head = "%%MatrixMarket matrix coordinate real general\n";
        for (body, expect) in [
            ("1 1 100000000000000\n", "cannot fit"),
            ("100000000000 100000000000 1\n", "beyond what biolens reads"),
            ("1 18446744073709551615 0\n", "beyond what biolens reads"),
            ("2 2 1\n1 1 1e39\n", "within float32"),
            ("2 2 1\n1 3 1\n", "outside the stated"),
        ] {
            let text = format!("{head}{body}");
            let e = read_mtx(text.as_bytes(), Path::new("m.mtx"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(expect) && e.starts_with("m.mtx:"),
                "{body:?}: {e}"
            );
        }
        // A line of a million NUL bytes is refused after 64 KiB, quoted in a few characters.
        let mut text = head.as_bytes().to_vec();
        text.extend(std::iter::repeat_n(0u8, 1_000_000));
        let e = read_mtx(text.as_slice(), Path::new("m.mtx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("longer than") && e.len() < 200,
            "{}",
            &e[..e.len().min(300)]
        );
    }

    #[test]
    fn reads_small_matrix_from_memory() {
        let text =
            "%%MatrixMarket matrix coordinate integer general\n% c\n3 2 3\n1 1 5\n3 1 2\n2 2 7\n";
        let m = read_mtx(text.as_bytes(), Path::new("m.mtx")).unwrap();
        assert_eq!((m.n_genes, m.n_cells), (3, 2));
        assert_eq!(m.row(0), (&[0u32, 2][..], &[5.0f32, 2.0][..]));
        assert_eq!(m.row(1), (&[1u32][..], &[7.0f32][..]));
    }

    #[test]
    fn entry_outside_dimensions_names_the_line() {
        let text = "%%MatrixMarket matrix coordinate integer general\n3 2 2\n1 1 5\n4 1 2\n";
        let e = read_mtx(text.as_bytes(), Path::new("m.mtx"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "m.mtx:4: entry (4, 1) is outside the stated 3 × 2 matrix"
        );
    }

    #[test]
    fn bad_header_is_reported() {
        let e = read_mtx("hello\n".as_bytes(), Path::new("m.mtx"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.mtx:1: expected '%%MatrixMarket"), "{e}");
    }
}
