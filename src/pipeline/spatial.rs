//! Statistics of the positions on the tissue that the interface asks for (`:moran`).

/// Neighbours per item for Moran's I on the tissue (squidpy's default for generic
/// coordinates, libpysal's `KNN(k=6)`).
pub const MORAN_K: usize = 6;

/// Moran's I of `values` (named `what`) over each item's `MORAN_K` nearest neighbours at the
/// positions `at`, as a line for the message bar.
pub fn moran_line(at: &[[f32; 2]], values: &[f64], what: &str) -> String {
    let nb = crate::analysis::spatial::knn_2d(at, MORAN_K);
    match crate::analysis::spatial::morans_i(&nb, values) {
        Some(m) => format!(
            "Moran's I of {what} on the tissue: {:.4} (expected {:.4} without spatial pattern; \
             z {:.1}, normal approximation; {MORAN_K} nearest neighbours, as libpysal KNN and \
             esda Moran)",
            m.i, m.expected, m.z
        ),
        None => format!("Moran's I of {what}: the values do not vary"),
    }
}
