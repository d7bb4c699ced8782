//! The command line: clap definitions (one flattened options struct per modality, DESIGN §5)
//! and the commands `main.rs` dispatches to. Flags follow DESIGN §3.

mod commands;
mod demo;
mod progress;
mod scan;
mod watch;

pub use commands::{AnndataTarget, export, open, run};
pub use scan::scan;
pub use watch::watch;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "biolens", version, args_conflicts_with_subcommands = false, about = "Explore unlabelled biological data in the terminal: kNN graph, UMAP-like map, Leiden clusters, anomalies.", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Inputs to open (same as `biolens open PATH…`); none opens the built-in demo.
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: CommonOpts,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open inputs or a saved session in the terminal interface (no path: the built-in demo).
    Open { paths: Vec<PathBuf> },
    /// Compute headless and write a session folder.
    Run {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output session folder (NAME.biolens).
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
    },
    /// Follow a training run: embedding files (a folder, a file rewritten in place, or a
    /// pattern such as 'runs/exp3/emb_epoch_*.npy') are computed as they land, each
    /// version's map started from the one before, its clusters numbered as before.
    Watch(WatchArgs),
    /// Export a table from a saved session.
    Export {
        session: PathBuf,
        what: crate::export::What,
        /// The selection's name (`export S selection NAME -o FILE`).
        name: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// AnnData: the session's dataset to write, by name (default: the cells dataset).
        #[arg(long)]
        dataset: Option<String>,
        /// AnnData: write a copy of this .h5ad (the one the session was made from) with
        /// biolens' results added, every original element kept as it was.
        #[arg(long, value_name = "INPUT.h5ad")]
        into: Option<PathBuf>,
    },
    /// Scan a known motif across sequences (FIMO-like): every site at p ≤ --site-p, with
    /// q-values, and each sequence's best site. Needs --motifs.
    Scan {
        /// FASTA/FASTQ sequences (cut into windows as `run` does).
        seqs: PathBuf,
        /// The motif's id or name in the --motifs file.
        #[arg(long)]
        motif: String,
        /// Sites at or below this p-value are listed.
        #[arg(long, default_value_t = 1e-4)]
        site_p: f64,
        /// Where the sites go: .csv, .parquet (default: CSV on standard output).
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
    },
}

/// What `biolens watch` was given.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Files, folders or patterns to follow ('*' and '?' in the file name; quote them).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The run's metrics log (CSV with a header, or JSON lines), read as it grows.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// No interface: a line per version on standard error, versions kept in -o.
    #[arg(long)]
    pub headless: bool,
    /// Session folder the versions are written into, side by side (NAME.biolens).
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// Milliseconds a file must keep its size and time before it counts as written.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub settle_ms: u64,
    /// Stop once nothing has landed or computed for this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ExportFormat {
    Csv,
    Parquet,
    /// MEME minimal format (motifs only).
    Meme,
}

