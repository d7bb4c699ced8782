//! Motif files: JASPAR (raw count matrices) and MEME minimal format (letter probabilities), read
//! into one type; MEME written back for discovered motifs.

use crate::core::DataError;
use std::path::Path;

/// A DNA motif: per-position probabilities of A, C, G, T.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    pub id: String,
    pub name: String,
    pub probs: Vec<[f64; 4]>,
    /// Sites behind the matrix (count sum of a JASPAR column, MEME's `nsites`).
    pub nsites: f64,
}

impl Motif {
    pub fn width(&self) -> usize {
        self.probs.len()
    }

    /// Information content of each column in bits (uniform background).
    pub fn information(&self) -> Vec<f64> {
        self.probs
            .iter()
            .map(|col| {
                2.0 + col
                    .iter()
                    .filter(|&&p| p > 0.0)
                    .map(|&p| p * p.log2())
                    .sum::<f64>()
            })
            .collect()
    }

    /// IUPAC consensus: a letter above half, a two-letter code when two make up 3/4.
    pub fn consensus(&self) -> String {
        const B: [char; 4] = ['A', 'C', 'G', 'T'];
        self.probs
            .iter()
            .map(|c| {
                let mut o = [0usize, 1, 2, 3];
                o.sort_by(|&a, &b| c[b].total_cmp(&c[a]));
                if c[o[0]] >= 0.5 && c[o[0]] >= 2.0 * c[o[1]] {
                    B[o[0]]
                } else if c[o[0]] + c[o[1]] >= 0.75 {
                    let (x, y) = (o[0].min(o[1]), o[0].max(o[1]));
                    match (x, y) {
                        (0, 1) => 'M',
                        (0, 2) => 'R',
                        (0, 3) => 'W',
                        (1, 2) => 'S',
                        (1, 3) => 'Y',
                        _ => 'K',
                    }
                } else {
                    'N'
                }
            })
            .collect()
    }

    pub fn reverse_complement(&self) -> Motif {
        Motif {
            probs: self
                .probs
                .iter()
                .rev()
                .map(|c| [c[3], c[2], c[1], c[0]])
                .collect(),
            ..self.clone()
        }
    }
}

/// Reads a JASPAR or MEME file, telling them apart by content.
pub fn read_motifs(path: &Path) -> Result<Vec<Motif>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let motifs = if text.contains("MEME version") || text.lines().any(|l| l.starts_with("MOTIF ")) {
        parse_meme(path, &text)?
    } else {
        parse_jaspar(path, &text)?
    };
    if motifs.is_empty() {
        return Err(DataError::file(
            path,
            "no motifs found (expected JASPAR '>ID NAME' + A/C/G/T rows, or MEME 'MOTIF' + 'letter-probability matrix')",
        ));
    }
    Ok(motifs)
}

