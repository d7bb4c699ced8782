//! The count model's likelihood: negative binomial (NB) and zero-inflated NB per cell, from
//! the decoder's logits (ln μ = log-softmax over genes + ln library size), as one fused CPU
//! operation with its analytic gradient, and as a composite of candle operations on other
//! devices (and as the reference the fused one is tested against).
//!
//! The composite costs ~25 element-wise operations over the B × G mini-batch forward and as
//! many backward, each allocating a B × G tensor; the fused one makes one pass forward and
//! one backward, and skips the log Γ terms where the count is zero (most of them), since
//! lgamma(0 + θ) − lgamma(θ) = 0.
//!
//! With μ = e^{ln μ}, θ = e^{ln θ} and t = ln θ − ln(θ + μ), per count x (the data constant
//! lgamma(x + 1) left out, as scvi-tools' loss keeps it out of the gradient):
//!
//!   NB(x)          = θ·t + x·(ln μ − ln(θ + μ)) + lgamma(x + θ) − lgamma(θ)
//!   ∂NB/∂ln μ      = θ·(x − μ)/(θ + μ)
//!   ∂NB/∂ln θ      = θ·(t + (μ − x)/(θ + μ) + ψ(x + θ) − ψ(θ))
//!   ZINB(0)        = softplus(−π + θ·t) − softplus(−π)
//!   ZINB(x > 0)    = −π − softplus(−π) + NB(x)
//!
//! where π is the dropout logit.

use super::lgamma::{digamma_f64, lgamma_f64, lgamma_fast};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Per-cell log-likelihood (B) of counts `x` (B × G) with ln μ = log_softmax(`logits`) +
/// `log_lib` (B × G logits, B × 1 library sizes: the decoder's head) and `log_theta` (G),
/// summed over genes: NB, or ZINB with dropout logits `pi` (B × G).
pub fn log_likelihood(
    logits: &Tensor,
    log_lib: &Tensor,
    pi: Option<&Tensor>,
    log_theta: &Tensor,
    x: &Tensor,
) -> Result<Tensor> {
    if !fused(logits) {
        return composite(&log_mu(logits, log_lib)?, log_theta, x, pi)?.sum(1);
    }
    let first = match pi {
        // One B × 2G input keeps the operation at three arguments; `cat` has its backward.
        Some(pi) => Tensor::cat(&[logits, pi], 1)?,
        None => logits.contiguous()?,
    };
    first.apply_op3(
        &log_theta.contiguous()?,
        &x.contiguous()?,
        Fused::new(pi.is_some(), log_lib)?,
    )
}

/// ln μ from the decoder's logits and the cells' log library sizes, in candle operations.
pub fn log_mu(logits: &Tensor, log_lib: &Tensor) -> Result<Tensor> {
    candle_nn::ops::log_softmax(logits, 1)?.broadcast_add(log_lib)
}

