//! One stored tile or strip of a slide, from its compressed bytes to 8-bit RGB: JPEG (with
//! the shared tables Aperio and libtiff write once per level), LZW, Deflate, PackBits or
//! none; horizontal differencing undone; grey, RGB or RGBA, 8 or 16 bits per sample.

use std::io::Read;
use std::sync::Arc;

/// How one level's chunks are stored.
#[derive(Debug, Clone)]
pub struct Coding {
    pub compression: u16,
    pub photometric: u16,
    pub samples: u16,
    pub bits: u16,
    pub predictor: u16,
    pub little: bool,
    /// The JPEG tables (quantisation and Huffman) shared by every chunk, SOI … EOI.
    pub jpeg_tables: Option<Arc<Vec<u8>>>,
}

const NONE: u16 = 1;
const LZW: u16 = 5;
const JPEG: u16 = 7;
const DEFLATE: u16 = 8;
const PACKBITS: u16 = 32773;
const DEFLATE_OLD: u16 = 32946;

impl Coding {
    /// Err names what is not supported, in words a user can act on.
    pub fn check(&self, planar: u16, sample_format: u16) -> Result<(), String> {
        match self.compression {
            NONE | LZW | JPEG | DEFLATE | PACKBITS | DEFLATE_OLD => {}
            6 => return Err("old-style JPEG compression (6) is not supported".into()),
            33003 | 33005 | 34712 => {
                return Err(format!(
                    "JPEG 2000 tiles (compression {}) are not supported: there is no pure-Rust JPEG 2000 decoder yet; convert the slide to JPEG tiles (e.g. vips tiffsave --compression jpeg --tile --pyramid)",
                    self.compression
                ));
            }
            c => {
                return Err(format!(
                    "compression {c} is not supported (expected JPEG, LZW, Deflate, PackBits or none)"
                ));
            }
        }
        if planar == 2 && self.samples > 1 {
            return Err(format!(
                "{} samples stored as separate planes are not supported (expected interleaved grey or RGB)",
                self.samples
            ));
        }
        if sample_format == 3 {
            return Err(
                "floating-point samples are not supported (expected 8- or 16-bit integers)".into(),
            );
        }
        if self.compression == JPEG {
            if self.bits != 8 {
                return Err(format!("{}-bit JPEG is not supported", self.bits));
            }
            return Ok(());
        }
        if self.bits != 8 && self.bits != 16 {
            return Err(format!(
                "{} bits per sample is not supported (expected 8 or 16)",
                self.bits
            ));
        }
        match (self.photometric, self.samples) {
            (0 | 1, 1 | 2) | (2, 3..) => Ok(()),
            (6, _) => Err("uncompressed YCbCr samples are not supported".into()),
            (3, _) => Err("palette colour is not supported".into()),
            (p, s) => Err(format!(
                "photometric interpretation {p} with {s} samples per pixel is not supported (expected grey or RGB)"
            )),
        }
    }
}

/// Decodes a chunk of `w` × `h` pixels into RGB; rows the data does not reach stay white.
pub fn decode(c: &Coding, data: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let (w, h) = (w as usize, h as usize);
    if data.is_empty() {
        // A sparse chunk: nothing was scanned there.
        return Ok(vec![255; w * h * 3]);
    }
    if c.compression == JPEG {
        return jpeg(c, data, w, h);
    }
    let spp = c.samples as usize;
    let bps = c.bits as usize / 8;
    let row_bytes = w * spp * bps;
    let want = row_bytes * h;
    let mut raw = match c.compression {
        NONE => data.to_vec(),
        LZW => {
            let mut out = Vec::with_capacity(want);
            let r = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                .into_vec(&mut out)
                .decode(data);
            // Some writers end a chunk without the end code; what was decoded is kept.
            if let Err(e) = r.status
                && out.len() < want
            {
                return Err(format!("LZW data is damaged: {e}"));
            }
            out
        }
        DEFLATE | DEFLATE_OLD => {
            let mut out = Vec::with_capacity(want);
            let r = flate2::read::ZlibDecoder::new(data)
                .take(want as u64)
                .read_to_end(&mut out);
            if let Err(e) = r
                && out.len() < want
            {
                return Err(format!("Deflate data is damaged: {e}"));
            }
            out
        }
        PACKBITS => packbits(data, want),
        other => return Err(format!("compression {other} is not supported")),
    };
    // A short last strip holds fewer rows; the rest stays white.
    let rows = (raw.len() / row_bytes.max(1)).min(h);
    raw.truncate(rows * row_bytes);
    if c.predictor == 2 {
        undo_differencing(&mut raw, row_bytes, spp, bps, c.little);
    }
    let mut out = vec![255u8; w * h * 3];
    let sample = |px: &[u8], k: usize| -> u8 {
        if bps == 1 {
            px[k]
        } else {
            let b = [px[2 * k], px[2 * k + 1]];
            let v = if c.little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            };
            ((v as u32 + 128) / 257) as u8
        }
    };
    for (i, px) in raw.chunks_exact(spp * bps).enumerate() {
        let o = &mut out[i * 3..i * 3 + 3];
        if spp >= 3 {
            o.copy_from_slice(&[sample(px, 0), sample(px, 1), sample(px, 2)]);
        } else {
            let g = sample(px, 0);
            let g = if c.photometric == 0 { 255 - g } else { g };
            o.copy_from_slice(&[g, g, g]);
        }
    }
    Ok(out)
}

