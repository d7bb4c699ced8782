//! What a modality finds in groups of items: marker genes (cells), motifs (DNA). One type, so
//! the pipeline, its events, sessions, exports and the interface carry a modality's result
//! without naming it. A new modality with results of its own adds a variant here and the arms
//! of the methods below; nothing outside `modality/` changes unless it wants a new view.

use super::cells::markers::{MarkerTable, Markers};
use super::dna::motifs::MotifResults;
use std::sync::Arc;

/// A modality's characterisation of its clusters, or of one group against another.
#[derive(Debug, Clone)]
pub enum Findings {
    /// Marker genes per group (cells; Wilcoxon).
    Markers(Arc<Markers>),
    /// Motifs per group, with their matches in a database (DNA).
    Motifs(Arc<MotifResults>),
}

/// A characterisation stopped by its cancellation token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Findings {
    /// What they are, in words ("marker genes").
    pub fn name(&self) -> &'static str {
        match self {
            Findings::Markers(_) => "marker genes",
            Findings::Motifs(_) => "motifs",
        }
    }

    /// The stage that computed them, as timings and manifests name it.
    pub fn stage(&self) -> &'static str {
        match self {
            Findings::Markers(_) => "markers",
            Findings::Motifs(_) => "motifs",
        }
    }

    /// The export kinds these findings answer (`biolens export WHAT`), main table first;
    /// `Findings::table` (in `modality/mod.rs`, beside the dataset) writes them.
    pub fn tables(&self) -> &'static [&'static str] {
        match self {
            Findings::Markers(_) => &["markers"],
            Findings::Motifs(_) => &["motifs", "sites"],
        }
    }

    /// One line on a comparison of A against B ("812 genes ranked (Wilcoxon)").
    pub fn summary(&self) -> String {
        match self {
            Findings::Markers(m) => format!(
                "{} genes ranked (Wilcoxon)",
                m.tables.first().map_or(0, |t| t.markers.len())
            ),
            Findings::Motifs(m) => format!("{} motifs of A against B", m.motifs.len()),
        }
    }

    /// What a batch run prints about them on stderr (motifs: one line each; marker genes
    /// are many, so they stay in the session and its exports).
    pub fn report(&self, dataset: &str) -> Vec<String> {
        match self {
            Findings::Motifs(m) => m.report(dataset),
            Findings::Markers(_) => Vec::new(),
        }
    }

    /// What the clusters pane heads its "top" column with when the findings name each
    /// cluster better than a metadata label does ("top motif"); None leaves it to the labels.
    pub fn headline_column(&self) -> Option<&'static str> {
        match self {
            Findings::Motifs(_) => Some("top motif"),
            Findings::Markers(_) => None,
        }
    }

    /// Cluster `c`'s entry in that column: its best motif's consensus and best match.
    pub fn headline(&self, c: u32) -> Option<String> {
        match self {
            Findings::Motifs(r) => {
                // The per-cluster motifs also while the whole input's are shown.
                let (r, m) = r.runs().find_map(|r| Some((r, r.of_cluster(c).next()?)))?;
                let name = m
                    .matches
                    .first()
                    .map(|b| r.database[b.target].name.as_str());
                Some(format!(
                    "{} {}",
                    m.motif.consensus(),
                    name.unwrap_or_default()
                ))
            }
            Findings::Markers(_) => None,
        }
    }

    /// These findings landing where `previous` were: motifs keep the other grouping's
    /// motifs beside them (the whole input's do not change when the clusters do); marker
    /// genes replace the old ones.
    pub fn keeping(self, previous: Option<&Findings>) -> Findings {
        match (self, previous) {
            (Findings::Motifs(new), Some(Findings::Motifs(old))) => {
                Findings::Motifs(Arc::new(Arc::unwrap_or_clone(new).keeping(Some(old))))
            }
            (new, _) => new,
        }
    }

    /// The motifs of grouping `groups` shown instead of these, when they were searched before
    /// and kept; None otherwise.
    pub fn switched_to(&self, groups: super::dna::motifs::Groups) -> Option<Findings> {
        match self {
            Findings::Motifs(m) => Some(Findings::Motifs(Arc::new(m.switched_to(groups)?))),
            Findings::Markers(_) => None,
        }
    }

    /// Marker genes, when these are a cells dataset's.
    pub fn markers(&self) -> Option<&Arc<Markers>> {
        match self {
            Findings::Markers(m) => Some(m),
            Findings::Motifs(_) => None,
        }
    }

    /// The one marker table of a comparison (A against B).
    pub fn compared_markers(&self) -> Option<&MarkerTable> {
        self.markers()?.tables.first()
    }

    /// Motifs, when these are a DNA dataset's.
    pub fn motifs(&self) -> Option<&Arc<MotifResults>> {
        match self {
            Findings::Motifs(m) => Some(m),
            Findings::Markers(_) => None,
        }
    }
}
