//! Baseline features of a tile: per-channel colour statistics, HED stain densities (colour
//! sources), a uniform LBP texture histogram and an 8 × 8 thumbnail; standardised, then PCA.

use image::RgbImage;

/// Ruifrok & Johnston's stain vectors (rows: haematoxylin, eosin, DAB), as scikit-image's
/// `rgb2hed` uses them; the separation matrix is their inverse.
pub(crate) const RGB_FROM_HED: [[f64; 3]; 3] =
    [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

pub(crate) fn inverse3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    // Adjugate over determinant: entry (i, j) is the cofactor of (j, i).
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det
        })
    })
}

/// Haematoxylin, eosin and DAB densities of one pixel (scikit-image's `rgb2hed`, clipped at 0).
pub fn hed(px: [u8; 3], hed_from_rgb: &[[f64; 3]; 3]) -> [f64; 3] {
    let log_adjust = (1e-6f64).ln();
    let od: Vec<f64> = px
        .iter()
        .map(|&v| ((v as f64 / 255.0).max(1e-6)).ln() / log_adjust)
        .collect();
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (0..3)
            .map(|c| od[c] * hed_from_rgb[c][k])
            .sum::<f64>()
            .max(0.0);
    }
    out
}

/// Uniform local binary pattern (P = 8, R = 1) histogram of a grey tile: 10 bins (9 uniform
/// patterns by number of set bits, 1 for the rest), normalised.
pub fn lbp_histogram(grey: &[f32], w: usize, h: usize) -> [f64; 10] {
    let mut hist = [0f64; 10];
    let off: [(i32, i32); 8] = [
        (-1, -1),
        (0, -1),
        (1, -1),
        (1, 0),
        (1, 1),
        (0, 1),
        (-1, 1),
        (-1, 0),
    ];
    let mut n = 0.0;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let c = grey[y * w + x];
            let mut bits = [false; 8];
            for (k, (dx, dy)) in off.iter().enumerate() {
                let v = grey[(y as i32 + dy) as usize * w + (x as i32 + dx) as usize];
                bits[k] = v >= c;
            }
            let transitions = (0..8).filter(|&k| bits[k] != bits[(k + 1) % 8]).count();
            let bin = if transitions <= 2 {
                bits.iter().filter(|&&b| b).count()
            } else {
                9
            };
            hist[bin] += 1.0;
            n += 1.0;
        }
    }
    if n > 0.0 {
        for v in &mut hist {
            *v /= n;
        }
    }
    hist
}

/// The baseline feature vector of a tile: per-channel mean, standard deviation and 10th,
/// 50th, 90th percentiles; HED density means and standard deviations (colour images); the
/// uniform LBP histogram; an 8 × 8 grey thumbnail.
/// Features per tile: mean, sd and 10/50/90 % quantiles of R, G and B (15), mean and sd of
/// the H, E and DAB stain densities (6; zero for grey sources), a uniform LBP histogram (10)
/// and an 8 × 8 grey thumbnail (64).
pub const FEATURES: usize = 15 + 6 + 10 + 64;

pub fn tile_features(tile: &RgbImage, colour: bool) -> Vec<f32> {
    let (w, h) = (tile.width() as usize, tile.height() as usize);
    let n = (w * h).max(1);
    let mut f = Vec::with_capacity(100);
    let channels: Vec<Vec<f32>> = (0..3)
        .map(|c| tile.pixels().map(|p| p.0[c] as f32 / 255.0).collect())
        .collect();
    let grey: Vec<f32> = tile
        .pixels()
        .map(|p| (0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32) / 255.0)
        .collect();
    let stats = |v: &[f32], f: &mut Vec<f32>| {
        let mean = v.iter().sum::<f32>() / n as f32;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
        let mut s = v.to_vec();
        s.sort_by(f32::total_cmp);
        let q = |p: f64| s[((s.len() - 1) as f64 * p).round() as usize];
        f.extend([mean, sd, q(0.1), q(0.5), q(0.9)]);
    };
    // One layout for every tile, so a column means the same thing in every row: a grey
    // source's pixels are R = G = B, and it carries no stain, so its HED block is zero.
    for c in &channels {
        stats(c, &mut f);
    }
    if colour {
        let m = inverse3(RGB_FROM_HED);
        let d: Vec<[f64; 3]> = tile.pixels().map(|p| hed(p.0, &m)).collect();
        for k in 0..3 {
            let mean = d.iter().map(|x| x[k]).sum::<f64>() / n as f64;
            let sd = (d.iter().map(|x| (x[k] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            f.extend([mean as f32, sd as f32]);
        }
    } else {
        f.extend([0.0; 6]);
    }
    f.extend(lbp_histogram(&grey, w, h).iter().map(|&v| v as f32));
    for ty in 0..8 {
        for tx in 0..8 {
            let (x0, x1) = (tx * w / 8, ((tx + 1) * w / 8).max(tx * w / 8 + 1));
            let (y0, y1) = (ty * h / 8, ((ty + 1) * h / 8).max(ty * h / 8 + 1));
            let mut s = 0.0;
            let mut k = 0;
            for y in y0..y1.min(h) {
                for x in x0..x1.min(w) {
                    s += grey[y * w + x];
                    k += 1;
                }
            }
            f.push(s / k.max(1) as f32);
        }
    }
    f
}

/// Baseline features of every tile (rows of `tile_features`), standardised per feature, then
/// PCA.
pub fn baseline_embedding(
    rows: &[Vec<f32>],
    n_components: usize,
) -> Result<crate::core::matrix::Matrix, crate::analysis::pca::BaselineError> {
    if rows.len() < 3 {
        return Err(crate::analysis::pca::BaselineError::TooFew { n: rows.len() });
    }
    let mut m = crate::core::matrix::Matrix::zeros(rows.len(), FEATURES);
    for (i, r) in rows.iter().enumerate() {
        m.row_mut(i).copy_from_slice(r);
    }
    crate::analysis::pca::scale(&mut m, 10.0);
    crate::analysis::pca::pca(&m, n_components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_and_colour_tiles_share_one_feature_layout() {
        let grey = RgbImage::from_fn(16, 16, |x, y| {
            let v = (x * 13 + y * 7) as u8;
            image::Rgb([v, v, v])
        });
        let colour = RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 9) as u8, 120, (y * 11) as u8])
        });
        let g = tile_features(&grey, false);
        let c = tile_features(&colour, true);
        assert_eq!((g.len(), c.len()), (FEATURES, FEATURES));
        // Column 0 is the red mean in both rows; a grey tile's three channel blocks are equal
        // and its stain block is zero.
        assert_eq!(&g[0..5], &g[5..10]);
        assert_eq!(&g[0..5], &g[10..15]);
        assert!(g[15..21].iter().all(|&v| v == 0.0));
        assert!(
            (c[0] - colour.pixels().map(|p| p.0[0] as f32 / 255.0).sum::<f32>() / 256.0).abs()
                < 1e-5
        );
        assert!(c[15..21].iter().any(|&v| v != 0.0));
        // The LBP and thumbnail blocks start at the same column for both.
        assert!((g[21..31].iter().sum::<f32>() - 1.0).abs() < 1e-3);
        assert!((c[21..31].iter().sum::<f32>() - 1.0).abs() < 1e-3);
    }
}
