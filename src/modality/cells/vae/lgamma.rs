//! log Γ in candle, built only from operations that have backward rules (candle has no lgamma):
//! shift the argument up by K with the recurrence, then Stirling's series. Autograd through it
//! yields the digamma function, on any device. Host (f64) versions for constants and tests.

use candle_core::{Result, Tensor};

const SHIFT: usize = 6;
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Element-wise log Γ(z) for z > 0, differentiable.
///
/// Uses lgamma(z) = lgamma(z+K) − Σ_{i<K} ln(z+i): the logs are summed, never the product,
/// because z reaches 1e5 for highly expressed genes and the product would overflow f32.
pub fn lgamma(z: &Tensor) -> Result<Tensor> {
    let mut shift_logs = z.log()?;
    for i in 1..SHIFT {
        shift_logs = (shift_logs + z.affine(1.0, i as f64)?.log()?)?;
    }
    let w = z.affine(1.0, SHIFT as f64)?;
    let ln_w = w.log()?;
    let inv = w.recip()?;
    let inv2 = inv.sqr()?;
    // 1/(12w) − 1/(360w³) + 1/(1260w⁵), in Horner form on 1/w².
    let series = (inv2.affine(1.0 / 1260.0, 0.0)?.affine(1.0, -1.0 / 360.0)? * &inv2)?
        .affine(1.0, 1.0 / 12.0)?;
    let series = (series * inv)?;
    let stirling = ((w.affine(1.0, -0.5)? * ln_w)? - &w)?.affine(1.0, HALF_LN_2PI)?;
    (stirling + series)? - shift_logs
}

/// Element-wise log Γ(z) for z > 0: one fused CPU operation whose backward is ψ(z) (also
/// fused), the composite `lgamma` elsewhere. The likelihood calls it on every count of a
/// mini-batch, where the composite's ~15 operations and their backward dominated the step.
pub fn lgamma_fast(z: &Tensor) -> Result<Tensor> {
    if z.device().is_cpu() && z.dtype() == candle_core::DType::F32 {
        z.contiguous()?.apply_op1(LgammaOp)
    } else {
        lgamma(z)
    }
}

struct LgammaOp;
struct DigammaOp;

fn map_f32(
    storage: &candle_core::CpuStorage,
    layout: &candle_core::Layout,
    f: fn(f64) -> f64,
) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
    let candle_core::CpuStorage::F32(v) = storage else {
        candle_core::bail!("lgamma: f32 only");
    };
    let Some((a, b)) = layout.contiguous_offsets() else {
        candle_core::bail!("lgamma: contiguous input expected");
    };
    let out: Vec<f32> = v[a..b].iter().map(|&x| f(x as f64) as f32).collect();
    Ok((candle_core::CpuStorage::F32(out), layout.shape().clone()))
}

impl candle_core::CustomOp1 for LgammaOp {
    fn name(&self) -> &'static str {
        "lgamma"
    }
    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        map_f32(storage, layout, lgamma_f64)
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let psi = arg.contiguous()?.apply_op1_no_bwd(&DigammaOp)?;
        Ok(Some(grad_res.mul(&psi)?))
    }
}

impl candle_core::CustomOp1 for DigammaOp {
    fn name(&self) -> &'static str {
        "digamma"
    }
    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        map_f32(storage, layout, digamma_f64)
    }
}

/// log Γ(x) in f64 on the host (for data constants such as lgamma(x+1), and as a reference).
pub fn lgamma_f64(x: f64) -> f64 {
    libm::lgamma(x)
}

/// ψ(x) on the host: recurrence up to x ≥ 6, then the asymptotic series.
pub fn digamma_f64(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 6.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    acc + x.ln() - 0.5 * inv - inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 / 252.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn eval(xs: &[f64]) -> Vec<f64> {
        let t = Tensor::new(xs, &Device::Cpu).unwrap();
        lgamma(&t).unwrap().to_vec1::<f64>().unwrap()
    }

    #[test]
    fn matches_reference_values_in_f64() {
        let cases = [
            (0.5, 0.5 * std::f64::consts::PI.ln()),
            (1.0, 0.0),
            (2.0, 0.0),
            (10.0, 362_880f64.ln()),
            (1e-3, lgamma_f64(1e-3)),
            (1e4, lgamma_f64(1e4)),
            (1e6, lgamma_f64(1e6)),
            (123.456, lgamma_f64(123.456)),
        ];
        let got = eval(&cases.map(|c| c.0));
        for ((x, want), g) in cases.iter().zip(got) {
            let tol = 1e-8 * want.abs().max(1.0);
            assert!((g - want).abs() < tol, "lgamma({x}) = {g}, want {want}");
        }
    }

    #[test]
    fn f32_relative_error_is_small() {
        let xs: Vec<f32> = vec![0.05, 0.3, 1.5, 7.0, 42.0, 900.0, 123_456.0];
        let t = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        let got = lgamma(&t).unwrap().to_vec1::<f32>().unwrap();
        for (x, g) in xs.iter().zip(got) {
            let want = lgamma_f64(*x as f64);
            let err = (g as f64 - want).abs() / want.abs().max(1.0);
            assert!(
                err < 2e-6,
                "lgamma({x}) f32 = {g}, want {want}, rel err {err}"
            );
        }
    }

    #[test]
    fn fused_cpu_version_matches_the_composite_in_value_and_gradient() {
        let xs: Vec<f32> = vec![0.05, 0.7, 3.0, 41.5, 2500.0];
        let v = Var::new(xs.as_slice(), &Device::Cpu).unwrap();
        let w = Var::new(xs.as_slice(), &Device::Cpu).unwrap();
        let a = lgamma_fast(v.as_tensor()).unwrap();
        let b = lgamma(w.as_tensor()).unwrap();
        let (ga, gb) = (
            a.sum_all().unwrap().backward().unwrap(),
            b.sum_all().unwrap().backward().unwrap(),
        );
        let (a, b) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        let da = ga.get(v.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        let db = gb.get(w.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        for i in 0..xs.len() {
            assert!(
                (a[i] - b[i]).abs() <= 2e-6 * a[i].abs().max(1.0),
                "{i}: {} {}",
                a[i],
                b[i]
            );
            assert!(
                (da[i] - db[i]).abs() <= 1e-4 * da[i].abs().max(1.0),
                "{i}: {} {}",
                da[i],
                db[i]
            );
        }
    }

    #[test]
    fn gradient_is_digamma_and_matches_finite_differences() {
        let xs = [0.2f64, 1.0, 3.0, 17.5, 2500.0];
        let v = Var::new(&xs[..], &Device::Cpu).unwrap();
        let y = lgamma(v.as_tensor()).unwrap().sum_all().unwrap();
        let g = y.backward().unwrap();
        let grad = g.get(v.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        for (&x, &d) in xs.iter().zip(&grad) {
            let h = 1e-5 * x.max(1.0);
            let fd = (lgamma_f64(x + h) - lgamma_f64(x - h)) / (2.0 * h);
            assert!(
                (d - fd).abs() < 1e-6 * fd.abs().max(1.0),
                "x={x}: {d} vs fd {fd}"
            );
            let psi = digamma_f64(x);
            assert!(
                (d - psi).abs() < 1e-7 * d.abs().max(1.0),
                "x={x}: {d} vs ψ {psi}"
            );
        }
        assert!(
            (grad[1] + 0.577_215_664_9).abs() < 1e-7,
            "ψ(1) = {}",
            grad[1]
        );
        assert_eq!(v.dtype(), DType::F64);
    }
}
