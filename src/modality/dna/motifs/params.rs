//! What motif discovery is asked to do: which groups, against which background, how hard.

use std::sync::Arc;

/// Background for the enrichment tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// The sequences of every other cluster.
    Clusters,
    /// Each foreground sequence shuffled preserving its 3-mer counts. The default:
    /// clusters of a composition-driven embedding differ mostly in composition, which the
    /// other-clusters background reports as motifs.
    #[default]
    Shuffled,
}

/// Which sequences form a foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Groups {
    /// Each cluster is searched on its own.
    #[default]
    Clusters,
    /// The whole input is one foreground.
    All,
}

/// Background sequences the user gave (`--background FILE.fa`), used for every group.
#[derive(Debug, Clone)]
pub struct UserBackground {
    /// The file's name, for messages and tables.
    pub name: String,
    pub seqs: Arc<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MotifParams {
    /// Seed k-mer length.
    pub k: usize,
    /// Motifs reported per group at most.
    pub max_per_cluster: usize,
    /// Share of sequences held out for the reported p-value.
    pub holdout: f64,
    /// Fewest held-out foreground sequences for a held-out test; smaller groups are tested
    /// by cross-validation.
    #[serde(default = "default_min_holdout")]
    pub min_holdout: usize,
    /// Folds of that cross-validation.
    #[serde(default = "default_folds")]
    pub folds: usize,
    pub background: Background,
    #[serde(default)]
    pub groups: Groups,
    /// At most this many background sequences are used (a seeded sample), for speed.
    pub max_background: usize,
    /// At most this many of a group's sequences are searched for motifs (a seeded sample, as
    /// MEME-ChIP samples its input), so the search scales with the number of groups, not the
    /// input's length; sites are then found in every sequence of the group.
    #[serde(default = "default_max_foreground")]
    pub max_foreground: usize,
    pub seed: u64,
}

fn default_min_holdout() -> usize {
    50
}

fn default_folds() -> usize {
    5
}

fn default_max_foreground() -> usize {
    3000
}

impl Default for MotifParams {
    fn default() -> Self {
        Self {
            k: 8,
            max_per_cluster: 5,
            holdout: 0.1,
            min_holdout: default_min_holdout(),
            folds: default_folds(),
            background: Background::Shuffled,
            groups: Groups::Clusters,
            max_background: 6000,
            max_foreground: default_max_foreground(),
            seed: 0,
        }
    }
}

impl MotifParams {
    /// Other clusters cannot be the background when the whole input is one group.
    pub fn effective_background(&self) -> Background {
        match self.groups {
            Groups::All => Background::Shuffled,
            Groups::Clusters => self.background,
        }
    }

    /// The background, in words, for tables and panes.
    pub fn describe_background(&self, user: Option<&UserBackground>) -> String {
        match (user, self.effective_background()) {
            (Some(u), _) => format!("{} ({} sequences)", u.name, u.seqs.len()),
            (None, Background::Clusters) => "other clusters".into(),
            (None, Background::Shuffled) => "3-mer-shuffled foreground".into(),
        }
    }
}