fn fused(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

fn softplus(x: &Tensor) -> Result<Tensor> {
    // relu(x) + ln(1 + e^{−|x|}): never overflows, differentiable everywhere it matters.
    x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?
}

/// The likelihood from candle operations, per count (B × G).
pub fn composite(
    log_mu: &Tensor,
    log_theta: &Tensor,
    x: &Tensor,
    pi: Option<&Tensor>,
) -> Result<Tensor> {
    let log_theta = log_theta.unsqueeze(0)?;
    let theta = log_theta.exp()?;
    // ln(θ + μ) = logaddexp(ln θ, ln μ) = max + ln(1 + e^{−|a−b|}), never forming θ + μ.
    let diff = log_mu.broadcast_sub(&log_theta)?;
    let ad = diff.abs()?;
    let mx = (log_mu.broadcast_add(&log_theta)? + &ad)?.affine(0.5, 0.0)?;
    let lse = (mx + ad.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
    let theta_term = lse.neg()?.broadcast_add(&log_theta)?; // ln θ − ln(θ+μ)
    let nb_fixed = theta_term.broadcast_mul(&theta)?;
    let nb_x = (x * (log_mu - &lse)?)?;
    let lg_xt = lgamma_fast(&x.broadcast_add(&theta)?)?;
    let lg_t = lgamma_fast(&theta)?;
    let nb = ((nb_fixed + nb_x)? + lg_xt.broadcast_sub(&lg_t)?)?;
    match pi {
        Some(pi) => {
            let mask = x.eq(0f32)?.to_dtype(DType::F32)?;
            let sp_neg_pi = softplus(&pi.neg()?)?;
            let case0 =
                (softplus(&(pi.neg()? + theta_term.broadcast_mul(&theta)?)?)? - &sp_neg_pi)?;
            let case_pos = ((pi.neg()? - &sp_neg_pi)? + &nb)?;
            mask.mul(&case0)? + (mask.affine(-1.0, 1.0)? * case_pos)?
        }
        None => Ok(nb),
    }
}

/// ln(1 + e) for e in [0, 1]: `ln` is several times faster than `ln_1p` here (the
/// likelihood's costliest call, twice per count), and for e ≥ 1e-4 forming 1 + e loses at
/// most 1e-12 relative; below, two series terms are exact to 1e-12.
#[inline]
fn ln_1p_unit(e: f64) -> f64 {
    if e < 1e-4 {
        e - 0.5 * e * e
    } else {
        (1.0 + e).ln()
    }
}

/// log Γ(z) and ψ(z) together for z > 0, sharing their logarithms: shift z up to w ≥ 8 by
/// the recurrences (one log of the product z(z+1)…(w−1), safe in f64 for any count), then
/// Stirling's series and the asymptotic digamma series at w. Absolute error below 1e-10 for
/// both (`lgamma_digamma_match_libm`); two logs per call, where libm's lgamma and our
/// digamma took most of the likelihood's time.
#[inline]
fn lgamma_digamma(z: f64) -> (f64, f64) {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    let (mut w, mut prod, mut inv_sum) = (z, 1.0f64, 0.0f64);
    while w < 8.0 {
        prod *= w;
        inv_sum += 1.0 / w;
        w += 1.0;
    }
    let ln_w = w.ln();
    let inv = 1.0 / w;
    let inv2 = inv * inv;
    let lg = (w - 0.5) * ln_w - w
        + HALF_LN_2PI
        + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)))
        - if prod == 1.0 { 0.0 } else { prod.ln() };
    let psi = ln_w
        - 0.5 * inv
        - inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 / 240.0)))
        - inv_sum;
    (lg, psi)
}

