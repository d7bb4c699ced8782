//! Text inputs: gzip-transparent opening and CSV/TSV rows with their header.

use crate::core::DataError;
use std::path::Path;

/// Opens a file for buffered reading, transparently decompressing `.gz`.
pub fn open_text(path: &Path) -> Result<Box<dyn std::io::BufRead>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(std::io::BufReader::new(
            flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f)),
        )))
    } else {
        Ok(Box::new(std::io::BufReader::new(f)))
    }
}

/// Reads a CSV with a header; returns (header, rows).
pub fn read_csv_rows(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), DataError> {
    let rdr = crate::io::text::open_text(path)?;
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
