//! Whole-slide images read by region: Aperio SVS, OME-TIFF with sub-resolution levels and
//! generic pyramidal (or plain tiled or striped) TIFF, in pure Rust. A slide is opened by
//! reading its directories only; pixels come chunk by chunk (stored tiles or strips), through
//! a small cache, so memory is bounded by the chunks in flight, not by the slide.

pub mod codec;
pub mod cut;
pub mod ifd;
pub mod tissue;

use codec::Coding;
use ifd::{Ifd, Source};
use image::RgbImage;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Who wrote the slide, which decides where its levels and metadata are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Aperio,
    Ome,
    Generic,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Aperio => "Aperio SVS",
            Vendor::Ome => "OME-TIFF",
            Vendor::Generic => "TIFF",
        }
    }
}

/// One resolution of the slide.
#[derive(Debug, Clone)]
pub struct Level {
    pub width: u32,
    pub height: u32,
    /// Level 0's size over this level's (the mean of the two axes, as OpenSlide reports).
    pub downsample: f64,
    pub chunk_w: u32,
    pub chunk_h: u32,
    pub tiled: bool,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    coding: Coding,
}

impl Level {
    fn across(&self) -> u32 {
        self.width.div_ceil(self.chunk_w)
    }

    /// Where chunk `idx` is stored: (byte offset, byte count).
    pub fn chunk_location(&self, idx: usize) -> Option<(u64, u64)> {
        Some((*self.offsets.get(idx)?, *self.counts.get(idx)?))
    }
}

/// A decoded-chunk cache shared by every thread reading the slide (FIFO, bounded in bytes).
struct Cache {
    map: HashMap<(usize, u32), Arc<Vec<u8>>>,
    order: VecDeque<(usize, u32)>,
    bytes: usize,
    cap: usize,
}