/// ln(1 + e^u), stable for any u.
fn softplus64(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

fn sigmoid64(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

/// Per gene: θ, lgamma(θ), ψ(θ).
fn gene_terms(log_theta: &[f32]) -> Vec<(f64, f64, f64)> {
    log_theta
        .iter()
        .map(|&lt| {
            let th = (lt as f64).exp();
            (th, lgamma_f64(th), digamma_f64(th))
        })
        .collect()
}

/// One count's terms: (log-likelihood, ∂/∂ln μ, ∂/∂ln θ, ∂/∂π).
#[inline]
fn count_terms(lm: f64, lt: f64, gt: (f64, f64, f64), x: f64, pi: Option<f64>) -> [f64; 4] {
    let (th, lg_th, psi_th) = gt;
    // With d = ln μ − ln θ: t = ln θ − ln(θ + μ) = −softplus(d) and μ/(θ + μ) = σ(d), from
    // one exponential, without forming θ + μ or cancelling.
    let d = lm - lt;
    let e = (-d.abs()).exp();
    let sp = d.max(0.0) + ln_1p_unit(e);
    let t = -sp;
    let share_mu = if d >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    let (nb, d_mu, d_th) = if x == 0.0 {
        (th * t, -th * share_mu, th * (t + share_mu))
    } else {
        let xt = x + th;
        let (lg_xt, psi_xt) = lgamma_digamma(xt);
        // (μ − x)/(θ + μ) = σ(d) − x·(1 − σ(d))/θ, since θ + μ = θ/(1 − σ(d)).
        let share_th = 1.0 - share_mu;
        let mu_minus_x = share_mu - x * share_th / th;
        (
            th * t + x * (d + t) + lg_xt - lg_th,
            th * (x * share_th / th - share_mu),
            th * (t + mu_minus_x + psi_xt - psi_th),
        )
    };
    match pi {
        None => [nb, d_mu, d_th, 0.0],
        Some(p) => {
            if x == 0.0 {
                let u = -p + th * t;
                let s = sigmoid64(u);
                [
                    softplus64(u) - softplus64(-p),
                    s * d_mu,
                    s * d_th,
                    -s + sigmoid64(-p),
                ]
            } else {
                [-p - softplus64(-p) + nb, d_mu, d_th, -1.0 + sigmoid64(-p)]
            }
        }
    }
}

/// The likelihood over the decoder's logits: log-softmax over genes, plus each cell's log
/// library size (a constant of the batch, so no gradient), then NB or ZINB per count. Fusing
/// the log-softmax saves its ~12 B × G passes forward and backward.
///
/// The forward pass computes each count's derivatives along with its value (they share the
/// costly logarithms) and keeps them for the backward pass, which then only scales them.
struct Fused {
    zinb: bool,
    log_lib: Vec<f32>,
    /// Set by the forward pass, read by the backward one.
    grad: std::sync::OnceLock<RowGrads>,
}

/// Per cell, the derivatives of its log-likelihood: by logit (and dropout logit) B × w, and
/// by ln θ, B × G.
struct RowGrads {
    d_first: Vec<f32>,
    d_theta: Vec<f32>,
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("likelihood: {what} must be f32");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("likelihood: {what} must be contiguous");
    };
    Ok(&v[a..b])
}

impl Fused {
    fn new(zinb: bool, log_lib: &Tensor) -> Result<Self> {
        Ok(Self {
            zinb,
            log_lib: log_lib.flatten_all()?.to_vec1::<f32>()?,
            grad: std::sync::OnceLock::new(),
        })
    }

    /// Row `r`'s log-likelihood; its derivatives by logit (and dropout logit) into `df`, by
    /// ln θ into `dt`. `softmax` is scratch space for the row's softmax over genes.
    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        r: usize,
        row: &[f32],
        xr: &[f32],
        lt: &[f32],
        gt: &[(f64, f64, f64)],
        df: &mut [f32],
        dt: &mut [f32],
        softmax: &mut Vec<f64>,
    ) -> f64 {
        let g = xr.len();
        // ln μ_j = logit_j + off, off = ln library − log-sum-exp of the logits (max-shifted);
        // the shifted exponentials are kept for the softmax in the gradient.
        let m = row[..g].iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        softmax.clear();
        softmax.extend(row[..g].iter().map(|&l| (l as f64 - m).exp()));
        let z: f64 = softmax.iter().sum();
        let off = self.log_lib[r] as f64 - m - z.ln();
        let (mut value, mut total) = (0f64, 0f64);
        for j in 0..g {
            let pi = self.zinb.then(|| row[g + j] as f64);
            let t = count_terms(row[j] as f64 + off, lt[j] as f64, gt[j], xr[j] as f64, pi);
            value += t[0];
            df[j] = t[1] as f32;
            total += t[1];
            dt[j] = t[2] as f32;
            if self.zinb {
                df[g + j] = t[3] as f32;
            }
        }
        // ∂/∂logit_j = ∂/∂ln μ_j − softmax_j · Σ_k ∂/∂ln μ_k.
        for j in 0..g {
            df[j] = (df[j] as f64 - softmax[j] / z * total) as f32;
        }
        value
    }

    /// (B, G) from the shapes, checked.
    fn dims(&self, first: &Shape, theta: &Shape, x: &Shape) -> Result<(usize, usize)> {
        let (b, g) = x.dims2()?;
        let w = if self.zinb { 2 * g } else { g };
        if first.dims2()? != (b, w) || theta.dims1()? != g || self.log_lib.len() != b {
            candle_core::bail!(
                "likelihood: shapes {first:?}, {theta:?}, {x:?}, {} library sizes do not match",
                self.log_lib.len()
            );
        }
        Ok((b, g))
    }
}

