//! What every candle model shares: the device, checkpoint tensor checks, seeded weight
//! initialisation and (in tests) a gradient-coverage check. Training uses only operations
//! with backward rules (methods.md §0): composite log-softmax, lgamma and softplus, never the
//! fused no-backward ops.

use candle_core::{Device, Tensor};
use std::collections::HashMap;

/// Checks a checkpoint's tensors against the shapes a config implies; on the first missing
/// or mis-shaped one returns its name and what is wrong, for an error naming the file.
pub fn check_tensors(
    map: &HashMap<String, Tensor>,
    expected: Vec<(String, Vec<usize>)>,
) -> Result<(), (String, String)> {
    for (name, shape) in expected {
        match map.get(&name) {
            None => return Err((name, format!("is missing (expected shape {shape:?})"))),
            Some(t) if t.dims() != shape.as_slice() => {
                let problem = format!("has shape {:?}, expected {shape:?}", t.dims());
                return Err((name, problem));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where models run: `cpu` always; `cuda` when built with the `cuda` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceKind::Cpu),
            "cuda" => Ok(DeviceKind::Cuda),
            _ => Err(format!("unknown device '{s}' (expected cpu or cuda)")),
        }
    }
}

impl DeviceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }

    pub fn device(&self) -> Result<Device, String> {
        match self {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda if cfg!(feature = "cuda") => {
                Device::new_cuda(0).map_err(|e| format!("cannot open CUDA device 0: {e}"))
            }
            DeviceKind::Cuda => Err("--device cuda needs a build with the cuda feature: \
                 cargo build --release --features cuda (requires the CUDA toolkit)"
                .into()),
        }
    }
}

/// Sets every variable of `varmap` to U(−1/√fan_in, 1/√fan_in) (PyTorch's default for
/// convolutions and linear layers) from a host generator seeded with `seed`. Variables are
/// visited by name: a VarMap is a hash map, so its own order differs from run to run and
/// would make the "seeded" weights differ too.
pub fn seeded_uniform_init(
    varmap: &candle_nn::VarMap,
    seed: u64,
    device: &Device,
) -> candle_core::Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the variable map's lock is poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let fan_in =
            (shape.elem_count() / shape.dims().first().copied().unwrap_or(1).max(1)).max(1);
        let bound = (1.0 / fan_in as f64).sqrt() as f32;
        let v: Vec<f32> = (0..shape.elem_count())
            .map(|_| rng.gen_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(v, shape, device)?)?;
    }
    Ok(())
}

/// Test helper: every named variable got a gradient whose squared norm is finite and above
/// zero (methods.md §0.2 — fused no-backward operations cut the graph silently).
#[cfg(test)]
pub fn assert_gradients<'a>(
    grads: &candle_core::backprop::GradStore,
    vars: impl IntoIterator<Item = (String, &'a candle_core::Var)>,
) {
    for (name, v) in vars {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let n = g
            .sqr()
            .and_then(|x| x.sum_all())
            .and_then(|x| x.to_scalar::<f32>())
            .unwrap_or(f32::NAN);
        assert!(n.is_finite() && n > 0.0, "{name}: gradient norm² {n}");
    }
}
