//! Self-supervised models in candle. Training uses only operations with backward rules
//! (methods.md §0): composite log-softmax, lgamma and softplus, never the fused no-backward ops.

pub mod dnabert;
pub mod lgamma;
pub mod scvi;

use candle_core::Device;

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