impl CustomOp3 for Fused {
    fn name(&self) -> &'static str {
        if self.zinb {
            "zinb-loglik"
        } else {
            "nb-loglik"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, g) = self.dims(l1.shape(), l2.shape(), l3.shape())?;
        let (first, lt, x) = (
            slice(s1, l1, "logits")?,
            slice(s2, l2, "ln θ")?,
            slice(s3, l3, "counts")?,
        );
        let gt = gene_terms(lt);
        let w = first.len() / b.max(1);
        let mut out = vec![0f32; b];
        let mut d_first = vec![0f32; b * w];
        let mut d_theta = vec![0f32; b * g];
        out.par_iter_mut()
            .zip(d_first.par_chunks_mut(w))
            .zip(d_theta.par_chunks_mut(g))
            .enumerate()
            .for_each_init(Vec::new, |softmax, (r, ((o, df), dt))| {
                let row = &first[r * w..(r + 1) * w];
                let xr = &x[r * g..(r + 1) * g];
                *o = self.row(r, row, xr, lt, &gt, df, dt, softmax) as f32;
            });
        // Each application builds its own operation, so its forward pass runs once.
        let _ = self.grad.set(RowGrads { d_first, d_theta });
        Ok((CpuStorage::F32(out), Shape::from(b)))
    }

    fn bwd(
        &self,
        first: &Tensor,
        _log_theta: &Tensor,
        x: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, g) = x.dims2()?;
        let w = first.dim(1)?;
        let gr = grad_res.to_vec1::<f32>()?;
        let Some(c) = self.grad.get() else {
            candle_core::bail!("likelihood: backward without a forward pass");
        };
        let mut d_first = vec![0f32; b * w];
        d_first
            .par_chunks_mut(w)
            .zip(c.d_first.par_chunks(w))
            .zip(&gr)
            .for_each(|((d, cached), &scale)| {
                for (d, &v) in d.iter_mut().zip(cached) {
                    *d = scale * v;
                }
            });
        // Summed over cells in a fixed order: the result never depends on threads.
        let mut d_theta = vec![0f64; g];
        for (row, &scale) in c.d_theta.chunks(g).zip(&gr) {
            for (a, &v) in d_theta.iter_mut().zip(row) {
                *a += scale as f64 * v as f64;
            }
        }
        let dev = first.device();
        Ok((
            Some(Tensor::from_vec(d_first, (b, w), dev)?),
            Some(Tensor::from_vec(
                d_theta.into_iter().map(|v| v as f32).collect::<Vec<f32>>(),
                g,
                dev,
            )?),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn data(b: usize, g: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut s = 12345u64;
        let mut u = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let lm: Vec<f32> = (0..b * g).map(|_| (u() * 8.0 - 4.0) as f32).collect();
        let pi: Vec<f32> = (0..b * g).map(|_| (u() * 6.0 - 3.0) as f32).collect();
        let lt: Vec<f32> = (0..g).map(|_| (u() * 6.0 - 3.0) as f32).collect();
        // Mostly zeros, some large counts.
        let x: Vec<f32> = (0..b * g)
            .map(|_| {
                let v = u();
                if v < 0.6 {
                    0.0
                } else {
                    (v * v * 60.0).floor() as f32
                }
            })
            .collect();
        (lm, pi, lt, x)
    }

    /// Value, and gradients for the logits, ln θ and π.
    type Outcome = (f64, Vec<f32>, Vec<f32>, Vec<f32>);

    /// Value and gradients of Σ_cells w_cell · loglik, fused and composite.
    fn both(zinb: bool) -> [Outcome; 2] {
        let (b, g) = (7, 33);
        let (lm, pi, lt, x) = data(b, g);
        let dev = Device::Cpu;
        let weights =
            Tensor::from_vec((1..=b).map(|i| i as f32 * 0.3).collect::<Vec<_>>(), b, &dev).unwrap();
        let run = |use_fused: bool| {
            let vm =
                Var::from_tensor(&Tensor::from_vec(lm.clone(), (b, g), &dev).unwrap()).unwrap();
            let vp =
                Var::from_tensor(&Tensor::from_vec(pi.clone(), (b, g), &dev).unwrap()).unwrap();
            let vt = Var::from_tensor(&Tensor::from_vec(lt.clone(), g, &dev).unwrap()).unwrap();
            let xt = Tensor::from_vec(x.clone(), (b, g), &dev).unwrap();
            let lib: Vec<f32> = (0..b).map(|i| 3.0 + i as f32).collect();
            let lib = Tensor::from_vec(lib, (b, 1), &dev).unwrap();
            let pi = zinb.then_some(vp.as_tensor());
            let ll = if use_fused {
                log_likelihood(vm.as_tensor(), &lib, pi, vt.as_tensor(), &xt).unwrap()
            } else {
                composite(
                    &log_mu(vm.as_tensor(), &lib).unwrap(),
                    vt.as_tensor(),
                    &xt,
                    pi,
                )
                .unwrap()
                .sum(1)
                .unwrap()
            };
            let total = (ll * &weights).unwrap().sum_all().unwrap();
            let grads = total.backward().unwrap();
            let get = |v: &Var| {
                grads
                    .get(v.as_tensor())
                    .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                    .unwrap_or_default()
            };
            (
                total.to_scalar::<f32>().unwrap() as f64,
                get(&vm),
                get(&vt),
                get(&vp),
            )
        };
        [run(true), run(false)]
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (k, (x, y)) in a.iter().zip(b).enumerate() {
            let tol = 2e-3 * x.abs().max(y.abs()).max(1.0);
            assert!(
                (x - y).abs() <= tol,
                "{what}[{k}]: fused {x}, composite {y}"
            );
        }
    }

    #[test]
    fn lgamma_digamma_match_libm() {
        // ψ reference: the recurrence up to 60, where the series' first omitted term is 1e-19.
        let digamma_ref = |mut x: f64| {
            let mut acc = 0.0;
            while x < 60.0 {
                acc -= 1.0 / x;
                x += 1.0;
            }
            let i2 = 1.0 / (x * x);
            acc + x.ln() - 0.5 / x - i2 * (1.0 / 12.0 - i2 * (1.0 / 120.0 - i2 / 252.0))
        };
        for z in [1e-3, 0.37, 1.0, 2.5, 7.9, 8.0, 13.2, 150.0, 1e5] {
            let (lg, psi) = lgamma_digamma(z);
            assert!(
                (lg - lgamma_f64(z)).abs() < 1e-10 * lg.abs().max(1.0),
                "lgamma({z})"
            );
            let want = digamma_ref(z);
            assert!(
                (psi - want).abs() < 1e-10 * want.abs().max(1.0),
                "digamma({z})"
            );
        }
    }

    #[test]
    fn fused_nb_equals_the_composite_in_value_and_gradient() {
        let [(v1, m1, t1, _), (v2, m2, t2, _)] = both(false);
        assert!((v1 - v2).abs() <= 1e-4 * v2.abs(), "{v1} vs {v2}");
        close(&m1, &m2, "d logits");
        close(&t1, &t2, "d ln theta");
    }

    #[test]
    fn fused_zinb_equals_the_composite_in_value_and_gradient() {
        let [(v1, m1, t1, p1), (v2, m2, t2, p2)] = both(true);
        assert!((v1 - v2).abs() <= 1e-4 * v2.abs(), "{v1} vs {v2}");
        close(&m1, &m2, "d logits");
        close(&t1, &t2, "d ln theta");
        close(&p1, &p2, "d pi");
    }
}
