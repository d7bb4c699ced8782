//! What runs again on an existing analysis: new clusters (and their characterisation) for
//! `:recluster` and any batch recluster, and a comparison of two groups of items (`:compare`).

use super::groups::{Comparison, Crosstab, compare_meta, renumber_by_overlap, versus_previous};
use super::{CancelToken, ClusterMethod, PipelineError, PipelineEvent, cluster};
use crate::analysis::fuzzy;
use crate::analysis::graph::CsrGraph;
use crate::analysis::knn::KnnGraph;
use crate::core::matrix::Matrix;
use crate::modality::{self, Dataset, Findings};
use std::sync::Arc;

/// New clusters for an analysis, with the graph they were found on and their
/// characterisation.
#[derive(Debug, Clone)]
pub struct Reclustered {
    pub clusters: Arc<Vec<u32>>,
    pub method: ClusterMethod,
    pub graph: Arc<CsrGraph>,
    pub findings: Option<Findings>,
    /// The previous clusters against the new ones, and their adjusted Rand index (when there
    /// were previous clusters).
    pub versus_previous: Option<(Crosstab, f64)>,
}

/// Clusters again with `method`: on the fuzzy graph (rebuilt from the kNN graph when a
/// session did not keep it) for Leiden, on `embedding` for k-means. New clusters are numbered
/// by their overlap with `previous` ones, so a cluster that stayed keeps its number and colour.
/// Emits `Stage` progress, then, once all is done and not cancelled, the clusters and each
/// characterisation.
#[allow(clippy::too_many_arguments)]
pub fn recluster(
    ds: &Dataset,
    embedding: &Matrix,
    knn: &KnnGraph,
    graph: Option<Arc<CsrGraph>>,
    method: &ClusterMethod,
    previous: Option<&[u32]>,
    motif_params: &crate::modality::dna::motifs::MotifParams,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Reclustered, PipelineError> {
    emit(PipelineEvent::Stage {
        name: "fuzzy graph",
        fraction: 0.0,
    });
    let graph = graph.unwrap_or_else(|| Arc::new(fuzzy::fuzzy_simplicial_set(knn)));
    emit(PipelineEvent::Stage {
        name: "clustering",
        fraction: 0.5,
    });
    let mut clusters = cluster(embedding, &graph, method, cancel)?;
    let previous = previous.filter(|p| p.len() == clusters.len());
    if let Some(p) = previous {
        clusters = renumber_by_overlap(p, &clusters);
    }
    let against_previous = previous.map(|p| {
        (
            versus_previous(p, &clusters),
            crate::analysis::metrics::ari(p, &clusters),
        )
    });
    let clusters = Arc::new(clusters);
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }
    let progress =
        |name: &'static str, fraction: f64| emit(PipelineEvent::Stage { name, fraction });
    let findings = modality::characterise(ds, &clusters, motif_params, &progress, &|| {
        cancel.is_cancelled()
    })
    .map_err(|_| PipelineError::Cancelled)?;
    // Results go out only once everything is done: a recluster cancelled at any stage
    // (markers cannot stop half-way) changes nothing the user sees or exports.
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }
    emit(PipelineEvent::Clusters(clusters.clone(), method.clone()));
    if let Some(f) = &findings {
        emit(PipelineEvent::Findings(f.clone()));
    }
    Ok(Reclustered {
        clusters,
        method: method.clone(),
        graph,
        findings,
        versus_previous: against_previous,
    })
}

/// Items `a` against items `b`: the modality's characterisation (marker genes, or A's motifs
/// against B) and every metadata column compared.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    ds: &Dataset,
    a: &[usize],
    b: &[usize],
    label: &str,
    motif_params: &crate::modality::dna::motifs::MotifParams,
    progress: &(dyn Fn(&'static str, f64) + Sync),
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Comparison, PipelineError> {
    if a.is_empty() || b.is_empty() {
        return Err(PipelineError::Stage(
            "compare",
            format!("{label}: a side has no items"),
        ));
    }
    progress("metadata", 0.0);
    let meta = compare_meta(ds, a, b);
    let findings = modality::compare(ds, a, b, label, motif_params, progress, cancelled)
        .map_err(|_| PipelineError::Cancelled)?;
    Ok(Comparison {
        label: label.to_string(),
        n_a: a.len(),
        n_b: b.len(),
        findings,
        meta,
    })
}
