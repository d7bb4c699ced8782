//! Where the tissue is on a slide, from its overview: Otsu's threshold on saturation (stained
//! tissue is saturated, glass is white or grey), then holes inside the tissue no larger than
//! a tile filled, so a tile over a tear or a small lumen is judged by the tissue around it.

use image::RgbImage;
use std::collections::VecDeque;

pub struct TissueMask {
    pub width: u32,
    pub height: u32,
    /// Level-0 pixels per mask pixel.
    pub downsample: f64,
    pub threshold: f32,
    mask: Vec<bool>,
}

/// `overview` is the slide at `downsample`; enclosed holes up to `max_hole` level-0 pixels in
/// area become tissue.
pub fn detect(overview: &RgbImage, downsample: f64, max_hole: f64) -> TissueMask {
    let (w, h) = overview.dimensions();
    let sat: Vec<f32> = overview
        .pixels()
        .map(|p| {
            let mx = p.0.iter().max().copied().unwrap_or(0) as f32;
            let mn = p.0.iter().min().copied().unwrap_or(0) as f32;
            (mx - mn) / 255.0
        })
        .collect();
    let threshold = otsu(&sat);
    let mut mask: Vec<bool> = sat.iter().map(|&s| s > threshold).collect();
    let max_hole_px = (max_hole / (downsample * downsample)).floor() as usize;
    fill_holes(&mut mask, w as usize, h as usize, max_hole_px);
    TissueMask {
        width: w,
        height: h,
        downsample,
        threshold,
        mask,
    }
}

/// Background regions (4-connected) that do not touch the border and have at most `max_px`
/// pixels become foreground.
fn fill_holes(mask: &mut [bool], w: usize, h: usize, max_px: usize) {
    let mut seen = vec![false; mask.len()];
    let mut queue = VecDeque::new();
    let mut region = Vec::new();
    for start in 0..mask.len() {
        if mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        queue.push_back(start);
        region.clear();
        let mut border = false;
        while let Some(i) = queue.pop_front() {
            region.push(i);
            let (x, y) = (i % w, i / w);
            border |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            let mut visit = |j: usize| {
                if !mask[j] && !seen[j] {
                    seen[j] = true;
                    queue.push_back(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if !border && region.len() <= max_px {
            for &i in &region {
                mask[i] = true;
            }
        }
    }
}

/// Otsu's threshold of values in [0, 1] (256 bins).
pub fn otsu(values: &[f32]) -> f32 {
    let mut hist = [0f64; 256];
    for &v in values {
        hist[((v.clamp(0.0, 1.0)) * 255.0).round() as usize] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(i, h)| i as f64 * h).sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 0usize);
    for (t, &h) in hist.iter().enumerate() {
        w0 += h;
        sum0 += t as f64 * h;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_t = t;
        }
    }
    // Foreground is strictly above the threshold bin.
    (best_t as f32 + 0.5) / 255.0
}

impl TissueMask {
    /// The share of tissue under a box of level-0 pixels (at least one mask pixel is looked at).
    pub fn fraction(&self, x: f64, y: f64, w: f64, h: f64) -> f64 {
        let d = self.downsample;
        let x0 = ((x / d).floor() as u32).min(self.width - 1);
        let y0 = ((y / d).floor() as u32).min(self.height - 1);
        let x1 = (((x + w) / d).ceil() as u32).clamp(x0 + 1, self.width);
        let y1 = (((y + h) / d).ceil() as u32).clamp(y0 + 1, self.height);
        let mut n = 0usize;
        for yy in y0..y1 {
            let row = yy as usize * self.width as usize;
            n += self.mask[row + x0 as usize..row + x1 as usize]
                .iter()
                .filter(|&&m| m)
                .count();
        }
        n as f64 / ((x1 - x0) as f64 * (y1 - y0) as f64)
    }

    /// The share of the whole slide that is tissue.
    pub fn share(&self) -> f64 {
        self.mask.iter().filter(|&&m| m).count() as f64 / self.mask.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_hole_in_tissue_is_filled_and_a_large_one_and_the_glass_are_not() {
        // Pink tissue in the middle of white glass, with a 2 × 2 hole and a 6 × 6 hole.
        let img = RgbImage::from_fn(40, 30, |x, y| {
            let tissue = (5..35).contains(&x) && (5..25).contains(&y);
            let small = (10..12).contains(&x) && (10..12).contains(&y);
            let large = (20..26).contains(&x) && (12..18).contains(&y);
            if tissue && !small && !large {
                image::Rgb([200, 120, 170])
            } else {
                image::Rgb([245, 245, 245])
            }
        });
        // Mask pixels are 4 × 4 level-0 pixels; holes up to 10 mask pixels are filled.
        let m = detect(&img, 4.0, 160.0);
        assert_eq!(m.fraction(10.0 * 4.0, 10.0 * 4.0, 8.0, 8.0), 1.0);
        assert_eq!(m.fraction(20.0 * 4.0, 12.0 * 4.0, 24.0, 24.0), 0.0);
        assert_eq!(m.fraction(0.0, 0.0, 16.0, 16.0), 0.0);
        // Half on the tissue's left edge.
        let f = m.fraction(3.0 * 4.0, 8.0 * 4.0, 16.0, 16.0);
        assert!((f - 0.5).abs() < 1e-9, "{f}");
        let expected = (30.0 * 20.0 - 36.0) / (40.0 * 30.0);
        assert!((m.share() - expected).abs() < 1e-9, "{}", m.share());
    }
}
