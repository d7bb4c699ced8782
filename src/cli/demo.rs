//! The built-in demo: small real data of all three modalities, bundled in the binary and
//! written to a cache folder once per version.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The built-in demo: the bundled data written to a cache folder once per version. Returns
/// the inputs and the motif file the DNA tab is matched against.
pub fn demo_paths() -> Result<(Vec<PathBuf>, PathBuf)> {
    type Files = [(&'static str, &'static [u8])];
    const CELLS: &Files = &[
        (
            "matrix.mtx.gz",
            include_bytes!("../../assets/pbmc68k_reduced/matrix.mtx.gz"),
        ),
        (
            "barcodes.tsv.gz",
            include_bytes!("../../assets/pbmc68k_reduced/barcodes.tsv.gz"),
        ),
        (
            "features.tsv.gz",
            include_bytes!("../../assets/pbmc68k_reduced/features.tsv.gz"),
        ),
        (
            "labels.csv",
            include_bytes!("../../assets/pbmc68k_reduced/labels.csv"),
        ),
    ];
    const DNA: &Files = &[
        (
            "fly_promoters_3k.fa.gz",
            include_bytes!("../../assets/dna/fly_promoters_3k.fa.gz"),
        ),
        (
            "JASPAR2024_CORE_insects_nonredundant.meme",
            include_bytes!("../../assets/dna/JASPAR2024_CORE_insects_nonredundant.meme"),
        ),
    ];
    const IMAGES: &Files = &[
        (
            "he_region_1024.jpg",
            include_bytes!("../../assets/images/he_region_1024.jpg"),
        ),
        (
            "nuclei_dsb2018.png",
            include_bytes!("../../assets/images/nuclei_dsb2018.png"),
        ),
    ];
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("biolens")
        .join(format!("demo-{}", crate::VERSION));
    let write = |dir: &Path, files: &Files| -> Result<()> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the demo folder", dir.display()))?;
        for (name, bytes) in files {
            let p = dir.join(name);
            if std::fs::metadata(&p).map(|m| m.len() as usize).ok() != Some(bytes.len()) {
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, bytes)
                    .with_context(|| format!("{}: cannot write", tmp.display()))?;
                std::fs::rename(&tmp, &p)?;
            }
        }
        Ok(())
    };
    let cells = base.join("pbmc68k_reduced");
    write(&cells, CELLS)?;
    let dna = base.join("dna");
    write(&dna, DNA)?;
    let images = base.join("images");
    write(&images, IMAGES)?;
    Ok((
        vec![cells, dna.join("fly_promoters_3k.fa.gz"), images],
        dna.join("JASPAR2024_CORE_insects_nonredundant.meme"),
    ))
}