impl Cache {
    fn insert(&mut self, key: (usize, u32), v: Arc<Vec<u8>>) {
        if self.map.contains_key(&key) {
            return;
        }
        self.bytes += v.len();
        self.map.insert(key, v);
        self.order.push_back(key);
        while self.bytes > self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// Bytes of decoded chunks kept: a few rows of 256-pixel tiles across a large slide.
const CACHE_BYTES: usize = 96 << 20;

/// A decoded chunk larger than this is refused: the file is not laid out for reading by region.
const MAX_CHUNK_BYTES: u64 = 256 << 20;

pub struct Slide {
    pub path: PathBuf,
    pub vendor: Vendor,
    /// Largest first.
    pub levels: Vec<Level>,
    /// Microns per pixel at level 0, and where the figure came from.
    pub mpp: Option<(f64, &'static str)>,
    /// The scanner's objective magnification (Aperio `AppMag`).
    pub objective: Option<f64>,
    src: Source,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide")
            .field("path", &self.path)
            .field("vendor", &self.vendor)
            .field("levels", &self.levels.len())
            .field("mpp", &self.mpp)
            .finish()
    }
}

fn level_of(d: &Ifd) -> Result<Level, String> {
    let width = d.uint(ifd::IMAGE_WIDTH).unwrap_or(0) as u32;
    let height = d.uint(ifd::IMAGE_LENGTH).unwrap_or(0) as u32;
    if width == 0 || height == 0 {
        return Err("an image directory has no width or height".into());
    }
    let tiled = d.has(ifd::TILE_WIDTH);
    let (chunk_w, chunk_h, off_tag, cnt_tag) = if tiled {
        (
            d.uint(ifd::TILE_WIDTH).unwrap_or(0) as u32,
            d.uint(ifd::TILE_LENGTH).unwrap_or(0) as u32,
            ifd::TILE_OFFSETS,
            ifd::TILE_BYTE_COUNTS,
        )
    } else {
        let rows = d
            .uint(ifd::ROWS_PER_STRIP)
            .unwrap_or(height as u64)
            .min(height as u64) as u32;
        (width, rows, ifd::STRIP_OFFSETS, ifd::STRIP_BYTE_COUNTS)
    };
    if chunk_w == 0 || chunk_h == 0 {
        return Err("a tile or strip of zero size".into());
    }
    let samples = d.uint(ifd::SAMPLES_PER_PIXEL).unwrap_or(1) as u16;
    let bits = d.uint(ifd::BITS_PER_SAMPLE).unwrap_or(1) as u16;
    let coding = Coding {
        compression: d.uint(ifd::COMPRESSION).unwrap_or(1) as u16,
        photometric: d
            .uint(ifd::PHOTOMETRIC)
            .unwrap_or(if samples >= 3 { 2 } else { 1 }) as u16,
        samples,
        bits,
        predictor: d.uint(ifd::PREDICTOR).unwrap_or(1) as u16,
        little: d.little_endian(),
        jpeg_tables: d.bytes(ifd::JPEG_TABLES).map(|b| Arc::new(b.to_vec())),
    };
    coding.check(
        d.uint(ifd::PLANAR_CONFIGURATION).unwrap_or(1) as u16,
        d.uint(ifd::SAMPLE_FORMAT).unwrap_or(1) as u16,
    )?;
    let decoded = chunk_w as u64 * chunk_h as u64 * samples as u64 * (bits as u64).div_ceil(8);
    if decoded > MAX_CHUNK_BYTES {
        return Err(format!(
            "the image is stored in chunks of {chunk_w} × {chunk_h} pixels ({} MB decoded); a slide must be tiled (or in strips of fewer rows) to be read by region",
            decoded >> 20
        ));
    }
    let offsets = d.uints(off_tag).unwrap_or_default();
    let counts = d.uints(cnt_tag).unwrap_or_default();
    let need = width.div_ceil(chunk_w) as usize * height.div_ceil(chunk_h) as usize;
    if offsets.len() < need || counts.len() < need {
        return Err(format!(
            "{width} × {height} pixels in {chunk_w} × {chunk_h} chunks needs {need} chunk offsets and byte counts; the file lists {} and {}",
            offsets.len(),
            counts.len()
        ));
    }
    Ok(Level {
        width,
        height,
        downsample: 1.0,
        chunk_w,
        chunk_h,
        tiled,
        offsets,
        counts,
        coding,
    })
}

/// `key = value` fields of an Aperio description (`…|MPP = 0.499|AppMag = 20|…`).
fn aperio_field(desc: &str, key: &str) -> Option<f64> {
    desc.split('|').find_map(|f| {
        let (k, v) = f.split_once('=')?;
        (k.trim() == key).then(|| v.trim().parse::<f64>().ok())?
    })
}

/// The physical pixel size of the first OME `Pixels` element, in microns.
fn ome_mpp(xml: &str) -> Option<f64> {
    let start = xml.find("<Pixels ").or_else(|| xml.find(":Pixels "))?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let attr = |name: &str| -> Option<&str> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(&tag[at..at + tag[at..].find('"')?])
    };
    let size: f64 = attr("PhysicalSizeX")?.parse().ok()?;
    let scale = match attr("PhysicalSizeXUnit").unwrap_or("µm") {
        "µm" | "um" | "micron" | "μm" => 1.0,
        "nm" => 1e-3,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        _ => return None,
    };
    Some(size * scale)
}

/// Microns per pixel from the TIFF resolution tags, when the unit is physical and the figure
/// is one a microscope makes (72 dpi, the usual default, is not).
fn resolution_mpp(d: &Ifd) -> Option<f64> {
    let res = d.real(ifd::X_RESOLUTION)?;
    let per_unit = match d.uint(ifd::RESOLUTION_UNIT).unwrap_or(2) {
        2 => 25_400.0,
        3 => 10_000.0,
        _ => return None,
    };
    let mpp = per_unit / res;
    (res > 0.0 && (0.01..=50.0).contains(&mpp)).then_some(mpp)
}

impl Slide {
    /// Opens a slide by its directories. Err names the file and what is wrong or unsupported.
    pub fn open(path: &Path) -> Result<Slide, crate::core::DataError> {
        use crate::core::DataError;
        let src = Source::open(path).map_err(|e| DataError::io(path, e))?;
        let bad = |r: String| DataError::file(path, r);
        let h = ifd::header(&src).map_err(bad)?;
        let chain = ifd::chain(&src, &h).map_err(bad)?;
        let d0 = &chain[0];
        let desc0 = d0.text(ifd::IMAGE_DESCRIPTION).unwrap_or_default();
        let vendor = if desc0.starts_with("Aperio") {
            Vendor::Aperio
        } else if desc0.contains("<OME") {
            Vendor::Ome
        } else {
            Vendor::Generic
        };
        let mut candidates: Vec<Ifd> = vec![d0.clone()];
        for off in d0.uints(ifd::SUB_IFDS).unwrap_or_default() {
            candidates.push(ifd::read_ifd(&src, &h, off).map_err(bad)?);
        }
        if vendor != Vendor::Ome {
            // Further levels in the chain are tiled and not masks; stripped ones are the
            // thumbnail, label and macro pictures.
            candidates.extend(
                chain[1..]
                    .iter()
                    .filter(|d| {
                        d.has(ifd::TILE_WIDTH)
                            && d.uint(ifd::NEW_SUBFILE_TYPE).unwrap_or(0) & 4 == 0
                    })
                    .cloned(),
            );
        }
        let mut levels = vec![level_of(d0).map_err(bad)?];
        let (w0, h0) = (levels[0].width as f64, levels[0].height as f64);
        let mut rest: Vec<Level> = candidates[1..]
            .iter()
            .filter_map(|d| level_of(d).ok())
            .collect();
        rest.sort_by_key(|l| std::cmp::Reverse(l.width));
        for mut l in rest {
            let last = levels.last().map(|l| l.width).unwrap_or(0);
            // A smaller copy of level 0 (same shape), not a page of another size.
            let expected_h = h0 * l.width as f64 / w0;
            if l.width < last && (l.height as f64 - expected_h).abs() <= 2.0 + 0.02 * expected_h {
                l.downsample = (w0 / l.width as f64 + h0 / l.height as f64) / 2.0;
                levels.push(l);
            }
        }
        let mpp = match vendor {
            Vendor::Aperio => aperio_field(&desc0, "MPP").map(|m| (m, "Aperio MPP")),
            Vendor::Ome => ome_mpp(&desc0).map(|m| (m, "OME PhysicalSizeX")),
            Vendor::Generic => None,
        }
        .filter(|(m, _)| *m > 0.0)
        .or_else(|| resolution_mpp(d0).map(|m| (m, "TIFF resolution")));
        let objective = if vendor == Vendor::Aperio {
            aperio_field(&desc0, "AppMag")
        } else {
            None
        };
        Ok(Slide {
            path: path.to_path_buf(),
            vendor,
            levels,
            mpp,
            objective,
            src,
            cache: Mutex::new(Cache {
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                cap: CACHE_BYTES,
            }),
        })
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.levels[0].width, self.levels[0].height)
    }

