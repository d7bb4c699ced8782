//! The one-sided Fisher exact test every enrichment in motif discovery is measured with.

/// ln C(n, k).
fn ln_choose(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// One-sided Fisher exact test: P(X ≥ a) for X ~ Hypergeometric(N = nf + nb, K = a + b,
/// draws nf), i.e. enrichment of the foreground.
pub fn fisher_greater(a: usize, nf: usize, b: usize, nb: usize) -> f64 {
    let (n, k, d) = ((nf + nb) as f64, (a + b) as f64, nf as f64);
    let hi = (a + b).min(nf);
    let ln_total = ln_choose(n, d);
    let mut max_ln = f64::NEG_INFINITY;
    let terms: Vec<f64> = (a..=hi)
        .map(|x| {
            let x = x as f64;
            let t = ln_choose(k, x) + ln_choose(n - k, d - x) - ln_total;
            max_ln = max_ln.max(t);
            t
        })
        .collect();
    if terms.is_empty() {
        return 1.0;
    }
    let s: f64 = terms.iter().map(|t| (t - max_ln).exp()).sum();
    (max_ln + s.ln()).exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_matches_exact_sums() {
        // Exact sums of hypergeometric terms with Python's math.comb:
        // [[8, 2], [1, 5]] → 196/8008; [[50, 50], [20, 80]] → 6.94458534516504e-06.
        let p = fisher_greater(8, 10, 1, 6);
        assert!((p - 0.024475524475524476).abs() < 1e-12, "{p}");
        let p = fisher_greater(50, 100, 20, 100);
        assert!((p / 6.94458534516504e-06 - 1.0).abs() < 1e-9, "{p}");
    }
}
