//! NumPy `.npy` arrays (format 1.0–3.0): 2-D float32 or float64, little or big endian, C or
//! Fortran order. Ids are row numbers unless `--meta` supplies them.

use crate::core::DataError;
use crate::core::matrix::Matrix;
use crate::core::matrix::check_finite;
use crate::io::tables::EmbeddingTable;
use std::io::Read;
use std::path::Path;

/// Parses an .npy byte stream into a matrix.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<Matrix, DataError> {
    read_npy(bytes, path)
}

/// Reads an .npy stream, converting the body in chunks so a large file is never held twice
/// in memory.
pub fn read_npy<R: Read>(mut r: R, path: &Path) -> Result<Matrix, DataError> {
    let short = |what: &str| DataError::file(path, format!("file ends early ({what})"));
    let mut pre = [0u8; 10];
    r.read_exact(&mut pre)
        .map_err(|_| DataError::file(path, "not an .npy file (missing the \\x93NUMPY magic)"))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(DataError::file(
            path,
            "not an .npy file (missing the \\x93NUMPY magic)",
        ));
    }
    let major = pre[6];
    let hlen = match major {
        1 => u16::from_le_bytes([pre[8], pre[9]]) as usize,
        2 | 3 => {
            let mut more = [0u8; 2];
            r.read_exact(&mut more)
                .map_err(|_| short("header length"))?;
            u32::from_le_bytes([pre[8], pre[9], more[0], more[1]]) as usize
        }
        _ => {
            return Err(DataError::file(
                path,
                format!("unsupported .npy format version {major}"),
            ));
        }
    };
    let mut hbytes = vec![0u8; hlen];
    r.read_exact(&mut hbytes)
        .map_err(|_| DataError::file(path, "truncated header"))?;
    let header =
        std::str::from_utf8(&hbytes).map_err(|_| DataError::file(path, "header is not text"))?;
    let field = |key: &str| -> Option<String> {
        let k = header.find(&format!("'{key}'"))?;
        let rest = header[k + key.len() + 2..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        if let Some(r) = rest.strip_prefix('\'') {
            Some(r[..r.find('\'')?].to_string())
        } else if let Some(r) = rest.strip_prefix('(') {
            Some(r[..r.find(')')?].to_string())
        } else {
            Some(rest.split([',', '}']).next()?.trim().to_string())
        }
    };
    let descr = field("descr").ok_or_else(|| DataError::file(path, "header has no 'descr'"))?;
    let fortran = field("fortran_order").is_some_and(|v| v == "True");
    let shape: Vec<usize> = field("shape")
        .ok_or_else(|| DataError::file(path, "header has no 'shape'"))?
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| DataError::file(path, "shape is not a tuple of integers"))?;
    if shape.len() != 2 {
        return Err(DataError::file(
            path,
            format!("expected a 2-D array (items × dimensions), got shape {shape:?}"),
        ));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let (width, big, float64) = match descr.as_str() {
        "<f4" | "|f4" | "=f4" => (4, false, false),
        ">f4" => (4, true, false),
        "<f8" | "|f8" | "=f8" => (8, false, true),
        ">f8" => (8, true, true),
        other => {
            return Err(DataError::file(
                path,
                format!("dtype '{other}' is not supported (expected float32 or float64)"),
            ));
        }
    };
    if rows == 0 || cols == 0 {
        return Err(DataError::file(
            path,
            format!("shape ({rows}, {cols}) has no items or no dimensions"),
        ));
    }
    let total = rows
        .checked_mul(cols)
        .filter(|t| t.checked_mul(width).is_some())
        .ok_or_else(|| DataError::file(path, format!("shape ({rows}, {cols}) is too large")))?;
    // The header's shape is a claim: memory grows with the values actually read.
    let mut data: Vec<f32> = Vec::with_capacity(total.min(1 << 24));
    let per_chunk = (1 << 20) / width;
    let mut buf = vec![0u8; per_chunk * width];
    let mut k = 0usize;
    while k < total {
        let m = per_chunk.min(total - k);
        r.read_exact(&mut buf[..m * width]).map_err(|_| {
            DataError::file(
                path,
                format!("data ends early: {k} of {total} values for a {rows} × {cols} array"),
            )
        })?;
        for b in buf[..m * width].chunks_exact(width) {
            let v = if float64 {
                let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
                (if big {
                    f64::from_be_bytes(a)
                } else {
                    f64::from_le_bytes(a)
                }) as f32
            } else {
                let a = [b[0], b[1], b[2], b[3]];
                if big {
                    f32::from_be_bytes(a)
                } else {
                    f32::from_le_bytes(a)
                }
            };
            data.push(v);
        }
        k += m;
    }
    if fortran {
        // Fortran order stores column by column.
        let mut c = vec![0.0f32; total];
        for (idx, v) in data.into_iter().enumerate() {
            c[(idx % rows) * cols + idx / rows] = v;
        }
        data = c;
    }
    Ok(Matrix::from_vec(rows, cols, data))
}

pub fn read_embedding_npy(path: &Path) -> Result<EmbeddingTable, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let m = read_npy(std::io::BufReader::new(f), path)?;
    let ids: Vec<String> = (0..m.rows).map(|i| i.to_string()).collect();
    check_finite(path, &m, &ids)?;
    Ok(EmbeddingTable {
        ids,
        meta: Vec::new(),
        matrix: m,
    })
}

/// Writes a float32 C-order .npy (used by tests and benchmarks).
pub fn write_npy_f32(path: &Path, m: &Matrix) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.rows, m.cols
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + m.data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in &m.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An .npy header for `shape` with no data after it.
    fn header(shape: &str) -> Vec<u8> {
        let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let mut h = dict.into_bytes();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h);
        out
    }

    #[test]
    fn shapes_from_a_hostile_header_are_errors_not_allocations() {
        for (shape, expect) in [
            ("(100000000000, 1000)", "data ends early"),
            ("(4294967296, 4294967296)", "too large"),
            ("(18446744073709551615, 2)", "too large"),
            ("(50, 0)", "no items or no dimensions"),
            ("(0, 3)", "no items or no dimensions"),
        ] {
            let e = read_npy(header(shape).as_slice(), Path::new("x.npy"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{shape}: {e}");
        }
    }

    #[test]
    fn fortran_and_c_order_agree() {
        let m = Matrix::from_vec(2, 3, vec![1., 2., 3., 4., 5., 6.]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy_f32(&p, &m).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(parse_npy(&bytes, &p).unwrap(), m);
        let e = parse_npy(&bytes[..bytes.len() - 3], &p)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("data ends early: 0 of 6 values for a 2 × 3 array"),
            "{e}"
        );
        // Same array as float64 in Fortran order.
        let mut h = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in [1.0f64, 4., 2., 5., 3., 6.] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse_npy(&b, &p).unwrap(), m);
    }
}
