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
        let mut m = read_motifs(&mpath, &ddir.join("sites.parquet"), db, d)?;
        m.fill_spread(&sequences.seqs);
        Some(Arc::new(m))
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
    // An integer column, or a float one where the whole input's rows have no cluster (null).
    let cluster: Vec<Option<u32>> = match column(&t, "cluster", mpath)? {
        Column::I32(v) => v.iter().map(|&c| Some(c.max(0) as u32)).collect(),
        c => c
            .as_f64()
            .ok_or_else(|| bad(mpath, "column 'cluster' is not an integer"))?
            .iter()
            .map(|&c| (c.is_finite() && c >= 0.0).then_some(c as u32))
            .collect(),
    };
    let (rank, width) = (ints("rank")?, ints("width")?);
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
    // Each row's grouping; sessions before 0.5 wrote the whole input's motifs as cluster 0.
    let row_groups: Vec<Groups> = match optional("groups")? {
        Some(g) => g
            .iter()
            .map(|x| {
                if x == "all" {
                    Groups::All
                } else {
                    Groups::Clusters
                }
            })
            .collect(),
        None => vec![Groups::Clusters; id.len()],
    };
    let backgrounds = optional("background")?;
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
            cluster: match row_groups.get(i) {
                Some(Groups::All) => None,
                _ => cluster.get(i).copied().flatten(),
            },
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
            spread: Vec::new(),
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
    // The grouping shown was written first; the other one, if searched, is kept beside it.
    let shown = row_groups.first().copied().unwrap_or_default();
    let run = |groups: Groups, motifs: Vec<FoundMotif>| -> MotifResults {
        let background = (0..id.len())
            .find(|&i| row_groups.get(i) == Some(&groups))
            .and_then(|i| backgrounds.as_ref().map(|b| b[i].clone()))
            .unwrap_or_default();
        MotifResults {
            motifs,
            database: db.clone(),
            database_name: d.database.clone(),
            groups,
            background,
            // Sampling notes are said when the search runs; a session keeps the motifs.
            notes: Vec::new(),
            kept: None,
        }
    };
    let (mut first, mut other) = (Vec::new(), Vec::new());
    for (i, m) in motifs.into_iter().enumerate() {
        if row_groups.get(i).copied().unwrap_or_default() == shown {
            first.push(m);
        } else {
            other.push(m);
        }
    }
    let other_groups = match shown {
        Groups::All => Groups::Clusters,
        Groups::Clusters => Groups::All,
    };
    let kept = (!other.is_empty()).then(|| Arc::new(run(other_groups, other)));
    Ok(MotifResults {
        kept,
        ..run(shown, first)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(id: &str, cluster: Option<u32>, item: u32) -> FoundMotif {
        FoundMotif {
            cluster,
            rank: 1,
            motif: Motif {
                id: id.into(),
                name: String::new(),
                probs: vec![[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]],
                nsites: 5.0,
            },
            seed: "AG".into(),
            threshold: 1.0,
            test: Test::HeldOut,
            test_fg: (5, 10),
            test_bg: (1, 10),
            pvalue: 1e-3,
            evalue: 2e-3,
            train_pvalue: 1e-4,
            sites: vec![Site {
                item,
                pos: 3,
                reverse: false,
                score: 2.0,
            }],
            matches: Vec::new(),
            spread: Vec::new(),
        }
    }

    fn run(groups: Groups, motifs: Vec<FoundMotif>, background: &str) -> MotifResults {
        MotifResults {
            motifs,
            groups,
            background: background.into(),
            ..Default::default()
        }
    }

    #[test]
    fn both_groupings_are_kept_written_with_the_whole_inputs_cluster_empty_and_read_back() {
        let clusters = run(
            Groups::Clusters,
            vec![found("c0-m1", Some(0), 1), found("c1-m1", Some(1), 2)],
            "the other clusters",
        );
        let all = run(
            Groups::All,
            vec![found("all-m1", None, 0)],
            "shuffled (3-mers)",
        )
        .keeping(Some(&clusters));
        assert_eq!(all.kept.as_ref().unwrap().motifs.len(), 2);
        // The whole input's motifs cover every cluster; the headline still has cluster 1's.
        assert_eq!(all.covering(1).count(), 1);
        assert_eq!(all.of_cluster(1).count(), 0);

        let t = motifs_table("d", &all);
        let Some(Column::OptI32(c)) = t.get("cluster") else {
            panic!("cluster column: {:?}", t.get("cluster"));
        };
        assert_eq!(
            c,
            &vec![None, Some(0), Some(1)],
            "never cluster 0 for 'all'"
        );
        assert_eq!(
            t.get("groups"),
            Some(&Column::Str(vec![
                "all".into(),
                "clusters".into(),
                "clusters".into()
            ]))
        );
        assert_eq!(
            sites_table("d", &["a".into(), "b".into(), "c".into()], &all).n_rows(),
            3
        );

        let dir = tempfile::tempdir().unwrap();
        let (mp, sp) = (
            dir.path().join("motifs.parquet"),
            dir.path().join("sites.parquet"),
        );
        write_parquet(&mp, &t).unwrap();
        write_parquet(
            &sp,
            &sites_table("d", &["a".into(), "b".into(), "c".into()], &all),
        )
        .unwrap();
        let entry = DnaEntry {
            folder: "d".into(),
            database: None,
            encoder: None,
            encoder_saved: false,
            background: None,
        };
        let back = read_motifs(&mp, &sp, Arc::new(Vec::new()), &entry).unwrap();
        assert_eq!(back.groups, Groups::All);
        assert_eq!(back.background, "shuffled (3-mers)");
        assert_eq!(back.motifs[0].cluster, None);
        assert_eq!(back.motifs[0].sites.len(), 1);
        let kept = back.kept.as_ref().unwrap();
        assert_eq!(kept.groups, Groups::Clusters);
        assert_eq!(kept.background, "the other clusters");
        assert_eq!(
            kept.motifs.iter().map(|m| m.cluster).collect::<Vec<_>>(),
            vec![Some(0), Some(1)]
        );

        // Switching shows the kept grouping and keeps the one shown.
        let per_cluster = back.switched_to(Groups::Clusters).unwrap();
        assert_eq!(per_cluster.motifs.len(), 2);
        assert_eq!(per_cluster.kept.as_ref().unwrap().groups, Groups::All);
        assert!(per_cluster.switched_to(Groups::Clusters).is_none());
        // New per-cluster motifs (a recluster) replace the old ones and keep the whole input's.
        let again =
            run(Groups::Clusters, vec![found("c0-m1", Some(0), 1)], "x").keeping(Some(&back));
        assert_eq!(again.motifs.len(), 1);
        assert_eq!(again.kept.as_ref().unwrap().groups, Groups::All);
        assert!(again.kept.as_ref().unwrap().kept.is_none());
    }
}
