//! One item of a session: what `session::write` stores and `session::read` gives back (its own
//! file so that the writers of the session's tables, `points.rs`, import no `mod.rs`).

use crate::modality::{Dataset, Embedding};
use crate::pipeline::Analysis;

/// A dataset, its embedding and its analysis, as stored in or read from a session.
#[derive(Debug, Clone)]
pub struct SessionDataset {
    pub dataset: Dataset,
    pub embedding: Embedding,
    pub analysis: Analysis,
}
