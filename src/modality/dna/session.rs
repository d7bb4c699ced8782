//! A DNA dataset's part of a session, in `dna-INDEX/`: `sequences.parquet` (id, sequence as
//! read, soft-masking kept), `motifs.parquet` and `sites.parquet` (the export tables),
//! `motifs.meme` (the discovered motifs), `database.meme` (the motif file matched against, so
//! matches reopen without it) and, for an encoder trained here, `encoder/` (a checkpoint
//! folder in the DNABERT-2 layout that `--encoder` can load again).

use crate::io::parquet::{Column, Table, read_parquet, write_parquet};
use crate::io::{FileError, bad, column, io_err};
use crate::modality::dna::fastx::Sequences;
use crate::modality::dna::model::DnaEncoder;
use crate::modality::dna::motif_db::{self, Motif};
use crate::modality::dna::motifs::{FoundMotif, Groups, MotifResults, Site, Test, UserBackground};
use crate::modality::dna::tables::{motifs_table, sites_table};
use crate::modality::dna::tomtom::Match;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DnaEntry {
    pub folder: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<crate::modality::dna::model::EncoderSummary>,
    /// The encoder's weights are in `encoder/` (trained here); otherwise `encoder.origin`
    /// names the checkpoint folder.
    #[serde(default)]
    pub encoder_saved: bool,
    /// The motif background file's name; its sequences are in `background.fa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
}

/// Reads back what `write_fasta` wrote: whole records, as they were searched (the windows
/// were cut when the file was first read).
fn read_fasta(path: &Path) -> Result<Vec<Vec<u8>>, FileError> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    let mut seqs: Vec<Vec<u8>> = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        match line.first() {
            Some(b'>') => seqs.push(Vec::new()),
            None => {}
            Some(_) => match seqs.last_mut() {
                Some(s) => s.extend_from_slice(line),
                None => {
                    return Err(bad(
                        path,
                        format!("line {}: sequence before a header", i + 1),
                    ));
                }
            },
        }
    }
    Ok(seqs)
}

fn write_fasta(path: &Path, seqs: &[Vec<u8>]) -> Result<(), FileError> {
    let mut text = Vec::with_capacity(seqs.iter().map(|s| s.len() + 12).sum());
    for (i, s) in seqs.iter().enumerate() {
        text.extend_from_slice(format!(">bg{}\n", i + 1).as_bytes());
        text.extend_from_slice(s);
        text.push(b'\n');
    }
    std::fs::write(path, text).map_err(io_err(path))
}

/// Writes a DNA dataset's sequences, motifs and trained encoder into `dna-INDEX/`.
pub fn write(
    tmp: &Path,
    index: usize,
    name: &str,
    ids: &[String],
    s: &Sequences,
    motifs: Option<&MotifResults>,
    encoder: Option<&DnaEncoder>,
) -> Result<DnaEntry, FileError> {
    let folder = format!("dna-{index}");
    let dir = tmp.join(&folder);
    std::fs::create_dir(&dir).map_err(io_err(&dir))?;
    let mut t = Table::default();
    t.push("id", Column::Str(ids.to_vec()));
    t.push(
        "sequence",
        Column::Str(
            s.seqs
                .iter()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .collect(),
        ),
    );
    write_parquet(&dir.join("sequences.parquet"), &t)?;
    if let Some((_, db)) = &s.motif_db {
        let p = dir.join("database.meme");
        std::fs::write(&p, motif_db::meme_text(db)).map_err(io_err(&p))?;
    }
    if let Some(b) = &s.motif_background {
        write_fasta(&dir.join("background.fa"), &b.seqs)?;
    }
    if let Some(m) = motifs {
        write_parquet(&dir.join("motifs.parquet"), &motifs_table(name, m))?;
        write_parquet(&dir.join("sites.parquet"), &sites_table(name, ids, m))?;
        let p = dir.join("motifs.meme");
        let found: Vec<(&Motif, Option<f64>)> = m
            .motifs
            .iter()
            .map(|f| (&f.motif, Some(f.evalue)))
            .collect();
        std::fs::write(&p, motif_db::meme_text_scored(&found)).map_err(io_err(&p))?;
    }
    let mut encoder_saved = false;
    if let Some(e) = encoder
        && let Some(vm) = &e.varmap
    {
        let p = dir.join("encoder");
        crate::modality::dna::encoder::save(&p, &e.encoder.cfg, vm, &e.tokenizer)
            .map_err(|err| bad(&p, err.to_string()))?;
        encoder_saved = true;
    }
    Ok(DnaEntry {
        background: s.motif_background.as_ref().map(|b| b.name.clone()),
        folder,
        database: s.motif_db.as_ref().map(|(n, _)| n.clone()),
        encoder: encoder.map(|e| e.summary.clone()),
        encoder_saved,
    })
}

