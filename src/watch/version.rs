//! One version of a live run, computed so the picture stays put: the projection starts from
//! the previous version's positions of the items both share (a new item at its nearest
//! shared neighbour's), clusters are numbered by their overlap with the previous version's,
//! and what changed is measured: ARI and NMI against the previous clusters, how far the
//! shared items moved on the map, and which moved most.

use crate::analysis::knn::KnnGraph;
use crate::analysis::metrics::{ari, nmi};
use crate::pipeline::groups::overlap_ids;
use crate::pipeline::{
    Analysed, CancelToken, PipelineError, PipelineEvent, PipelineParams, RunOptions,
};
use crate::session::SessionDataset;
use crate::watch::files::Stamp;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The metadata column holding how far each item moved on the map since the previous version
/// (empty for an item the previous version did not have): it colours the map and ranks the
/// items that moved most, as any numeric column does.
pub const MOVED_COLUMN: &str = "moved";

/// How many of the items that moved most a version keeps.
pub const MOVED_KEPT: usize = 100;

/// A computed version.
#[derive(Debug, Clone)]
pub struct Version {
    /// 1, 2, … in the order versions were computed.
    pub number: usize,
    pub stamp: Stamp,
    pub item: SessionDataset,
    /// The files read, checksummed as they landed (for the session's manifest).
    pub inputs: Vec<crate::session::InputFile>,
    pub change: Change,
}

/// What changed from the previous computed version.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub number: usize,
    pub file: String,
    pub landed: SystemTime,
    pub n: usize,
    pub clusters: usize,
    /// Items this version shares (by id) with the previous one.
    pub shared: usize,
    pub ari: Option<f64>,
    pub nmi: Option<f64>,
    /// The median distance the shared items moved on the map, in map units, and the map's
    /// diagonal for scale.
    pub median_move: Option<f64>,
    pub diagonal: f64,
    /// The items that moved most (index in this version, distance), largest first.
    pub moved: Vec<(usize, f32)>,
    pub seconds: f64,
    /// The metrics log's step (or epoch) when the version was computed, if there is a log.
    pub step: Option<f64>,
}

impl Change {
    /// One line for the history pane and for stderr under `--headless`.
    pub fn line(&self) -> String {
        let mut l = format!(
            "v{} {} · {} items · {} clusters",
            self.number, self.file, self.n, self.clusters
        );
        match (self.ari, self.nmi, self.median_move) {
            (Some(a), Some(m), Some(d)) => l.push_str(&format!(
                " · vs v{}: ARI {a:.3}, NMI {m:.3}, median move {d:.3} ({:.1} % of the map), {} shared",
                self.number - 1,
                100.0 * d / self.diagonal.max(1e-12),
                self.shared
            )),
            _ if self.number > 1 => {
                l.push_str(" · no items shared with the version before (ids differ)")
            }
            _ => {}
        }
        l.push_str(&format!(" · {:.1} s", self.seconds));
        l
    }
}