fn parse_jaspar(path: &Path, text: &str) -> Result<Vec<Motif>, DataError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() {
            i += 1;
            continue;
        }
        let Some(head) = l.strip_prefix('>') else {
            return Err(DataError::line(
                path,
                i + 1,
                format!("expected a '>ID NAME' header line, found '{l}'"),
            ));
        };
        let mut parts = head.split_whitespace();
        let id = parts.next().unwrap_or("").to_string();
        let name = parts.collect::<Vec<_>>().join(" ");
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for (r, letter) in ['A', 'C', 'G', 'T'].iter().enumerate() {
            let ln = i + 1 + r;
            let Some(row) = lines.get(ln) else {
                return Err(DataError::line(
                    path,
                    ln + 1,
                    format!("motif '{id}': file ends before the {letter} row"),
                ));
            };
            let row = row.trim();
            let body = row
                .strip_prefix(*letter)
                .map(|s| s.trim().trim_start_matches('[').trim_end_matches(']'))
                .ok_or_else(|| {
                    DataError::line(
                        path,
                        ln + 1,
                        format!("motif '{id}': expected the {letter} row, found '{row}'"),
                    )
                })?;
            let vals: Result<Vec<f64>, _> = body.split_whitespace().map(str::parse).collect();
            let vals = vals.map_err(|_| {
                DataError::line(
                    path,
                    ln + 1,
                    format!("motif '{id}': {letter} row has a value that is not a number"),
                )
            })?;
            if vals.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(DataError::line(
                    path,
                    ln + 1,
                    format!("motif '{id}': counts must be finite and non-negative"),
                ));
            }
            rows.push(vals);
        }
        let w = rows[0].len();
        if w == 0 || rows.iter().any(|r| r.len() != w) {
            return Err(DataError::line(
                path,
                i + 2,
                format!("motif '{id}': the four rows must have the same, non-zero length"),
            ));
        }
        let mut probs = Vec::with_capacity(w);
        let mut nsites: f64 = 0.0;
        let (a, cc, g, t) = (&rows[0], &rows[1], &rows[2], &rows[3]);
        for (c, (((&xa, &xc), &xg), &xt)) in a.iter().zip(cc).zip(g).zip(t).enumerate() {
            let col = [xa, xc, xg, xt];
            let s: f64 = col.iter().sum();
            if s <= 0.0 {
                return Err(DataError::line(
                    path,
                    i + 2,
                    format!("motif '{id}': column {} has no counts", c + 1),
                ));
            }
            nsites = nsites.max(s);
            probs.push(col.map(|v| v / s));
        }
        out.push(Motif {
            id,
            name,
            probs,
            nsites,
        });
        i += 5;
    }
    Ok(out)
}

fn parse_meme(path: &Path, text: &str) -> Result<Vec<Motif>, DataError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut current: Option<(String, String)> = None;
    while i < lines.len() {
        let l = lines[i].trim();
        if let Some(rest) = l.strip_prefix("MOTIF ") {
            let mut p = rest.split_whitespace();
            let id = p.next().unwrap_or("").to_string();
            current = Some((id, p.collect::<Vec<_>>().join(" ")));
        } else if l.starts_with("letter-probability matrix") {
            let Some((id, name)) = current.take() else {
                return Err(DataError::line(
                    path,
                    i + 1,
                    "a letter-probability matrix without a MOTIF line before it",
                ));
            };
            let field = |key: &str| -> Option<f64> {
                let pos = l.find(key)?;
                l[pos + key.len()..].split_whitespace().next()?.parse().ok()
            };
            let w = field("w=").ok_or_else(|| {
                DataError::line(path, i + 1, format!("motif '{id}': missing 'w= WIDTH'"))
            })?;
            // The width is trusted only as far as the file has rows for it.
            let rows_left = lines.len() - i - 1;
            if w.fract() != 0.0 || w < 1.0 || w > rows_left as f64 {
                return Err(DataError::line(
                    path,
                    i + 1,
                    format!(
                        "motif '{id}': w= {w}, expected a whole number of rows from 1 to the \
                         {rows_left} lines left in the file"
                    ),
                ));
            }
            let w = w as usize;
            let nsites = field("nsites=")
                .filter(|n| n.is_finite() && *n >= 0.0)
                .unwrap_or(20.0);
            if let Some(a) = field("alength=")
                && a as usize != 4
            {
                return Err(DataError::line(
                    path,
                    i + 1,
                    format!("motif '{id}': alength= {a}, expected 4 (DNA)"),
                ));
            }
            let mut probs = Vec::with_capacity(w);
            for r in 0..w {
                let ln = i + 1 + r;
                let row = lines.get(ln).map(|s| s.trim()).unwrap_or("");
                let vals: Vec<f64> = row
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        DataError::line(
                            path,
                            ln + 1,
                            format!(
                                "motif '{id}': row {} of {w}: expected 4 probabilities, found '{row}'",
                                r + 1
                            ),
                        )
                    })?;
                if vals.len() != 4 {
                    return Err(DataError::line(
                        path,
                        ln + 1,
                        format!(
                            "motif '{id}': row {} of {w}: expected 4 probabilities, found {}",
                            r + 1,
                            vals.len()
                        ),
                    ));
                }
                let s: f64 = vals.iter().sum();
                if vals.iter().any(|v| !v.is_finite() || *v < 0.0) || (s - 1.0).abs() > 0.02 {
                    return Err(DataError::line(
                        path,
                        ln + 1,
                        format!("motif '{id}': probabilities must be ≥ 0 and sum to 1 (sum {s})"),
                    ));
                }
                probs.push([vals[0] / s, vals[1] / s, vals[2] / s, vals[3] / s]);
            }
            out.push(Motif {
                id,
                name,
                probs,
                nsites,
            });
            i += w;
        }
        i += 1;
    }
    if let Some((id, _)) = current {
        return Err(DataError::file(
            path,
            format!("motif '{id}' has no letter-probability matrix"),
        ));
    }
    Ok(out)
}