    /// The level to read for `downsample` (level-0 pixels per output pixel): the smallest
    /// level that still has at least that resolution, as OpenSlide picks.
    pub fn best_level(&self, downsample: f64) -> usize {
        self.levels
            .iter()
            .rposition(|l| l.downsample <= downsample * 1.001)
            .unwrap_or(0)
    }

    /// One chunk, decoded to RGB (chunk_w × rows, rows < chunk_h only for a last strip).
    fn chunk(&self, li: usize, idx: u32) -> Result<Arc<Vec<u8>>, String> {
        if let Some(c) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.map.get(&(li, idx)).cloned())
        {
            return Ok(c);
        }
        let l = &self.levels[li];
        let (off, cnt) = (l.offsets[idx as usize], l.counts[idx as usize]);
        if cnt > MAX_CHUNK_BYTES {
            return Err(format!(
                "level {li} chunk {idx} claims {cnt} bytes (damaged file?)"
            ));
        }
        let mut data = vec![0u8; cnt as usize];
        self.src
            .read_at(off, &mut data)
            .map_err(|e| format!("level {li} chunk {idx}: {e}"))?;
        let row0 = (idx / l.across()) * l.chunk_h;
        let rows = if l.tiled {
            l.chunk_h
        } else {
            l.chunk_h.min(l.height - row0)
        };
        let px = codec::decode(&l.coding, &data, l.chunk_w, rows)
            .map_err(|e| format!("level {li} chunk {idx} (byte {off}): {e}"))?;
        let px = Arc::new(px);
        if let Ok(mut c) = self.cache.lock() {
            c.insert((li, idx), px.clone());
        }
        Ok(px)
    }

    /// The pixels of a `w` × `h` box at (`x`, `y`) in `level`'s own pixels. Where the box runs
    /// past the level's edge the pixels are white (glass).
    pub fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        w: u32,
        h: u32,
    ) -> Result<RgbImage, String> {
        let l = self
            .levels
            .get(level)
            .ok_or_else(|| format!("no level {level} (the slide has {})", self.levels.len()))?;
        let mut out = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
        let (x0, y0) = (x.max(0), y.max(0));
        let (x1, y1) = (
            (x + w as i64).min(l.width as i64),
            (y + h as i64).min(l.height as i64),
        );
        if x0 >= x1 || y0 >= y1 {
            return Ok(out);
        }
        let (cw, ch) = (l.chunk_w as i64, l.chunk_h as i64);
        let buf: &mut [u8] = &mut out;
        for cy in y0 / ch..=(y1 - 1) / ch {
            for cx in x0 / cw..=(x1 - 1) / cw {
                let idx = (cy * l.across() as i64 + cx) as u32;
                let px = self.chunk(level, idx)?;
                let rows = (px.len() as i64 / (cw * 3)).min(ch);
                let (ax, ay) = (cx * cw, cy * ch);
                let (sx0, sx1) = (x0.max(ax), x1.min(ax + cw));
                let (sy0, sy1) = (y0.max(ay), y1.min(ay + rows));
                for sy in sy0..sy1 {
                    let src = ((sy - ay) * cw + (sx0 - ax)) as usize * 3;
                    let dst = ((sy - y) * w as i64 + (sx0 - x)) as usize * 3;
                    let n = (sx1 - sx0) as usize * 3;
                    buf[dst..dst + n].copy_from_slice(&px[src..src + n]);
                }
            }
        }
        Ok(out)
    }

    /// A box of level-0 pixels (`x`, `y`, `side`) as an `out` × `out` image, read from the
    /// level closest above the needed resolution and resized (area-like triangle filter).
    pub fn read_scaled(&self, x: u64, y: u64, side: u64, out: u32) -> Result<RgbImage, String> {
        let d = side as f64 / out as f64;
        let li = self.best_level(d);
        let ds = self.levels[li].downsample;
        let (lx, ly) = ((x as f64 / ds).floor(), (y as f64 / ds).floor());
        let ls = ((side as f64 / ds).round() as u32).max(1);
        let img = self.read_region(li, lx as i64, ly as i64, ls, ls)?;
        Ok(if ls == out {
            img
        } else {
            image::imageops::resize(&img, out, out, image::imageops::FilterType::Triangle)
        })
    }

    /// The whole slide no larger than `max_side` pixels a side, and level-0 pixels per
    /// overview pixel. Read from the best level in blocks, so even a slide without a pyramid
    /// needs only a few chunks in memory at a time.
    pub fn overview(&self, max_side: u32) -> Result<(RgbImage, f64), String> {
        let (w0, h0) = self.dimensions();
        let d = (w0.max(h0) as f64 / max_side as f64).max(1.0);
        let li = self.best_level(d);
        let l = &self.levels[li];
        // Whole level pixels averaged per overview pixel.
        let f = ((d / l.downsample).ceil() as u32).max(1);
        let (ow, oh) = (l.width.div_ceil(f), l.height.div_ceil(f));
        let mut sums = vec![0u32; ow as usize * oh as usize * 4];
        let block = f * (2048 / f).max(1);
        for by in (0..l.height).step_by(block as usize) {
            for bx in (0..l.width).step_by(block as usize) {
                let bw = block.min(l.width - bx);
                let bh = block.min(l.height - by);
                let img = self.read_region(li, bx as i64, by as i64, bw, bh)?;
                for (px, py, p) in img.enumerate_pixels() {
                    let (ox, oy) = ((bx + px) / f, (by + py) / f);
                    let s = &mut sums[(oy as usize * ow as usize + ox as usize) * 4..][..4];
                    s[0] += p.0[0] as u32;
                    s[1] += p.0[1] as u32;
                    s[2] += p.0[2] as u32;
                    s[3] += 1;
                }
            }
        }
        let img = RgbImage::from_fn(ow, oh, |x, y| {
            let s = &sums[(y as usize * ow as usize + x as usize) * 4..][..4];
            let n = s[3].max(1);
            image::Rgb([
                ((s[0] + n / 2) / n) as u8,
                ((s[1] + n / 2) / n) as u8,
                ((s[2] + n / 2) / n) as u8,
            ])
        });
        Ok((img, l.downsample * f as f64))
    }

    /// One line for notes: format, size, levels, resolution.
    pub fn describe(&self) -> String {
        let (w, h) = self.dimensions();
        let levels: Vec<String> = self
            .levels
            .iter()
            .map(|l| format!("{}×{}", l.width, l.height))
            .collect();
        format!(
            "{}: {} slide, {w} × {h} pixels, {} level{} ({}){}{}",
            self.path.display(),
            self.vendor.name(),
            self.levels.len(),
            if self.levels.len() == 1 { "" } else { "s" },
            levels.join(", "),
            match self.mpp {
                Some((m, from)) => format!(", {m:.4} µm/px ({from})"),
                None => ", no µm/px in the file".into(),
            },
            match self.objective {
                Some(o) => format!(", {o}x objective"),
                None => String::new(),
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aperio_and_ome_metadata_parse() {
        let d = "Aperio Image Library v11\r\n46000x32914 (256x256) JPEG/RGB Q=30|AppMag = 20|MPP = 0.4990|Left = 25.6";
        assert_eq!(aperio_field(d, "MPP"), Some(0.499));
        assert_eq!(aperio_field(d, "AppMag"), Some(20.0));
        assert_eq!(aperio_field(d, "Top"), None);
        let x = r#"<OME><Image ID="Image:0"><Pixels DimensionOrder="XYCZT" ID="Pixels:0" PhysicalSizeX="250" PhysicalSizeXUnit="nm" SizeX="10"></Pixels></Image></OME>"#;
        assert!((ome_mpp(x).unwrap() - 0.25).abs() < 1e-12);
        let x = r#"<OME><Pixels PhysicalSizeX="0.5" SizeX="10"/></OME>"#;
        assert_eq!(ome_mpp(x), Some(0.5));
    }
}