/// How cells are embedded.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ModelChoice {
    /// The count model for raw integer counts, the PCA baseline otherwise.
    Auto,
    /// log1p-CP10k → HVG → scale → PCA (scanpy's standard workflow).
    Pca,
    /// The scVI-style negative-binomial VAE (needs raw counts).
    Scvi,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum DnaModelChoice {
    /// Canonical k-mer spectrum, centred log-ratio, PCA.
    Kmer,
    /// Pre-train a small encoder on the input by masked-language modelling.
    Mlm,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ImageModelChoice {
    /// Colour, stain, texture and thumbnail features, PCA.
    Baseline,
    /// A small CNN trained on the tiles with SimCLR.
    Simclr,
}

/// `--background`: a keyword or a FASTA file.
#[derive(Debug, Clone, PartialEq)]
pub enum MotifBackground {
    /// The sequences of the other clusters.
    Clusters,
    /// Dinucleotide-shuffled copies of the cluster's own sequences.
    Shuffled,
    /// Sequences from a FASTA/FASTQ file (ChIP peaks against flanks, promoters against
    /// random genome).
    File(PathBuf),
}

impl std::str::FromStr for MotifBackground {
    type Err = String;

    /// The keywords win over a file of the same name; write `./shuffled` for such a file.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shuffled" => Ok(Self::Shuffled),
            "clusters" | "others" => Ok(Self::Clusters),
            "" => Err("expected shuffled, clusters or a FASTA file".into()),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum MotifGroups {
    /// Each cluster is a foreground of its own.
    Clusters,
    /// The whole input is one foreground.
    All,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ClusterChoice {
    Leiden,
    Kmeans,
}

#[derive(Debug, Args, Clone)]
pub struct CommonOpts {
    /// Metadata CSV aligned by id (first column) or by row.
    #[arg(long, global = true)]
    pub meta: Option<PathBuf>,
    /// Two numeric metadata columns holding each item's position on the tissue ("X,Y"),
    /// for the tissue view (w), :moran and :nhood.
    #[arg(long, global = true, value_parser = parse_pair, value_name = "X,Y")]
    pub spatial: Option<(String, String)>,
    /// Metadata column with known labels: prints ARI, NMI, trustworthiness and kNN recall.
    #[arg(long, global = true)]
    pub labels: Option<String>,
    /// Selections to replay on this data: a selections.toml (e.g. from an earlier session).
    /// `run` stores them, with their sizes reported; `open` shows them.
    #[arg(long, global = true)]
    pub selections: Option<PathBuf>,
    #[arg(long, default_value_t = 0, global = true)]
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0, global = true)]
    pub threads: usize,
    #[arg(long, value_enum, default_value = "leiden", global = true)]
    pub cluster: ClusterChoice,
    /// Leiden resolution.
    #[arg(long, default_value_t = 1.0, global = true)]
    pub resolution: f64,
    /// Number of k-means clusters.
    #[arg(long, default_value_t = 10, global = true)]
    pub clusters: usize,
    /// Neighbours per item, the item included.
    #[arg(short = 'k', long = "neighbors", default_value_t = 15, global = true)]
    pub k: usize,
    /// Log file (default: $XDG_STATE_HOME/biolens/biolens.log or ~/.local/state/…).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Where models train: cpu, or cuda (build with --features cuda).
    #[arg(long, default_value = "cpu", global = true)]
    pub device: crate::core::nn::DeviceKind,
    /// DNA: step between windows; images: step between tiles (default: the window or tile
    /// length, no overlap).
    #[arg(long, default_value_t = 0, global = true)]
    pub stride: usize,
    /// Key file merged over the default keys (default: $XDG_CONFIG_HOME/biolens/keys.toml or
    /// ~/.config/biolens/keys.toml when it exists).
    #[arg(long, global = true)]
    pub keys: Option<PathBuf>,
    /// Leave the mouse to the terminal (tmux copy mode, selecting text); also `[ui] mouse =
    /// false` in the key file.
    #[arg(long, global = true)]
    pub no_mouse: bool,
    #[command(flatten)]
    pub cells: CellsArgs,
    #[command(flatten)]
    pub dna: DnaArgs,
    #[command(flatten)]
    pub images: ImagesArgs,
}

/// Cells flags.
#[derive(Debug, Args, Clone)]
pub struct CellsArgs {
    /// Cells: embedding model.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub model: ModelChoice,
    /// Cells: maximum training epochs of the count model (default: scvi-tools' heuristic
    /// from the number of cells, at most 400).
    #[arg(long, global = true)]
    pub epochs: Option<usize>,
    /// Cells: count likelihood.
    #[arg(long, default_value = "nb", global = true)]
    pub likelihood: crate::modality::cells::vae::Likelihood,
    /// Cells: epochs without a better validation ELBO before training stops (0: never).
    #[arg(long, default_value_t = 45, global = true)]
    pub patience: usize,
    /// Cells: KL warm-up epochs (default: half the epochs, at most 400).
    #[arg(long, global = true)]
    pub kl_warmup: Option<usize>,
    /// Cells: highly variable genes the count model reads (seurat_v3 flavour).
    #[arg(long, default_value_t = 2000, global = true)]
    pub n_top_genes: usize,
    /// Cells: QC filter, minimum detected genes per cell (cells with zero counts are always
    /// dropped).
    #[arg(long, default_value_t = 0, global = true)]
    pub min_genes: usize,
    /// Cells: use this .h5ad obsm matrix (e.g. X_scVI, X_pca) as the embedding.
    #[arg(long, global = true)]
    pub obsm: Option<String>,
    /// Cells: read this .h5ad layer (layers/NAME) as the expression matrix.
    #[arg(long, global = true, conflicts_with = "raw")]
    pub layer: Option<String>,
    /// Cells: read the .h5ad's raw matrix (raw/X) as the expression matrix.
    #[arg(long, global = true)]
    pub raw: bool,
}

/// DNA flags.
#[derive(Debug, Args, Clone)]
pub struct DnaArgs {
    /// DNA: window length in bases (default: records up to 2,000 bases whole, longer ones
    /// cut into 1,000-base windows).
    #[arg(long, default_value_t = 0, global = true)]
    pub window: usize,
    /// DNA: k-mer length of the baseline spectrum (1 to 8; 4 to 6 suit most inputs).
    #[arg(long = "kmer", default_value_t = 4, global = true)]
    pub kmer: usize,
    /// DNA: JASPAR or MEME motif file that discovered motifs are matched against.
    #[arg(long, global = true)]
    pub motifs: Option<PathBuf>,
    /// DNA: background of the motif enrichment tests: `shuffled` (what a group has beyond
    /// its dinucleotide composition), `clusters` (what sets a cluster apart from the other
    /// clusters) or a FASTA/FASTQ file of background sequences (ChIP peaks against flanks,
    /// promoters against random genome).
    #[arg(long = "background", default_value = "shuffled", global = true)]
    pub motif_background: MotifBackground,
    /// DNA: which sequences motifs are sought in: each cluster, or the whole input as one set.
    #[arg(long, value_enum, default_value = "clusters", global = true)]
    pub motif_groups: MotifGroups,
    /// DNA: most motifs reported per group.
    #[arg(long, default_value_t = 5, global = true)]
    pub max_motifs: usize,
    /// DNA: a group with more sequences is searched in a seeded sample of this many (its
    /// sites are still found in all of them); lower it to bound the time on a large input.
    #[arg(long, default_value_t = 3000, global = true, value_parser = clap::value_parser!(u64).range(10..))]
    pub motif_sample: u64,
    /// DNA: seed k-mer length of motif discovery.
    #[arg(long, default_value_t = 8, global = true)]
    pub motif_k: usize,
    /// DNA: embedding model: the k-mer baseline, or a DNABERT-2-style encoder pre-trained
    /// here by masked-language modelling.
    #[arg(long, value_enum, default_value = "kmer", global = true)]
    pub dna_model: DnaModelChoice,
    /// DNA: a pretrained encoder folder (DNABERT-2 layout: config.json, model.safetensors or
    /// pytorch_model.bin, tokenizer.json); takes the place of --dna-model.
    #[arg(long, global = true)]
    pub encoder: Option<PathBuf>,
    /// DNA: pre-training epochs of the encoder.
    #[arg(long, default_value_t = 4, global = true)]
    pub mlm_epochs: usize,
    /// DNA: hidden size of the pre-trained encoder (heads: hidden / 32).
    #[arg(long, default_value_t = 128, global = true)]
    pub mlm_hidden: usize,
    /// DNA: layers of the pre-trained encoder.
    #[arg(long, default_value_t = 2, global = true)]
    pub mlm_layers: usize,
    /// DNA: BPE vocabulary size learnt for the pre-trained encoder.
    #[arg(long, default_value_t = 512, global = true)]
    pub mlm_vocab: usize,
}

/// Images flags.
#[derive(Debug, Args, Clone)]
pub struct ImagesArgs {
    /// Images: tile side in pixels (default 64; whole slides 224, at --mag).
    #[arg(long, global = true)]
    pub tile: Option<u32>,
    /// Whole slides: tile side in microns (the pixels follow from --mag), instead of --tile.
    #[arg(long, global = true, value_name = "UM", conflicts_with = "tile")]
    pub tile_um: Option<f64>,
    /// Whole slides: magnification tiles are cut at, "20x" being 0.5 µm per pixel
    /// (default 20x).
    #[arg(long, global = true, value_parser = parse_mag, value_name = "MAG")]
    pub mag: Option<f64>,
    /// Whole slides: microns per pixel of the scan, when the file does not say or says wrong.
    #[arg(long, global = true, value_name = "UM")]
    pub mpp: Option<f64>,
    /// Images: a pretrained DINOv2-style ViT folder (Hugging Face names: config.json,
    /// model.safetensors); tiles are embedded by its CLS token.
    #[arg(long, global = true)]
    pub image_encoder: Option<PathBuf>,
    /// Images: side in pixels tiles are resized to for the ViT (rounded to its patch size).
    #[arg(long, default_value_t = 224, global = true)]
    pub vit_size: u32,
    /// Images: embedding model: the baseline features, or a small CNN trained here with
    /// SimCLR.
    #[arg(long, value_enum, default_value = "baseline", global = true)]
    pub image_model: ImageModelChoice,
    /// Images: SimCLR training epochs.
    #[arg(long, default_value_t = 30, global = true)]
    pub ssl_epochs: usize,
    /// Images: epochs of the autoencoder whose reconstruction error is an anomaly score
    /// (0: off).
    #[arg(long, default_value_t = 10, global = true)]
    pub ae_epochs: usize,
    /// Images: keep tiles the foreground mask (Otsu on saturation or intensity) calls
    /// background.
    #[arg(long, global = true)]
    pub keep_background: bool,
}

/// "X,Y": two column names.
fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((x, y)) if !x.trim().is_empty() && !y.trim().is_empty() => {
            Ok((x.trim().to_string(), y.trim().to_string()))
        }
        _ => Err(format!("expected two column names as X,Y, got {s:?}")),
    }
}