/// MEME minimal format text for `motifs` (uniform background), without E-values.
pub fn meme_text(motifs: &[Motif]) -> String {
    let scored: Vec<(&Motif, Option<f64>)> = motifs.iter().map(|m| (m, None)).collect();
    meme_text_scored(&scored)
}

/// MEME minimal format text, each motif with its E-value where it has one (a database motif
/// has none, and its line then carries no `E=`, which MEME's parsers accept).
pub fn meme_text_scored(motifs: &[(&Motif, Option<f64>)]) -> String {
    let mut s = String::from(
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n",
    );
    for (m, evalue) in motifs {
        s.push_str(&format!("MOTIF {} {}\n", m.id, m.name));
        s.push_str(&format!(
            "letter-probability matrix: alength= 4 w= {} nsites= {}{}\n",
            m.width(),
            m.nsites.round() as u64,
            evalue.map_or(String::new(), |e| format!(" E= {e:.1e}"))
        ));
        for c in &m.probs {
            s.push_str(&format!(
                " {:.6}  {:.6}  {:.6}  {:.6}\n",
                c[0], c[1], c[2], c[3]
            ));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaspar_and_meme_agree_and_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("m.jaspar");
        std::fs::write(
            &j,
            ">MA0001.1\tTEST one\nA [ 10 0 0 ]\nC [ 0 10 0 ]\nG [ 0 0 5 ]\nT [ 0 0 5 ]\n",
        )
        .unwrap();
        let a = read_motifs(&j).unwrap();
        assert_eq!(a[0].name, "TEST one");
        assert_eq!(a[0].consensus(), "ACK");
        let m = d.path().join("m.meme");
        std::fs::write(&m, meme_text(&a)).unwrap();
        let b = read_motifs(&m).unwrap();
        assert_eq!(b[0].id, "MA0001.1");
        for (x, y) in a[0].probs.iter().zip(&b[0].probs) {
            for k in 0..4 {
                assert!((x[k] - y[k]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn malformed_files_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("bad.jaspar");
        std::fs::write(&j, ">M1 x\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 z ]\nT [ 1 2 ]\n").unwrap();
        let e = read_motifs(&j).unwrap_err().to_string();
        assert!(e.contains("bad.jaspar:4:") && e.contains("'M1'"), "{e}");
        let m = d.path().join("bad.meme");
        std::fs::write(
            &m,
            "MEME version 4\nMOTIF X y\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n0.5 0.5\n",
        )
        .unwrap();
        let e = read_motifs(&m).unwrap_err().to_string();
        assert!(e.contains("bad.meme:5:") && e.contains("expected 4"), "{e}");
        let t = d.path().join("text.txt");
        std::fs::write(&t, "hello\n").unwrap();
        assert!(read_motifs(&t).is_err());
        // Widths the file cannot hold are refused before anything is allocated.
        for w in ["1000000000", "1e20", "2.5", "-3", "0"] {
            std::fs::write(
                &m,
                format!(
                    "MEME version 4\nMOTIF X y\nletter-probability matrix: alength= 4 w= {w}\n0.25 0.25 0.25 0.25\n"
                ),
            )
            .unwrap();
            let e = read_motifs(&m).unwrap_err().to_string();
            assert!(e.contains("bad.meme:3:") && e.contains("w="), "w= {w}: {e}");
        }
    }
}
