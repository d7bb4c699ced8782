//! `biolens scan`: a known motif scanned across sequences, headless.

use super::CommonOpts;
use crate::modality::dna::scan::{find_motif, scan as scan_motif};
use crate::modality::dna::tables::scan_table;
use anyhow::{Context, Result, bail};
use std::path::Path;

pub fn scan(
    seqs: &Path,
    key: &str,
    site_p: f64,
    out: Option<&Path>,
    opts: &CommonOpts,
) -> Result<()> {
    if !(site_p > 0.0 && site_p <= 1.0) {
        bail!("--site-p must be in (0, 1], got {site_p}");
    }
    let inputs = opts.input_options();
    inputs.dna.check().map_err(anyhow::Error::msg)?;
    if inputs.dna.motifs.is_none() {
        bail!("biolens scan needs --motifs FILE (JASPAR or MEME) to take --motif {key} from");
    }
    let read = crate::modality::dna::read(seqs, &inputs.dna)?;
    let s = &read.data.sequences;
    let Some((db_name, db)) = &s.motif_db else {
        bail!("no motifs were read from --motifs");
    };
    let motif = find_motif(db, key).map_err(|e| anyhow::anyhow!("--motif: {db_name}: {e}"))?;
    let threads = opts.thread_count();
    let r = crate::pipeline::with_threads(threads, || scan_motif(&s.seqs, motif, site_p));
    let table = scan_table(&read.ids, &s.seqs, &r);
    match out {
        Some(p) => crate::export::write_table(p, &table)
            .with_context(|| format!("writing {}", p.display()))?,
        None => match crate::export::write_csv_to(&mut std::io::stdout().lock(), &table) {
            // `biolens scan … | head`: the reader has what it wanted; stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r.context("writing to standard output")?,
        },
    }
    let with_site = r
        .best
        .iter()
        .flatten()
        .filter(|b| b.pvalue <= site_p)
        .count();
    eprintln!(
        "{} {} ({} bp) on {}: {} sites at p ≤ {site_p:e} in {with_site} of {} sequences ({} windows scored){}",
        motif.id,
        motif.name,
        motif.width(),
        seqs.display(),
        r.sites.len(),
        read.ids.len(),
        r.windows,
        out.map(|p| format!("; written to {}", p.display()))
            .unwrap_or_default()
    );
    let mut order: Vec<usize> = (0..read.ids.len()).collect();
    order.sort_by(|&a, &b| r.seq_pvalue[a].total_cmp(&r.seq_pvalue[b]));
    eprintln!("best sequences (p of the best site, corrected for the sequence's windows):");
    for &i in order.iter().take(10) {
        if let Some(b) = r.best[i] {
            eprintln!(
                "  {:<24} p {:.2e}  site {}{} score {:.1}",
                read.ids[i],
                r.seq_pvalue[i],
                b.pos + 1,
                if b.reverse { "-" } else { "+" },
                b.score
            );
        }
    }
    Ok(())
}
