//! The structure of a TIFF file (classic or BigTIFF, either byte order): its image file
//! directories, the chain of them and their SubIFDs, and the few tags a slide reader needs.
//!
//! Our own parser rather than the `tiff` crate's: that decoder builds an image for every
//! directory it walks (failing on ones it cannot decode, such as an associated label in an
//! odd format) and cannot decode an image held in a SubIFD, which is where OME-TIFF keeps its
//! pyramid levels.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

pub const NEW_SUBFILE_TYPE: u16 = 254;
pub const IMAGE_WIDTH: u16 = 256;
pub const IMAGE_LENGTH: u16 = 257;
pub const BITS_PER_SAMPLE: u16 = 258;
pub const COMPRESSION: u16 = 259;
pub const PHOTOMETRIC: u16 = 262;
pub const IMAGE_DESCRIPTION: u16 = 270;
pub const STRIP_OFFSETS: u16 = 273;
pub const SAMPLES_PER_PIXEL: u16 = 277;
pub const ROWS_PER_STRIP: u16 = 278;
pub const STRIP_BYTE_COUNTS: u16 = 279;
pub const X_RESOLUTION: u16 = 282;
pub const PLANAR_CONFIGURATION: u16 = 284;
pub const RESOLUTION_UNIT: u16 = 296;
pub const PREDICTOR: u16 = 317;
pub const TILE_WIDTH: u16 = 322;
pub const TILE_LENGTH: u16 = 323;
pub const TILE_OFFSETS: u16 = 324;
pub const TILE_BYTE_COUNTS: u16 = 325;
pub const SUB_IFDS: u16 = 330;
pub const SAMPLE_FORMAT: u16 = 339;
pub const JPEG_TABLES: u16 = 347;

/// Tags read into memory; others are skipped (a slide can carry megabytes of XMP or ICC data).
const WANTED: [u16; 22] = [
    NEW_SUBFILE_TYPE,
    IMAGE_WIDTH,
    IMAGE_LENGTH,
    BITS_PER_SAMPLE,
    COMPRESSION,
    PHOTOMETRIC,
    IMAGE_DESCRIPTION,
    STRIP_OFFSETS,
    SAMPLES_PER_PIXEL,
    ROWS_PER_STRIP,
    STRIP_BYTE_COUNTS,
    X_RESOLUTION,
    PLANAR_CONFIGURATION,
    RESOLUTION_UNIT,
    PREDICTOR,
    TILE_WIDTH,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_BYTE_COUNTS,
    SUB_IFDS,
    SAMPLE_FORMAT,
    JPEG_TABLES,
];

/// At most this many directories are followed: a damaged chain cannot run forever.
const MAX_IFDS: usize = 4096;

/// A file read at offsets from several threads at once.
pub struct Source {
    file: File,
    pub len: u64,
}

impl Source {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }

    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} bytes at offset {offset} run past the end of the file ({} bytes)",
                    buf.len(),
                    self.len
                ),
            ));
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    &self.file,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
            Ok(())
        }
    }
}

/// One tag's values, as stored.
#[derive(Debug, Clone)]
pub struct Entry {
    typ: u16,
    count: u64,
    bytes: Vec<u8>,
}

/// One image file directory: its wanted tags, where it is, and where the next one is.
#[derive(Debug, Clone)]
pub struct Ifd {
    pub offset: u64,
    pub next: u64,
    entries: HashMap<u16, Entry>,
    little: bool,
}