/// Where each item starts: a shared item at its previous position, a new one at its nearest
/// shared neighbour's (by the new kNN graph; the previous map's centre when none of its
/// neighbours is shared). None when fewer than half the items are shared: the map is then
/// laid out afresh.
pub fn start_positions(
    ids: &[String],
    previous: &SessionDataset,
    knn: &KnnGraph,
) -> Option<Vec<[f32; 2]>> {
    let index = id_index(&previous.dataset.ids);
    let old: Vec<Option<usize>> = ids
        .iter()
        .map(|id| index.get(id.as_str()).copied())
        .collect();
    let shared = old.iter().filter(|o| o.is_some()).count();
    if shared * 2 < ids.len() {
        return None;
    }
    let layout = &previous.analysis.layout;
    let centre = {
        let n = layout.len().max(1) as f32;
        let s = layout
            .iter()
            .fold([0f32; 2], |a, p| [a[0] + p[0], a[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    Some(
        (0..ids.len())
            .map(|i| match old[i] {
                Some(j) => layout[j],
                None => knn
                    .neighbors(i)
                    .iter()
                    .find_map(|&k| old.get(k as usize).copied().flatten())
                    .map_or(centre, |j| layout[j]),
            })
            .collect(),
    )
}

/// Computes the version in `stamp` through the one pipeline (read, embed or take as is,
/// analyse), started from `previous`, and measures the change.
pub fn compute(
    number: usize,
    stamp: &Stamp,
    params: &PipelineParams,
    opts: &RunOptions,
    previous: Option<&Version>,
    emit: &(dyn Fn(PipelineEvent) + Sync),
    cancel: &CancelToken,
) -> Result<Version, PipelineError> {
    let t0 = Instant::now();
    let progress =
        |name: &'static str, fraction: f64| emit(PipelineEvent::Stage { name, fraction });
    let mut ds = crate::modality::read_with(&stamp.path, &opts.inputs, &progress)?;
    ds.name = format!("v{number} {}", ds.name);
    let inputs = ds
        .inputs
        .iter()
        .map(|p| crate::session::checksum(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PipelineError::Stage("reading", e.to_string()))?;
    let ds = Arc::new(ds);
    let ids = ds.ids.clone();
    let start = |knn: &KnnGraph| previous.and_then(|p| start_positions(&ids, &p.item, knn));
    let Analysed {
        dataset,
        embedding,
        mut analysis,
    } = crate::pipeline::run_dataset_from(ds, params, opts, &start, emit, cancel)?;
    let mut change = Change {
        number,
        file: stamp.path.file_name().map_or_else(
            || stamp.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        landed: stamp.modified,
        n: dataset.len(),
        clusters: 0,
        shared: 0,
        ari: None,
        nmi: None,
        median_move: None,
        diagonal: diagonal(&analysis.layout),
        moved: vec![],
        seconds: 0.0,
        step: None,
    };
    let mut moved_column = None;
    if let Some(p) = previous {
        let index = id_index(&p.item.dataset.ids);
        let pairs: Vec<(usize, usize)> = dataset
            .ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| index.get(id.as_str()).map(|&j| (i, j)))
            .collect();
        change.shared = pairs.len();
        if !pairs.is_empty() {
            let (old_c, new_c) = (&p.item.analysis.clusters, &analysis.clusters);
            let a: Vec<u32> = pairs.iter().map(|&(_, j)| old_c[j]).collect();
            let b: Vec<u32> = pairs.iter().map(|&(i, _)| new_c[i]).collect();
            // Numbers kept where clusters stayed: colours and numbers do not jump.
            let k_new = new_c.iter().max().map_or(0, |m| *m as usize + 1);
            let id = overlap_ids(&a, &b, k_new);
            let renumbered: Vec<u32> = new_c.iter().map(|&c| id[c as usize]).collect();
            let b: Vec<u32> = pairs.iter().map(|&(i, _)| renumbered[i]).collect();
            analysis.clusters = Arc::new(renumbered);
            change.ari = Some(ari(&a, &b));
            change.nmi = Some(nmi(&a, &b));
            let (old_l, new_l) = (&p.item.analysis.layout, &analysis.layout);
            let mut moved: Vec<(usize, f32)> = pairs
                .iter()
                .map(|&(i, j)| {
                    let (dx, dy) = (new_l[i][0] - old_l[j][0], new_l[i][1] - old_l[j][1]);
                    (i, (dx * dx + dy * dy).sqrt())
                })
                .collect();
            let mut column = vec![f64::NAN; new_l.len()];
            for &(i, d) in &moved {
                column[i] = d as f64;
            }
            moved_column = Some(column);
            moved.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            change.median_move = Some(moved[moved.len() / 2].1 as f64);
            moved.truncate(MOVED_KEPT);
            change.moved = moved;
        }
    }
    change.clusters = analysis
        .clusters
        .iter()
        .max()
        .map_or(0, |m| *m as usize + 1);
    change.seconds = t0.elapsed().as_secs_f64();
    let mut dataset = Arc::unwrap_or_clone(dataset);
    if let Some(values) = moved_column {
        dataset.meta.retain(|c| c.name != MOVED_COLUMN);
        dataset.meta.push(crate::core::MetaColumn {
            name: MOVED_COLUMN.into(),
            values: crate::core::MetaValues::Number(values),
        });
    }
    Ok(Version {
        number,
        stamp: stamp.clone(),
        item: SessionDataset {
            dataset,
            embedding: Arc::unwrap_or_clone(embedding),
            analysis,
        },
        inputs,
        change,
    })
}

/// Each id's row.
fn id_index(ids: &[String]) -> HashMap<&str, usize> {
    ids.iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect()
}

fn diagonal(l: &[[f32; 2]]) -> f64 {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for p in l {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    (((hi[0] - lo[0]).powi(2) + (hi[1] - lo[1]).powi(2)) as f64)
        .sqrt()
        .max(0.0)
}