/// A DNA dataset's part of a session, read back.
pub type DnaParts = (
    Arc<Sequences>,
    Option<Arc<MotifResults>>,
    Option<Arc<DnaEncoder>>,
);

pub fn read(dir: &Path, d: &DnaEntry, n: usize) -> Result<DnaParts, FileError> {
    let ddir = dir.join(&d.folder);
    let spath = ddir.join("sequences.parquet");
    let st = read_parquet(&spath)?;
    let Column::Str(seqs) = column(&st, "sequence", &spath)? else {
        return Err(bad(&spath, "column 'sequence' is not text"));
    };
    if seqs.len() != n {
        return Err(bad(
            &spath,
            format!("{} sequences for {n} items", seqs.len()),
        ));
    }
    let dbpath = ddir.join("database.meme");
    let db = if dbpath.exists() {
        Arc::new(motif_db::read_motifs(&dbpath).map_err(|e| bad(&dbpath, e.to_string()))?)
    } else {
        Arc::new(Vec::new())
    };
    let sequences = Arc::new(Sequences {
        seqs: seqs.iter().map(|s| s.as_bytes().to_vec()).collect(),
        motif_db: d.database.clone().map(|name| (name, db.clone())),
        motif_background: match &d.background {
            Some(name) => {
                let p = ddir.join("background.fa");
                Some(UserBackground {
                    name: name.clone(),
                    seqs: Arc::new(read_fasta(&p)?),
                })
            }
            None => None,
        },
    });
    let mpath = ddir.join("motifs.parquet");
    let motifs = if mpath.exists() {
        Some(Arc::new(read_motifs(
            &mpath,
            &ddir.join("sites.parquet"),
            db,
            d,
        )?))
    } else {
        None
    };
    let encoder = match (&d.encoder, d.encoder_saved) {
        (Some(_), true) => {
            let p = ddir.join("encoder");
            let mut e = crate::modality::dna::model::load(&p, &candle_core::Device::Cpu)
                .map_err(|err| bad(&p, err.to_string()))?;
            if let Some(s) = &d.encoder {
                e.summary = s.clone();
            }
            Some(Arc::new(e))
        }
        _ => None,
    };
    Ok((sequences, motifs, encoder))
}