/// "20x", "20X" or "20": a magnification above zero.
fn parse_mag(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches(['x', 'X']);
    match t.parse::<f64>() {
        Ok(m) if m > 0.0 && m.is_finite() => Ok(m),
        _ => Err(format!(
            "expected a magnification such as 20x or 40x, got {s:?}"
        )),
    }
}

impl CellsArgs {
    fn options(
        &self,
        seed: u64,
        device: crate::core::nn::DeviceKind,
    ) -> crate::modality::cells::Options {
        use crate::modality::cells::ModelChoice as M;
        crate::modality::cells::Options {
            model: match self.model {
                ModelChoice::Auto => M::Auto,
                ModelChoice::Pca => M::Pca,
                ModelChoice::Scvi => M::Scvi,
            },
            params: crate::modality::cells::model::CellsParams {
                scvi: crate::modality::cells::vae::ScviParams {
                    likelihood: self.likelihood,
                    max_epochs: self.epochs,
                    kl_warmup_epochs: self.kl_warmup,
                    patience: self.patience,
                    seed,
                    ..Default::default()
                },
                n_top_genes: self.n_top_genes,
                device,
            },
            baseline: Default::default(),
            obsm: self.obsm.clone(),
            matrix: match (&self.layer, self.raw) {
                (Some(l), _) => crate::modality::cells::h5ad::MatrixChoice::Layer(l.clone()),
                (None, true) => crate::modality::cells::h5ad::MatrixChoice::Raw,
                (None, false) => crate::modality::cells::h5ad::MatrixChoice::Auto,
            },
            min_genes: self.min_genes,
        }
    }
}

