//! Reading ranges of a one-dimensional HDF5 dataset straight from the file, chunks
//! decompressed and converted into the caller's buffer with no intermediate copy of the whole
//! dataset. Reads are positioned, so callers decode several ranges on several threads.
//!
//! hdf5-pure reads a dataset whole and, opened buffered, keeps the whole file in memory; a
//! 100k-cell AnnData's `data` and `indices` are 0.9 GB each decoded. This reader takes the
//! chunk index and filter pipeline from hdf5-pure and does the rest itself, so memory is the
//! caller's output plus the chunks in flight. Layouts or filters it does not handle
//! (compact storage, LZF, Blosc, scale-offset) are reported as `None` by [`Chunked1d::open`],
//! and the caller falls back to hdf5-pure's whole-dataset read.

use hdf5_pure::{DatatypeByteOrder, Layout};
use std::io::Read;
use std::path::Path;

const FILTER_DEFLATE: u16 = 1;
const FILTER_SHUFFLE: u16 = 2;
const FILTER_FLETCHER32: u16 = 3;

/// How one stored element is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Float {
        size: usize,
        big: bool,
    },
    Int {
        size: usize,
        signed: bool,
        big: bool,
    },
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::Float { size, .. } | Elem::Int { size, .. } => size,
        }
    }
}

/// A number an element converts into.
pub trait FromElem: Copy + Default + Send + Sync {
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;
}

impl FromElem for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_i64(v: i64) -> Self {
        v as f32
    }
}

impl FromElem for i64 {
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    fn from_i64(v: i64) -> Self {
        v
    }
}

/// A 1-D dataset laid out contiguously or in chunks with deflate, shuffle and Fletcher-32.
#[derive(Debug)]
pub struct Chunked1d {
    file: std::fs::File,
    len: usize,
    elem: Elem,
    storage: Storage,
}

#[derive(Debug)]
enum Storage {
    Contiguous {
        address: Option<u64>,
    },
    Chunked {
        chunk_len: usize,
        /// Indexed by chunk number; None: never written (reads as zeros, the fill value
        /// anndata and h5py use).
        chunks: Vec<Option<(u64, u64, u32)>>,
        filters: Vec<(u16, bool)>,
    },
}

