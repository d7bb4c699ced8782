//! k-means through linfa-clustering (k-means++ initialisation, several restarts).

use crate::core::matrix::Matrix;
use linfa::prelude::*;
use linfa_clustering::KMeans;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KMeansParams {
    pub k: usize,
    pub n_runs: usize,
    pub max_iterations: u64,
    pub tolerance: f64,
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        Self {
            k: 10,
            n_runs: 3,
            max_iterations: 300,
            tolerance: 1e-4,
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KMeansError {
    #[error("k-means needs 1 ≤ k ≤ n items; got k = {k} for {n} items")]
    BadK { k: usize, n: usize },
    #[error("k-means failed: {0}")]
    Linfa(String),
}

/// Cluster labels numbered by decreasing size.
pub fn kmeans(data: &Matrix, p: &KMeansParams) -> Result<Vec<u32>, KMeansError> {
    if p.k == 0 || p.k > data.rows {
        return Err(KMeansError::BadK {
            k: p.k,
            n: data.rows,
        });
    }
    let x = data.to_ndarray_f64();
    let ds = DatasetBase::from(x.clone());
    let model = KMeans::params_with_rng(p.k, Xoshiro256PlusPlus::seed_from_u64(p.seed))
        .n_runs(p.n_runs.max(1))
        .max_n_iterations(p.max_iterations)
        .tolerance(p.tolerance)
        .fit(&ds)
        .map_err(|e| KMeansError::Linfa(e.to_string()))?;
    let labels = model.predict(&x);
    let raw: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    Ok(super::leiden::order_by_size(&raw))
}