impl DnaArgs {
    fn options(
        &self,
        seed: u64,
        device: crate::core::nn::DeviceKind,
        stride: usize,
    ) -> crate::modality::dna::Options {
        use crate::modality::dna::DnaModel;
        crate::modality::dna::Options {
            window: crate::modality::dna::fastx::WindowParams {
                window: self.window,
                stride,
            },
            kmer: crate::modality::dna::kmer::KmerParams {
                k: self.kmer,
                ..Default::default()
            },
            motifs: self.motifs.clone(),
            background: match &self.motif_background {
                MotifBackground::File(p) => Some(p.clone()),
                MotifBackground::Clusters | MotifBackground::Shuffled => None,
            },
            model: match (&self.encoder, self.dna_model) {
                (Some(dir), _) => DnaModel::Pretrained(dir.clone()),
                (None, DnaModelChoice::Kmer) => DnaModel::Kmer,
                (None, DnaModelChoice::Mlm) => DnaModel::Mlm,
            },
            mlm: crate::modality::dna::encoder::MlmParams {
                epochs: self.mlm_epochs,
                hidden: self.mlm_hidden,
                heads: (self.mlm_hidden / 32).max(1),
                layers: self.mlm_layers,
                vocab: self.mlm_vocab,
                seed,
                ..Default::default()
            },
            device,
        }
    }
}