fn jpeg(c: &Coding, data: &[u8], w: usize, h: usize) -> Result<Vec<u8>, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    // Abbreviated chunks: the tables (less their end marker) then the chunk (less its start
    // marker) make one whole JPEG stream.
    let stream: Vec<u8> = match &c.jpeg_tables {
        Some(t) if t.len() >= 4 && data.len() >= 2 => {
            let mut s = Vec::with_capacity(t.len() + data.len());
            s.extend_from_slice(&t[..t.len() - 2]);
            s.extend_from_slice(&data[2..]);
            s
        }
        _ => data.to_vec(),
    };
    let grey = c.samples == 1;
    let options = DecoderOptions::default()
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(stream), options);
    d.decode_headers()
        .map_err(|e| format!("JPEG data is damaged: {e:?}"))?;
    // The TIFF's photometric tag, not the JPEG stream's markers, says what the samples are:
    // Aperio writes "RGB" tiles whose streams look like YCbCr, and libtiff (so OpenSlide)
    // takes them as RGB as stored.
    let out = if grey {
        ColorSpace::Luma
    } else if c.photometric == 2 {
        d.input_colorspace().unwrap_or(ColorSpace::RGB)
    } else {
        ColorSpace::RGB
    };
    d.set_options(options.jpeg_set_out_colorspace(out));
    let px = d
        .decode()
        .map_err(|e| format!("JPEG data is damaged: {e:?}"))?;
    let info = d
        .info()
        .ok_or_else(|| "JPEG data has no frame header".to_string())?;
    let (jw, jh) = (info.width as usize, info.height as usize);
    let channels = if grey { 1 } else { 3 };
    if px.len() < jw * jh * channels {
        return Err(format!(
            "JPEG data decoded to {} bytes, expected {jw} × {jh} × {channels}",
            px.len()
        ));
    }
    let mut out = vec![255u8; w * h * 3];
    for y in 0..h.min(jh) {
        for x in 0..w.min(jw) {
            let o = (y * w + x) * 3;
            let i = (y * jw + x) * channels;
            if grey {
                out[o..o + 3].fill(px[i]);
            } else {
                out[o..o + 3].copy_from_slice(&px[i..i + 3]);
            }
        }
    }
    Ok(out)
}

fn packbits(data: &[u8], want: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(want);
    let mut i = 0;
    while i < data.len() && out.len() < want {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let end = (i + n as usize + 1).min(data.len());
            out.extend_from_slice(&data[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = data.get(i) {
                out.extend(std::iter::repeat_n(b, (1 - n as isize) as usize));
            }
            i += 1;
        }
    }
    out
}

/// TIFF predictor 2: each sample is stored as the difference from the same sample of the
/// pixel to its left.
fn undo_differencing(raw: &mut [u8], row_bytes: usize, spp: usize, bps: usize, little: bool) {
    for row in raw.chunks_exact_mut(row_bytes) {
        if bps == 1 {
            for i in spp..row.len() {
                row[i] = row[i].wrapping_add(row[i - spp]);
            }
        } else {
            let get = |r: &[u8], k: usize| {
                let b = [r[2 * k], r[2 * k + 1]];
                if little {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                }
            };
            for k in spp..row.len() / 2 {
                let v = get(row, k).wrapping_add(get(row, k - spp));
                let b = if little {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                row[2 * k..2 * k + 2].copy_from_slice(&b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_runs_and_literals() {
        // From the TIFF 6.0 specification's example.
        let packed = [
            0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let want = [
            0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        assert_eq!(packbits(&packed, want.len()), want);
    }

    #[test]
    fn differencing_is_undone_per_sample() {
        let mut row = vec![10, 20, 30, 1, 2, 3, 1, 1, 1];
        undo_differencing(&mut row, 9, 3, 1, true);
        assert_eq!(row, vec![10, 20, 30, 11, 22, 33, 12, 23, 34]);
    }
}
