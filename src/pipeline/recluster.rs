//! What runs again on an existing analysis: new clusters (and their characterisation) for
//! `:recluster` and any batch recluster, and a marker comparison of two groups (`:compare`).

use super::{CancelToken, ClusterMethod, PipelineError, PipelineEvent, cluster};
use crate::analysis::fuzzy;
use crate::analysis::graph::CsrGraph;
use crate::analysis::knn::KnnGraph;
use crate::core::matrix::Matrix;
use crate::modality::{self, Characterisation, Dataset};
use std::sync::Arc;

/// New clusters for an analysis, with the graph they were found on and their
/// characterisation.
#[derive(Debug, Clone)]
pub struct Reclustered {
    pub clusters: Arc<Vec<u32>>,
    pub method: ClusterMethod,
    pub graph: Arc<CsrGraph>,
    pub characterisation: Characterisation,
}

/// Clusters again with `method`: on the fuzzy graph (rebuilt from the kNN graph when a
/// session did not keep it) for Leiden, on `embedding` for k-means. Emits `Stage` progress,
/// then the clusters and each characterisation as they land.
#[allow(clippy::too_many_arguments)]
pub fn recluster(
    ds: &Dataset,
    embedding: &Matrix,
    knn: &KnnGraph,
    graph: Option<Arc<CsrGraph>>,
    method: &ClusterMethod,
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
    let clusters = Arc::new(cluster(embedding, &graph, method, cancel)?);
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }
    emit(PipelineEvent::Clusters(clusters.clone(), method.clone()));
    let progress =
        |name: &'static str, fraction: f64| emit(PipelineEvent::Stage { name, fraction });
    let characterisation = modality::characterise(ds, &clusters, motif_params, &progress, &|| {
        cancel.is_cancelled()
    })
    .ok_or(PipelineError::Cancelled)?;
    if let Some(m) = &characterisation.markers {
        emit(PipelineEvent::Markers(m.clone()));
    }
    if let Some(m) = &characterisation.motifs {
        emit(PipelineEvent::Motifs(m.clone()));
    }
    Ok(Reclustered {
        clusters,
        method: method.clone(),
        graph,
        characterisation,
    })
}

/// Marker genes of cluster set `a` against cluster set `b` (an empty set means "every other
/// cluster"), labelled `label`.
pub fn compare(
    ds: &Dataset,
    clusters: &[u32],
    a: &[u32],
    b: &[u32],
    label: &str,
) -> Result<crate::modality::cells::markers::MarkerTable, PipelineError> {
    let pick = |set: &[u32], other: &[u32]| -> Vec<usize> {
        (0..clusters.len())
            .filter(|&i| {
                if set.is_empty() {
                    !other.contains(&clusters[i])
                } else {
                    set.contains(&clusters[i])
                }
            })
            .collect()
    };
    let (ia, ib) = (pick(a, b), pick(b, a));
    if ia.is_empty() || ib.is_empty() {
        return Err(PipelineError::Stage(
            "compare",
            format!("{label}: a side has no items"),
        ));
    }
    modality::compare(ds, &ia, &ib, label).ok_or_else(|| {
        PipelineError::Stage(
            "compare",
            "marker genes need expression values (cells)".into(),
        )
    })
}