impl ImagesArgs {
    fn options(
        &self,
        seed: u64,
        device: crate::core::nn::DeviceKind,
        stride: usize,
    ) -> crate::modality::images::Options {
        crate::modality::images::Options {
            tiles: {
                let d = crate::modality::images::tiles::TileParams::default();
                // 10 µm per pixel at 1x: 20x is 0.5 µm/px, 40x 0.25.
                let slide_mpp = self.mag.map(|m| 10.0 / m).unwrap_or(d.slide_mpp);
                crate::modality::images::tiles::TileParams {
                    tile: self.tile.unwrap_or(d.tile),
                    stride: stride as u32,
                    keep_background: self.keep_background,
                    slide_tile: self
                        .tile
                        .or(self
                            .tile_um
                            .map(|um| (um / slide_mpp).round().max(1.0) as u32))
                        .unwrap_or(d.slide_tile),
                    slide_mpp,
                    mpp: self.mpp,
                    ..d
                }
            },
            vit: self.image_encoder.clone(),
            vit_size: self.vit_size,
            ssl: (self.image_model == ImageModelChoice::Simclr).then(|| {
                crate::modality::images::ssl::SslParams {
                    epochs: self.ssl_epochs,
                    seed,
                    ..Default::default()
                }
            }),
            ae_epochs: self.ae_epochs,
            seed,
            device,
        }
    }
}

impl CommonOpts {
    /// How inputs are read and embedded, from every modality's flags.
    pub fn input_options(&self) -> crate::modality::Options {
        crate::modality::Options {
            meta: self.meta.clone(),
            spatial: self.spatial.clone(),
            cells: self.cells.options(self.seed, self.device),
            dna: self.dna.options(self.seed, self.device, self.stride),
            images: self.images.options(self.seed, self.device, self.stride),
        }
    }

    pub fn pipeline_params(&self) -> crate::pipeline::PipelineParams {
        use crate::analysis::{kmeans::KMeansParams, leiden::LeidenParams};
        let mut p = crate::pipeline::PipelineParams {
            threads: self.threads,
            ..Default::default()
        };
        p.knn.k = self.k;
        p.motifs.k = self.dna.motif_k;
        p.motifs.background = match self.dna.motif_background {
            MotifBackground::Clusters => crate::modality::dna::motifs::Background::Clusters,
            // A file is read with the input and takes the place of either.
            MotifBackground::Shuffled | MotifBackground::File(_) => {
                crate::modality::dna::motifs::Background::Shuffled
            }
        };
        p.motifs.groups = match self.dna.motif_groups {
            MotifGroups::Clusters => crate::modality::dna::motifs::Groups::Clusters,
            MotifGroups::All => crate::modality::dna::motifs::Groups::All,
        };
        p.motifs.max_per_cluster = self.dna.max_motifs;
        p.motifs.max_foreground = self.dna.motif_sample as usize;
        p.cluster = match self.cluster {
            ClusterChoice::Leiden => crate::pipeline::ClusterMethod::Leiden(LeidenParams {
                resolution: self.resolution,
                ..Default::default()
            }),
            ClusterChoice::Kmeans => crate::pipeline::ClusterMethod::Kmeans(KMeansParams {
                k: self.clusters,
                ..Default::default()
            }),
        };
        p.with_seed(self.seed)
    }

    /// Worker threads: the flag, or every core for 0.
    pub fn thread_count(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }
}