impl Chunked1d {
    /// Describes `dataset` for range reads; `Ok(None)` when its layout, type or filters are
    /// ones this reader leaves to hdf5-pure.
    pub fn open(path: &Path, ds: &hdf5_pure::Dataset) -> Result<Option<Self>, hdf5_pure::Error> {
        let shape = ds.shape()?;
        if shape.len() != 1 {
            return Ok(None);
        }
        let len = shape[0] as usize;
        // Little- or big-endian only; VAX order is left to hdf5-pure.
        let plain = |o: &DatatypeByteOrder| !matches!(o, DatatypeByteOrder::Vax);
        let elem = match ds.datatype()? {
            hdf5_pure::Datatype::FloatingPoint {
                size, byte_order, ..
            } if (size == 4 || size == 8) && plain(&byte_order) => Elem::Float {
                size: size as usize,
                big: matches!(byte_order, DatatypeByteOrder::BigEndian),
            },
            hdf5_pure::Datatype::FixedPoint {
                size,
                byte_order,
                layout,
            } if matches!(size, 1 | 2 | 4 | 8) && plain(&byte_order) => Elem::Int {
                size: size as usize,
                signed: layout.signed,
                big: matches!(byte_order, DatatypeByteOrder::BigEndian),
            },
            _ => return Ok(None),
        };
        let storage = match ds.layout()? {
            Layout::Contiguous { address, .. } => Storage::Contiguous { address },
            Layout::Chunked { chunk_shape, .. } => {
                let Some(&chunk_len) = chunk_shape.first() else {
                    return Ok(None);
                };
                let chunk_len = chunk_len as usize;
                if chunk_len == 0 {
                    return Ok(None);
                }
                let mut filters = Vec::new();
                for f in ds.filter_pipeline() {
                    if !matches!(f.id, FILTER_DEFLATE | FILTER_SHUFFLE | FILTER_FLETCHER32) {
                        return Ok(None);
                    }
                    filters.push((f.id, f.is_optional));
                }
                let n_chunks = len.div_ceil(chunk_len);
                let mut chunks = vec![None; n_chunks];
                for c in ds.chunks()? {
                    let Some(&off) = c.offset.first() else {
                        return Ok(None);
                    };
                    let k = off as usize / chunk_len;
                    if !(off as usize).is_multiple_of(chunk_len) || k >= n_chunks {
                        return Ok(None);
                    }
                    chunks[k] = Some((c.address, c.storage_size, c.filter_mask));
                }
                Storage::Chunked {
                    chunk_len,
                    chunks,
                    filters,
                }
            }
            _ => return Ok(None),
        };
        let file = std::fs::File::open(path).map_err(hdf5_pure::Error::Io)?;
        Ok(Some(Self {
            file,
            len,
            elem,
            storage,
        }))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements per chunk (the whole length when contiguous).
    pub fn chunk_len(&self) -> usize {
        match &self.storage {
            Storage::Chunked { chunk_len, .. } => *chunk_len,
            Storage::Contiguous { .. } => self.len.max(1),
        }
    }

    /// Fills `out` with elements `start..start + out.len()`, converted to `T`, on the calling
    /// thread: callers run one range per thread (the chunks of a range are decoded in turn).
    pub fn read_range<T: FromElem>(&self, start: usize, out: &mut [T]) -> Result<(), String> {
        if start + out.len() > self.len {
            return Err(format!(
                "range {start}..{} past the end ({} elements)",
                start + out.len(),
                self.len
            ));
        }
        // Contiguous data has no chunks; pieces of 1 Mi elements bound the read buffer.
        let piece = self.chunk_len().min(1 << 20);
        let (mut pos, mut rest) = (start, out);
        while !rest.is_empty() {
            let take = (piece - pos % piece).min(rest.len());
            let (a, b) = rest.split_at_mut(take);
            self.read_piece(pos, a)?;
            pos += take;
            rest = b;
        }
        Ok(())
    }

    /// Reads elements `pos..pos + dst.len()`, which lie within one chunk.
    fn read_piece<T: FromElem>(&self, pos: usize, dst: &mut [T]) -> Result<(), String> {
        let size = self.elem.size();
        match &self.storage {
            Storage::Contiguous { address } => {
                let Some(address) = address else {
                    dst.fill(T::default());
                    return Ok(());
                };
                let mut buf = vec![0u8; dst.len() * size];
                read_at(&self.file, address + (pos * size) as u64, &mut buf)?;
                convert(self.elem, &buf, dst);
                Ok(())
            }
            Storage::Chunked {
                chunk_len,
                chunks,
                filters,
            } => {
                let k = pos / chunk_len;
                let Some((address, stored, mask)) = chunks[k] else {
                    dst.fill(T::default());
                    return Ok(());
                };
                let mut raw = vec![0u8; stored as usize];
                read_at(&self.file, address, &mut raw)?;
                let full = chunk_len * size;
                let bytes = unfilter(raw, filters, mask, size, full)
                    .map_err(|e| format!("chunk {} (at byte {address}): {e}", k + 1))?;
                let from = (pos - k * chunk_len) * size;
                let to = from + dst.len() * size;
                if bytes.len() < to {
                    return Err(format!(
                        "chunk {} (at byte {address}) decodes to {} bytes, expected {full}",
                        k + 1,
                        bytes.len()
                    ));
                }
                convert(self.elem, &bytes[from..to], dst);
                Ok(())
            }
        }
    }
}

fn read_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> Result<(), String> {
    read_exact_at(file, offset, buf).map_err(|e| {
        format!(
            "cannot read {} bytes at byte {offset}: {e} (truncated file?)",
            buf.len()
        )
    })
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.seek_read(&mut buf[done..], offset + done as u64)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// Undoes the filter pipeline (applied in order on write, so undone in reverse).
fn unfilter(
    mut data: Vec<u8>,
    filters: &[(u16, bool)],
    mask: u32,
    elem_size: usize,
    full: usize,
) -> Result<Vec<u8>, String> {
    for (i, &(id, _)) in filters.iter().enumerate().rev() {
        if mask & (1 << i) != 0 {
            continue;
        }
        data = match id {
            FILTER_FLETCHER32 => {
                if data.len() < 4 {
                    return Err("Fletcher-32 chunk shorter than its checksum".into());
                }
                data.truncate(data.len() - 4);
                data
            }
            FILTER_DEFLATE => {
                let mut out = Vec::with_capacity(full);
                flate2::read::ZlibDecoder::new(&data[..])
                    .read_to_end(&mut out)
                    .map_err(|e| format!("corrupt deflate data: {e}"))?;
                out
            }
            FILTER_SHUFFLE => {
                if elem_size <= 1 || !data.len().is_multiple_of(elem_size) {
                    data
                } else {
                    let n = data.len() / elem_size;
                    let mut out = vec![0u8; data.len()];
                    for (j, plane) in data.chunks_exact(n).enumerate() {
                        for (i, &b) in plane.iter().enumerate() {
                            out[i * elem_size + j] = b;
                        }
                    }
                    out
                }
            }
            other => return Err(format!("unsupported filter {other}")),
        };
    }
    Ok(data)
}

/// Decodes elements of any width and byte order: each widened to a u64, then read as the
/// float, or sign-extended / clamped as the integer, it holds. Kind and width are matched
/// once per call; each loop has a constant width and its conversion inlined.
fn convert<T: FromElem>(elem: Elem, bytes: &[u8], dst: &mut [T]) {
    let (size, big) = match elem {
        Elem::Float { size, big } | Elem::Int { size, big, .. } => (size, big),
    };
    let shift = 64 - 8 * size as u32;
    // One loop per kind and width, each with its conversion inlined.
    macro_rules! by_width {
        ($f:expr) => {
            match size {
                1 => widen::<1, T>(bytes, dst, big, $f),
                2 => widen::<2, T>(bytes, dst, big, $f),
                4 => widen::<4, T>(bytes, dst, big, $f),
                _ => widen::<8, T>(bytes, dst, big, $f),
            }
        };
    }
    match elem {
        Elem::Float { size: 4, .. } => widen::<4, T>(bytes, dst, big, |u| {
            T::from_f64(f32::from_bits(u as u32) as f64)
        }),
        Elem::Float { .. } => widen::<8, T>(bytes, dst, big, |u| T::from_f64(f64::from_bits(u))),
        Elem::Int { signed: true, .. } => {
            by_width!(|u| T::from_i64(((u << shift) as i64) >> shift))
        }
        Elem::Int { .. } => by_width!(|u| T::from_i64(u.min(i64::MAX as u64) as i64)),
    }
}

fn widen<const N: usize, T>(bytes: &[u8], dst: &mut [T], big: bool, as_t: impl Fn(u64) -> T) {
    for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(N)) {
        let mut a = [0u8; 8];
        a[..N].copy_from_slice(b);
        if big {
            a[..N].reverse();
        }
        *d = as_t(u64::from_le_bytes(a));
    }
}