fn type_size(typ: u16) -> Option<u64> {
    Some(match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

pub struct Header {
    pub little: bool,
    pub big: bool,
    pub first: u64,
}

fn u16_of(b: &[u8], little: bool) -> u16 {
    let a = [b[0], b[1]];
    if little {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn u32_of(b: &[u8], little: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if little {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

fn u64_of(b: &[u8], little: bool) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    if little {
        u64::from_le_bytes(a)
    } else {
        u64::from_be_bytes(a)
    }
}

/// The header: byte order, classic or BigTIFF, the first directory's offset. Err names what
/// was found instead.
pub fn header(src: &Source) -> Result<Header, String> {
    let mut b = [0u8; 16];
    let n = src.len.min(16) as usize;
    src.read_at(0, &mut b[..n]).map_err(|e| e.to_string())?;
    if n < 8 {
        return Err("not a TIFF file (shorter than a TIFF header)".into());
    }
    let little = match &b[..2] {
        b"II" => true,
        b"MM" => false,
        _ => return Err("not a TIFF file (no II or MM byte-order mark)".into()),
    };
    match u16_of(&b[2..], little) {
        42 => Ok(Header {
            little,
            big: false,
            first: u32_of(&b[4..], little) as u64,
        }),
        43 if n == 16 => Ok(Header {
            little,
            big: true,
            first: u64_of(&b[8..], little),
        }),
        v => Err(format!("not a TIFF file (version {v}, expected 42 or 43)")),
    }
}

/// Reads the directory at `offset`.
pub fn read_ifd(src: &Source, h: &Header, offset: u64) -> Result<Ifd, String> {
    let at = |what: &str, e: std::io::Error| format!("directory at byte {offset}: {what}: {e}");
    let (count_len, entry_len, next_len) = if h.big { (8, 20, 8) } else { (2, 12, 4) };
    let mut cb = [0u8; 8];
    src.read_at(offset, &mut cb[..count_len])
        .map_err(|e| at("entry count", e))?;
    let n = if h.big {
        u64_of(&cb, h.little)
    } else {
        u16_of(&cb, h.little) as u64
    };
    if n == 0 || n > 10_000 {
        return Err(format!(
            "directory at byte {offset}: {n} entries (expected 1 to 10000: damaged file?)"
        ));
    }
    let mut raw = vec![0u8; (n * entry_len as u64) as usize + next_len];
    src.read_at(offset + count_len as u64, &mut raw)
        .map_err(|e| at("entries", e))?;
    let inline = if h.big { 8 } else { 4 };
    let mut entries = HashMap::new();
    for k in 0..n as usize {
        let e = &raw[k * entry_len..(k + 1) * entry_len];
        let tag = u16_of(e, h.little);
        if !WANTED.contains(&tag) {
            continue;
        }
        let typ = u16_of(&e[2..], h.little);
        let Some(size) = type_size(typ) else {
            return Err(format!(
                "directory at byte {offset}: tag {tag} has unknown type {typ}"
            ));
        };
        let count = if h.big {
            u64_of(&e[4..], h.little)
        } else {
            u32_of(&e[4..], h.little) as u64
        };
        let len = count
            .checked_mul(size)
            .filter(|&l| l <= src.len)
            .ok_or_else(|| {
                format!(
                    "directory at byte {offset}: tag {tag} claims {count} values, more than the file holds"
                )
            })?;
        let value = &e[if h.big { 12 } else { 8 }..];
        let bytes = if len <= inline {
            value[..len as usize].to_vec()
        } else {
            let at_off = if h.big {
                u64_of(value, h.little)
            } else {
                u32_of(value, h.little) as u64
            };
            let mut v = vec![0u8; len as usize];
            src.read_at(at_off, &mut v)
                .map_err(|e| at(&format!("values of tag {tag}"), e))?;
            v
        };
        entries.insert(tag, Entry { typ, count, bytes });
    }
    let tail = &raw[n as usize * entry_len..];
    let next = if h.big {
        u64_of(tail, h.little)
    } else {
        u32_of(tail, h.little) as u64
    };
    Ok(Ifd {
        offset,
        next,
        entries,
        little: h.little,
    })
}

/// Every directory of the main chain, in file order.
pub fn chain(src: &Source, h: &Header) -> Result<Vec<Ifd>, String> {
    let mut out: Vec<Ifd> = Vec::new();
    let mut at = h.first;
    while at != 0 {
        if out.iter().any(|d| d.offset == at) {
            return Err(format!(
                "the directory chain loops back to byte {at} (damaged file)"
            ));
        }
        if out.len() >= MAX_IFDS {
            return Err(format!("more than {MAX_IFDS} directories (damaged file?)"));
        }
        let d = read_ifd(src, h, at)?;
        at = d.next;
        out.push(d);
    }
    if out.is_empty() {
        return Err("the file has no image directory".into());
    }
    Ok(out)
}

impl Ifd {
    pub fn has(&self, tag: u16) -> bool {
        self.entries.contains_key(&tag)
    }

    /// Every value of an integer tag (BYTE, SHORT, LONG, LONG8, IFD, IFD8).
    pub fn uints(&self, tag: u16) -> Option<Vec<u64>> {
        let e = self.entries.get(&tag)?;
        let l = self.little;
        let v: Vec<u64> = match e.typ {
            1 | 7 => e.bytes.iter().map(|&b| b as u64).collect(),
            3 => e
                .bytes
                .chunks_exact(2)
                .map(|c| u16_of(c, l) as u64)
                .collect(),
            4 | 13 => e
                .bytes
                .chunks_exact(4)
                .map(|c| u32_of(c, l) as u64)
                .collect(),
            16 | 18 => e.bytes.chunks_exact(8).map(|c| u64_of(c, l)).collect(),
            _ => return None,
        };
        (v.len() as u64 == e.count).then_some(v)
    }

    pub fn uint(&self, tag: u16) -> Option<u64> {
        self.uints(tag)?.first().copied()
    }

    /// A RATIONAL, FLOAT or DOUBLE tag's first value.
    pub fn real(&self, tag: u16) -> Option<f64> {
        let e = self.entries.get(&tag)?;
        let l = self.little;
        match e.typ {
            5 if e.bytes.len() >= 8 => {
                let (n, d) = (u32_of(&e.bytes, l), u32_of(&e.bytes[4..], l));
                (d != 0).then(|| n as f64 / d as f64)
            }
            11 if e.bytes.len() >= 4 => Some(f32::from_bits(u32_of(&e.bytes, l)) as f64),
            12 if e.bytes.len() >= 8 => Some(f64::from_bits(u64_of(&e.bytes, l))),
            _ => self.uint(tag).map(|v| v as f64),
        }
    }

    /// An ASCII tag, up to its first NUL.
    pub fn text(&self, tag: u16) -> Option<String> {
        let e = self.entries.get(&tag)?;
        let end = e
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(e.bytes.len());
        Some(String::from_utf8_lossy(&e.bytes[..end]).into_owned())
    }

    /// An UNDEFINED or BYTE tag's raw bytes (JPEGTables).
    pub fn bytes(&self, tag: u16) -> Option<&[u8]> {
        self.entries.get(&tag).map(|e| e.bytes.as_slice())
    }

    pub fn little_endian(&self) -> bool {
        self.little
    }
}
