//! A training run's metrics log, read as it grows: a CSV with a header (Lightning's
//! `metrics.csv`, where each row fills only some columns) or JSON lines. Only whole lines
//! are read; a line still being written waits for its newline.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The columns that give a row's place on the x axis, in order of preference.
pub const STEP_COLUMNS: [&str; 4] = ["step", "global_step", "epoch", "iteration"];

/// Every numeric column of the log so far, each row's value or NaN where it has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub columns: Vec<String>,
    /// Aligned with `columns`; each as long as the rows read.
    pub values: Vec<Vec<f64>>,
}

impl Metrics {
    pub fn rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        let k = self.columns.iter().position(|c| c == name)?;
        Some(&self.values[k])
    }

    /// The x axis: the first of `STEP_COLUMNS` present, else the row number. A step missing
    /// from a row takes the last one seen (Lightning logs epoch-level rows without a step).
    pub fn steps(&self) -> (String, Vec<f64>) {
        for name in STEP_COLUMNS {
            if let Some(v) = self.column(name) {
                let mut last = 0.0;
                let filled = v
                    .iter()
                    .map(|&x| {
                        if x.is_finite() {
                            last = x;
                        }
                        last
                    })
                    .collect();
                return (name.to_string(), filled);
            }
        }
        ("row".into(), (0..self.rows()).map(|i| i as f64).collect())
    }

    /// The columns worth plotting: numeric, not a step, with at least one value.
    pub fn series(&self) -> Vec<&str> {
        self.columns
            .iter()
            .zip(&self.values)
            .filter(|(c, v)| !STEP_COLUMNS.contains(&c.as_str()) && v.iter().any(|x| x.is_finite()))
            .map(|(c, _)| c.as_str())
            .collect()
    }

    /// Adds a row of (column, value); columns not seen before join, empty in earlier rows.
    fn push_row(&mut self, row: &[(String, f64)]) {
        let n = self.rows();
        for (k, _) in row {
            if !self.columns.contains(k) {
                self.columns.push(k.clone());
                self.values.push(vec![f64::NAN; n]);
            }
        }
        for (c, v) in self.columns.iter().zip(self.values.iter_mut()) {
            v.push(
                row.iter()
                    .find(|(k, _)| k == c)
                    .map_or(f64::NAN, |(_, x)| *x),
            );
        }
    }
}

/// Reads a metrics log from where the last read stopped.
#[derive(Debug)]
pub struct MetricsLog {
    pub path: PathBuf,
    offset: u64,
    header: Option<Vec<String>>,
    json: Option<bool>,
    line: usize,
    pub metrics: Metrics,
}

impl MetricsLog {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            header: None,
            json: None,
            line: 0,
            metrics: Metrics::default(),
        }
    }

    /// Reads the whole lines appended since the last call; returns how many rows were added.
    /// A file that shrank (a run restarted) is read again from the start. A malformed line is
    /// an error naming the file and line.
    pub fn update(&mut self) -> Result<usize, String> {
        let path = self.path.clone();
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(err(e)),
        };
        let len = f.metadata().map_err(err)?.len();
        if len < self.offset {
            *self = MetricsLog::new(&path);
        }
        f.seek(SeekFrom::Start(self.offset)).map_err(err)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(err)?;
        // Only up to the last newline: the rest is a line still being written.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(0);
        };
        self.offset += end as u64 + 1;
        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
        let before = self.metrics.rows();
        for raw in text.lines() {
            self.line += 1;
            let l = raw.trim();
            if l.is_empty() {
                continue;
            }
            let json = *self.json.get_or_insert(l.starts_with('{'));
            let row = if json {
                json_row(l)
            } else if self.header.is_none() {
                self.header = Some(split_csv(l).into_iter().map(|s| s.to_string()).collect());
                continue;
            } else {
                self.csv_row(l)
            }
            .map_err(|e| format!("{} line {}: {e}", self.path.display(), self.line))?;
            self.metrics.push_row(&row);
        }
        Ok(self.metrics.rows() - before)
    }

    fn csv_row(&self, l: &str) -> Result<Vec<(String, f64)>, String> {
        let header = self.header.as_deref().unwrap_or(&[]);
        let cells = split_csv(l);
        if cells.len() != header.len() {
            return Err(format!(
                "{} fields where the header has {}",
                cells.len(),
                header.len()
            ));
        }
        Ok(header
            .iter()
            .zip(cells)
            .filter_map(|(h, c)| c.trim().parse::<f64>().ok().map(|v| (h.clone(), v)))
            .collect())
    }
}

fn split_csv(l: &str) -> Vec<&str> {
    l.split(',').map(|s| s.trim().trim_matches('"')).collect()
}

/// One JSON object's numeric fields (text and nested values are left out).
fn json_row(l: &str) -> Result<Vec<(String, f64)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(l).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    Ok(obj
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_lightning_csv_is_read_as_it_grows_and_a_partial_line_waits() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metrics.csv");
        let mut f = std::fs::File::create(&p).unwrap();
        write!(
            f,
            "epoch,step,train_loss,val_loss\n0,9,1.5,\n0,9,,1.7\n1,19,1.2"
        )
        .unwrap();
        f.flush().unwrap();
        let mut log = MetricsLog::new(&p);
        assert_eq!(log.update().unwrap(), 2);
        writeln!(f, ",").unwrap();
        assert_eq!(log.update().unwrap(), 1);
        let m = &log.metrics;
        assert_eq!(m.steps(), ("step".to_string(), vec![9.0, 9.0, 19.0]));
        let t = m.column("train_loss").unwrap();
        assert_eq!((t[0], t[1].is_nan(), t[2]), (1.5, true, 1.2));
        assert_eq!(m.series(), vec!["train_loss", "val_loss"]);
    }

    #[test]
    fn json_lines_and_a_bad_line_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.jsonl");
        std::fs::write(
            &p,
            "{\"epoch\": 1, \"loss\": 0.5, \"tag\": \"x\"}\n{\"loss\": 0.4}\n",
        )
        .unwrap();
        let mut log = MetricsLog::new(&p);
        assert_eq!(log.update().unwrap(), 2);
        assert_eq!(log.metrics.steps().1, vec![1.0, 1.0]);
        std::fs::write(
            &p,
            "{\"epoch\": 1, \"loss\": 0.5, \"tag\": \"x\"}\n{\"loss\": 0.4}\nnot json\n",
        )
        .unwrap();
        let e = log.update().unwrap_err();
        assert!(e.contains("m.jsonl line 3"), "{e}");
    }
}
