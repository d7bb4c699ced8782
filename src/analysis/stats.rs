//! Tests shared by marker genes, motif matching and group comparisons: multiple-testing
//! correction, the rank-sum test on plain values and the chi-square test of a contingency
//! table.

/// Benjamini–Hochberg adjusted p-values (q-values), in the input's order.
pub fn bh(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank_from_top, &i) in order.iter().enumerate() {
        let rank = m - rank_from_top; // 1-based rank in ascending order
        running = running.min(p[i] * m as f64 / rank as f64);
        out[i] = running.min(1.0);
    }
    out
}

/// Two-sided p-value of a standard normal z.
pub fn normal_sf2(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Wilcoxon rank-sum (Mann–Whitney) test of `a` against `b`, normal approximation with the
/// tie correction (scipy's `ranksums` plus ties): returns z (positive when `a` ranks higher)
/// and the two-sided p. NaNs are left out; `None` when a side has no values.
pub fn rank_sum(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .filter(|x| !x.is_nan())
        .map(|&x| (x, true))
        .chain(b.iter().filter(|x| !x.is_nan()).map(|&x| (x, false)))
        .collect();
    let n1 = all.iter().filter(|x| x.1).count() as f64;
    let n2 = all.len() as f64 - n1;
    if n1 == 0.0 || n2 == 0.0 {
        return None;
    }
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut r1, mut ties, mut i) = (0.0f64, 0.0f64, 0);
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let avg = (i + j) as f64 / 2.0 + 1.0;
        r1 += avg * all[i..=j].iter().filter(|x| x.1).count() as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let n = n1 + n2;
    let mean = n1 * (n + 1.0) / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    if var <= 0.0 {
        return Some((0.0, 1.0));
    }
    let z = (r1 - mean) / var.sqrt();
    Some((z, normal_sf2(z)))
}

/// Upper tail of the chi-square distribution with `df` degrees of freedom at `x`: the
/// regularised upper incomplete gamma Q(df/2, x/2) (Numerical Recipes' series and continued
/// fraction).
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 || df <= 0.0 {
        return 1.0;
    }
    let (a, x) = (df / 2.0, x / 2.0);
    let ln_pre = a * x.ln() - x - libm::lgamma(a);
    if x < a + 1.0 {
        // Series for the lower tail P.
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_pre.exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's continued fraction for Q.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_pre.exp() * h).clamp(0.0, 1.0)
    }
}

/// Pearson's chi-square test of independence of a table (rows × columns of counts): the
/// statistic, degrees of freedom and p. Empty rows and columns are left out.
pub fn chi_square(table: &[Vec<f64>]) -> (f64, f64, f64) {
    let rows: Vec<&Vec<f64>> = table
        .iter()
        .filter(|r| r.iter().sum::<f64>() > 0.0)
        .collect();
    let ncol = rows.first().map_or(0, |r| r.len());
    let col_sum: Vec<f64> = (0..ncol).map(|j| rows.iter().map(|r| r[j]).sum()).collect();
    let cols: Vec<usize> = (0..ncol).filter(|&j| col_sum[j] > 0.0).collect();
    let total: f64 = col_sum.iter().sum();
    if rows.len() < 2 || cols.len() < 2 {
        return (0.0, 0.0, 1.0);
    }
    let mut stat = 0.0;
    for r in &rows {
        let rs: f64 = r.iter().sum();
        for &j in &cols {
            let e = rs * col_sum[j] / total;
            stat += (r[j] - e).powi(2) / e;
        }
    }
    let df = ((rows.len() - 1) * (cols.len() - 1)) as f64;
    (stat, df, chi_square_sf(stat, df))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_sum_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5],[3,4,5,6,7,8], method="asymptotic",
        // use_continuity=False): p = 0.0535777 (tie-corrected).
        let (z, p) = rank_sum(&[1., 2., 3., 4., 5.], &[3., 4., 5., 6., 7., 8.]).unwrap();
        assert!((p - 0.0535777).abs() < 1e-6, "p {p}");
        assert!(z < 0.0);
        assert!(rank_sum(&[], &[1.0]).is_none());
    }

    #[test]
    fn chi_square_matches_scipy() {
        // scipy.stats.chi2_contingency([[10, 20, 30], [20, 20, 10]], correction=False):
        // statistic 12.52778, dof 2, p 0.00190383.
        let (s, df, p) = chi_square(&[vec![10., 20., 30.], vec![20., 20., 10.]]);
        assert!((s - 12.52778).abs() < 1e-4 && df == 2.0, "{s} {df}");
        assert!((p - 0.00190383).abs() < 1e-7, "p {p}");
        // chi2.sf(3.0, 1) = 0.0832645; chi2.sf(30, 10) = 0.000856641 (continued fraction).
        assert!((chi_square_sf(3.0, 1.0) - 0.0832645).abs() < 1e-6);
        assert!((chi_square_sf(30.0, 10.0) - 0.000856641).abs() < 1e-8);
    }
}
