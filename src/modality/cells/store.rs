//! A session's expression values, gene-major and compact: `expression.bin`.
//!
//! A 100k-cell session stored its 222M values as (cell, gene, value) Parquet rows, 624 MB —
//! more than the 493 MB input — and writing them peaked at three more copies in memory. Here
//! each gene's cells are delta-coded as LEB128 varints, integer values (counts) as varints
//! too (others as 4-byte floats), and genes are grouped into frames of about 1 MiB that are
//! deflated independently, so frames are written and read back in parallel and memory
//! beyond the matrix itself is a frame per thread.
//!
//! Layout (little-endian): `BLEXPR01`; u64 n_cells, n_genes, n_frames; u8 value coding
//! (0 varint integers, 1 f32); per gene its number of stored values (u64); per frame its
//! first gene, gene count, compressed length (u64 each); then the frames, back to back.

use crate::io::{FileError, bad, io_err};
use crate::modality::cells::expression::ByGene;
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"BLEXPR01";
/// Stored values per frame, roughly (a frame always holds whole genes).
const FRAME_VALUES: usize = 1 << 19;
/// Deflate expands at most ~1032:1 and each value takes at least two bytes decoded, so a
/// file cannot hold more values than this many per byte: a bound before allocating.
const MAX_RATIO: u64 = 520;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Writes `m` to `path` (the caller's temporary session folder).
pub fn write(path: &Path, m: &ByGene) -> Result<(), FileError> {
    let integers = m
        .values
        .par_iter()
        .all(|&v| v >= 0.0 && v.fract() == 0.0 && v < 4.0e9);
    // Frames: consecutive genes until about FRAME_VALUES values.
    let mut frames: Vec<(usize, usize)> = Vec::new();
    let mut first = 0;
    for g in 0..m.n_genes() {
        if m.ptr[g + 1] - m.ptr[first] >= FRAME_VALUES {
            frames.push((first, g + 1));
            first = g + 1;
        }
    }
    if first < m.n_genes() || frames.is_empty() {
        frames.push((first, m.n_genes()));
    }
    let packed: Vec<Vec<u8>> = frames
        .par_iter()
        .map(|&(a, b)| {
            let mut raw = Vec::with_capacity((m.ptr[b] - m.ptr[a]) * 2);
            for g in a..b {
                let mut prev = 0u64;
                for k in m.ptr[g]..m.ptr[g + 1] {
                    let c = m.cells[k] as u64;
                    put_varint(&mut raw, c - prev);
                    prev = c;
                    if integers {
                        put_varint(&mut raw, m.values[k] as u64);
                    } else {
                        raw.extend_from_slice(&m.values[k].to_le_bytes());
                    }
                }
            }
            let mut z = flate2::write::DeflateEncoder::new(
                Vec::with_capacity(raw.len() / 2),
                flate2::Compression::fast(),
            );
            z.write_all(&raw)
                .and_then(|_| z.finish())
                .map_err(|e| bad(path, format!("cannot compress expression: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::new(file);
    let mut head = Vec::new();
    head.extend_from_slice(MAGIC);
    for v in [m.n_cells, m.n_genes(), frames.len()] {
        head.extend_from_slice(&(v as u64).to_le_bytes());
    }
    head.push(if integers { 0 } else { 1 });
    for g in 0..m.n_genes() {
        head.extend_from_slice(&((m.ptr[g + 1] - m.ptr[g]) as u64).to_le_bytes());
    }
    for (&(a, b), z) in frames.iter().zip(&packed) {
        for v in [a, b - a, z.len()] {
            head.extend_from_slice(&(v as u64).to_le_bytes());
        }
    }
    w.write_all(&head).map_err(io_err(path))?;
    for z in &packed {
        w.write_all(z).map_err(io_err(path))?;
    }
    w.flush().map_err(io_err(path))?;
    w.into_inner()
        .map_err(|e| bad(path, e.to_string()))?
        .sync_all()
        .map_err(io_err(path))
}

/// Reads what [`write`] wrote; `n_cells` and `n_genes` are what the session's manifest and
/// gene table say, and the file must agree.
pub fn read(path: &Path, n_cells: usize, n_genes: usize) -> Result<ByGene, FileError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let u64s = |f: &mut std::fs::File, n: usize, what: &str| -> Result<Vec<u64>, FileError> {
        if (n as u64).saturating_mul(8) > size {
            // Checked before allocating: a damaged count must not ask for terabytes.
            return Err(bad(
                path,
                format!("{what}: longer than the file (truncated?)"),
            ));
        }
        let mut b = vec![0u8; n * 8];
        f.read_exact(&mut b)
            .map_err(|e| bad(path, format!("{what}: {e} (truncated?)")))?;
        Ok(b.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    };
    let mut magic = [0u8; 8];
    let head = u64s(&mut f, 4, "header")?;
    magic.copy_from_slice(&head[0].to_le_bytes());
    if &magic != MAGIC {
        return Err(bad(path, "not a biolens expression file (bad magic bytes)"));
    }
    let (nc, ng, nf) = (head[1] as usize, head[2] as usize, head[3] as usize);
    if nc != n_cells || ng != n_genes {
        return Err(bad(
            path,
            format!("holds {nc} cells × {ng} genes, the session {n_cells} × {n_genes}"),
        ));
    }
    let mut coding = [0u8; 1];
    f.read_exact(&mut coding).map_err(io_err(path))?;
    let integers = match coding[0] {
        0 => true,
        1 => false,
        c => return Err(bad(path, format!("unknown value coding {c}"))),
    };
    let counts = u64s(&mut f, ng, "gene table")?;
    let table = u64s(&mut f, nf.saturating_mul(3), "frame table")?;
    let mut ptr = vec![0usize; ng + 1];
    for g in 0..ng {
        ptr[g + 1] = ptr[g]
            .checked_add(counts[g] as usize)
            .filter(|&t| (t as u64) <= size.saturating_mul(MAX_RATIO))
            .ok_or_else(|| bad(path, "gene table: more values than the file can hold"))?;
    }
    let nnz = ptr[ng];
    let mut frames = Vec::with_capacity(nf);
    let mut expected_gene = 0usize;
    for t in table.chunks_exact(3) {
        let (a, len, zlen) = (t[0] as usize, t[1] as usize, t[2] as usize);
        if a != expected_gene || a.checked_add(len).is_none_or(|e| e > ng) {
            return Err(bad(
                path,
                "frame table: frames do not cover the genes in order",
            ));
        }
        expected_gene = a + len;
        frames.push((a, a + len, zlen));
    }
    if expected_gene != ng {
        return Err(bad(path, "frame table: frames do not cover every gene"));
    }
    let mut zs = Vec::with_capacity(nf);
    for &(_, _, zlen) in &frames {
        if zlen as u64 > size {
            return Err(bad(path, "frame longer than the file (truncated?)"));
        }
        let mut z = vec![0u8; zlen];
        f.read_exact(&mut z)
            .map_err(|e| bad(path, format!("frame data: {e} (truncated?)")))?;
        zs.push(z);
    }
    let mut cells = vec![0u32; nnz];
    let mut values = vec![0f32; nnz];
    // Each frame fills its own disjoint run of values.
    let mut jobs = Vec::with_capacity(nf);
    let (mut crest, mut vrest) = (&mut cells[..], &mut values[..]);
    for (&(a, b, _), z) in frames.iter().zip(&zs) {
        let n = ptr[b] - ptr[a];
        let (c, cr) = std::mem::take(&mut crest).split_at_mut(n);
        let (v, vr) = std::mem::take(&mut vrest).split_at_mut(n);
        crest = cr;
        vrest = vr;
        jobs.push((a, b, z, c, v));
    }
    jobs.into_par_iter().try_for_each(|(a, b, z, c, v)| {
        let mut raw = Vec::new();
        flate2::read::DeflateDecoder::new(&z[..])
            .read_to_end(&mut raw)
            .map_err(|e| bad(path, format!("genes {}–{b}: corrupt frame: {e}", a + 1)))?;
        let mut pos = 0;
        let mut k = 0;
        for g in a..b {
            let mut cell = 0u64;
            for i in 0..(ptr[g + 1] - ptr[g]) {
                let corrupt = || bad(path, format!("gene {}: corrupt values", g + 1));
                let d = get_varint(&raw, &mut pos).ok_or_else(corrupt)?;
                if i > 0 && d == 0 {
                    return Err(corrupt());
                }
                cell += d;
                if cell >= n_cells as u64 {
                    return Err(bad(
                        path,
                        format!("gene {}: cell {cell} out of range", g + 1),
                    ));
                }
                c[k] = cell as u32;
                v[k] = if integers {
                    get_varint(&raw, &mut pos).ok_or_else(corrupt)? as f32
                } else {
                    let bytes = raw.get(pos..pos + 4).ok_or_else(corrupt)?;
                    pos += 4;
                    f32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))
                };
                k += 1;
            }
        }
        if pos != raw.len() {
            return Err(bad(path, format!("genes {}–{b}: trailing bytes", a + 1)));
        }
        Ok(())
    })?;
    Ok(ByGene {
        n_cells,
        ptr,
        cells,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(integers: bool) -> ByGene {
        let n_cells = 1000;
        let mut ptr = vec![0];
        let (mut cells, mut values) = (Vec::new(), Vec::new());
        for g in 0..300u32 {
            for c in (0..n_cells as u32).filter(|c| (c * 7 + g * 13) % (g % 11 + 2) == 0) {
                cells.push(c);
                let v = ((c + g) % 9 + 1) as f32;
                values.push(if integers { v } else { v * 0.37 - 1.0 });
            }
            ptr.push(cells.len());
        }
        ByGene {
            n_cells,
            ptr,
            cells,
            values,
        }
    }

    #[test]
    fn round_trips_counts_and_floats() {
        let dir = tempfile::tempdir().unwrap();
        for integers in [true, false] {
            let m = sample(integers);
            let p = dir.path().join("e.bin");
            write(&p, &m).unwrap();
            assert_eq!(read(&p, m.n_cells, m.n_genes()).unwrap(), m);
        }
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample(true);
        let p = dir.path().join("e.bin");
        write(&p, &m).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        // Truncated anywhere, corrupted in the compressed data, or the wrong shape.
        for cut in [4, 20, 40, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(read(&p, m.n_cells, m.n_genes()).is_err(), "cut at {cut}");
        }
        let mut bad_bytes = bytes.clone();
        let n = bad_bytes.len();
        for b in &mut bad_bytes[n - 200..n - 100] {
            *b ^= 0x5a;
        }
        std::fs::write(&p, &bad_bytes).unwrap();
        assert!(read(&p, m.n_cells, m.n_genes()).is_err());
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p, m.n_cells + 1, m.n_genes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cells"), "{e}");
    }
}