fn read_motifs(
    mpath: &Path,
    spath: &Path,
    db: Arc<Vec<Motif>>,
    d: &DnaEntry,
) -> Result<MotifResults, FileError> {
    let t = read_parquet(mpath)?;
    let ints = |name: &str| -> Result<Vec<i32>, FileError> {
        match column(&t, name, mpath)? {
            Column::I32(v) => Ok(v.clone()),
            _ => Err(bad(mpath, format!("column '{name}' is not an integer"))),
        }
    };
    let nums = |name: &str| -> Result<Vec<f64>, FileError> {
        column(&t, name, mpath)?
            .as_f64()
            .ok_or_else(|| bad(mpath, format!("column '{name}' is not numeric")))
    };
    let texts = |name: &str| -> Result<Vec<String>, FileError> {
        match column(&t, name, mpath)? {
            Column::Str(v) => Ok(v.clone()),
            _ => Err(bad(mpath, format!("column '{name}' is not text"))),
        }
    };
    let (cluster, rank, width) = (ints("cluster")?, ints("rank")?, ints("width")?);
    let (fh, fnn, bh, bn) = (
        ints("test_fg_hits")?,
        ints("test_fg_n")?,
        ints("test_bg_hits")?,
        ints("test_bg_n")?,
    );
    let (pv, ev, tp, thr) = (
        nums("pvalue")?,
        nums("evalue")?,
        nums("train_pvalue")?,
        nums("threshold")?,
    );
    let (id, seed, match_id) = (texts("motif")?, texts("seed")?, texts("match_id")?);
    let (mev, mqv) = (nums("match_evalue")?, nums("match_qvalue")?);
    let strand = texts("strand")?;
    // Sessions before 0.4 tested on held-out sequences only and searched clusters only.
    let optional = |name: &str| t.get(name).is_some().then(|| texts(name)).transpose();
    let tests = optional("test")?;
    let groups = match optional("groups")? {
        Some(g) if g.first().is_some_and(|x| x == "all") => Groups::All,
        _ => Groups::Clusters,
    };
    let background = optional("background")?
        .and_then(|b| b.into_iter().next())
        .unwrap_or_default();
    let Column::ListF32 { offsets, values } = column(&t, "probs", mpath)? else {
        return Err(bad(mpath, "column 'probs' is not a list"));
    };
    let mut motifs = Vec::with_capacity(id.len());
    for i in 0..id.len() {
        let v = &values[offsets[i]..offsets[i + 1]];
        if v.len() != width[i] as usize * 4 {
            return Err(bad(
                mpath,
                format!("row {}: probs do not match width", i + 1),
            ));
        }
        let probs: Vec<[f64; 4]> = v
            .chunks(4)
            .map(|c| [c[0] as f64, c[1] as f64, c[2] as f64, c[3] as f64])
            .collect();
        let matches = db
            .iter()
            .position(|m| !match_id[i].is_empty() && m.id == match_id[i])
            .map(|target| Match {
                target,
                offset: 0,
                reverse: strand[i] == "-",
                overlap: 0,
                pvalue: mev[i] / db.len().max(1) as f64,
                evalue: mev[i],
                qvalue: mqv[i],
            })
            .into_iter()
            .collect();
        let motif = Motif {
            id: id[i].clone(),
            name: String::new(),
            probs,
            nsites: 0.0,
        };
        motifs.push(FoundMotif {
            cluster: cluster[i].max(0) as u32,
            rank: rank[i].max(0) as usize,
            motif: Motif {
                name: motif.consensus(),
                ..motif
            },
            seed: seed[i].clone(),
            threshold: thr[i],
            test: tests
                .as_ref()
                .and_then(|t| Test::parse(&t[i]))
                .unwrap_or(Test::HeldOut),
            test_fg: (fh[i].max(0) as usize, fnn[i].max(0) as usize),
            test_bg: (bh[i].max(0) as usize, bn[i].max(0) as usize),
            pvalue: pv[i],
            evalue: ev[i],
            train_pvalue: tp[i],
            sites: Vec::new(),
            matches,
        });
    }
    if spath.exists() {
        let st = read_parquet(spath)?;
        let (Column::Str(mid), Column::I32(item), Column::I32(start), Column::Str(strand)) = (
            column(&st, "motif", spath)?,
            column(&st, "item", spath)?,
            column(&st, "start", spath)?,
            column(&st, "strand", spath)?,
        ) else {
            return Err(bad(spath, "unexpected column types"));
        };
        let score = column(&st, "score", spath)?
            .as_f64()
            .ok_or_else(|| bad(spath, "column 'score' is not numeric"))?;
        for k in 0..mid.len() {
            if let Some(m) = motifs.iter_mut().find(|m| m.motif.id == mid[k]) {
                m.sites.push(Site {
                    item: item[k].max(0) as u32,
                    pos: (start[k] - 1).max(0) as u32,
                    reverse: strand[k] == "-",
                    score: score[k] as f32,
                });
            }
        }
    }
    // MEME's nsites is the sites the matrix was built from; sessions before 0.3 did not
    // store it, and fall back to the sites found.
    match t.get("nsites").and_then(|c| c.as_f64()) {
        Some(ns) if ns.len() == motifs.len() => {
            for (m, n) in motifs.iter_mut().zip(ns) {
                m.motif.nsites = n;
            }
        }
        _ => {
            for m in &mut motifs {
                m.motif.nsites = m.sites.len() as f64;
            }
        }
    }
    Ok(MotifResults {
        motifs,
        database: db,
        database_name: d.database.clone(),
        groups,
        background,
        // Sampling notes are said when the search runs; a session keeps the motifs.
        notes: Vec::new(),
    })
}
