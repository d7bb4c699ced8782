//! The DNA export tables: discovered motifs (DESIGN's columns) and every site of every motif.

use crate::io::parquet::{Column, Table};
use crate::modality::dna::motifs::{FoundMotif, Groups, MotifResults, Site};
use crate::modality::dna::scan::ScanResult;

/// Discovered motifs, one row each, of both groupings when both were searched (the ones
/// shown first): the cluster searched (empty for the whole input), the test of their
/// enrichment (held-out or cross-validated), best database match and the probability matrix
/// (`probs`, width × A C G T, row-major).
pub fn motifs_table(dataset: &str, r: &MotifResults) -> Table {
    let rows: Vec<(&MotifResults, &FoundMotif)> = r
        .runs()
        .flat_map(|run| run.motifs.iter().map(move |m| (run, m)))
        .collect();
    let n = rows.len();
    type Best<'a> = (&'a MotifResults, &'a crate::modality::dna::tomtom::Match);
    let best = |f: &dyn Fn(Best) -> String| -> Column {
        Column::Str(
            rows.iter()
                .map(|(run, x)| x.matches.first().map(|b| f((run, b))).unwrap_or_default())
                .collect(),
        )
    };
    let num = |f: &dyn Fn(&FoundMotif) -> f64| -> Column {
        Column::F64(rows.iter().map(|(_, x)| f(x)).collect())
    };
    let int = |f: &dyn Fn(&FoundMotif) -> usize| -> Column {
        Column::I32(rows.iter().map(|(_, x)| f(x) as i32).collect())
    };
    let text = |f: &dyn Fn(&MotifResults, &FoundMotif) -> String| -> Column {
        Column::Str(rows.iter().map(|(run, x)| f(run, x)).collect())
    };
    let mut t = Table::default();
    t.push("dataset", Column::Str(vec![dataset.to_string(); n]));
    t.push(
        "cluster",
        Column::OptI32(
            rows.iter()
                .map(|(_, x)| x.cluster.map(|c| c as i32))
                .collect(),
        ),
    );
    t.push("rank", int(&|x| x.rank));
    t.push("motif", text(&|_, x| x.motif.id.clone()));
    t.push("consensus", text(&|_, x| x.motif.consensus()));
    t.push("seed", text(&|_, x| x.seed.clone()));
    t.push("width", int(&|x| x.motif.width()));
    t.push("sites", int(&|x| x.sites.len()));
    // The sites the matrix was built from (MEME's nsites), fewer than the sites it finds.
    t.push("nsites", num(&|x| x.motif.nsites));
    // How the p-value was obtained, the groups searched and what they were compared with.
    t.push("test", text(&|_, x| x.test.label()));
    t.push(
        "groups",
        text(&|run, _| match run.groups {
            Groups::All => "all".into(),
            Groups::Clusters => "clusters".into(),
        }),
    );
    t.push("background", text(&|run, _| run.background.clone()));
    t.push("test_fg_hits", int(&|x| x.test_fg.0));
    t.push("test_fg_n", int(&|x| x.test_fg.1));
    t.push("test_bg_hits", int(&|x| x.test_bg.0));
    t.push("test_bg_n", int(&|x| x.test_bg.1));
    t.push("pvalue", num(&|x| x.pvalue));
    t.push("evalue", num(&|x| x.evalue));
    t.push("train_pvalue", num(&|x| x.train_pvalue));
    t.push("threshold", num(&|x| x.threshold));
    t.push(
        "match_id",
        best(&|(run, b)| run.database[b.target].id.clone()),
    );
    t.push(
        "match_name",
        best(&|(run, b)| run.database[b.target].name.clone()),
    );
    t.push(
        "match_evalue",
        num(&|x| x.matches.first().map_or(f64::NAN, |b| b.evalue)),
    );
    t.push(
        "match_qvalue",
        num(&|x| x.matches.first().map_or(f64::NAN, |b| b.qvalue)),
    );
    t.push(
        "strand",
        best(&|(_, b)| if b.reverse { "-" } else { "+" }.to_string()),
    );
    let mut offsets = vec![0usize];
    let mut values = Vec::new();
    for (_, x) in &rows {
        for c in &x.motif.probs {
            values.extend(c.iter().map(|&v| v as f32));
        }
        offsets.push(values.len());
    }
    t.push("probs", Column::ListF32 { offsets, values });
    t
}

/// Every site of every motif (of both groupings when both were searched): the item, 1-based start/end, strand and log-odds score.
pub fn sites_table(dataset: &str, ids: &[String], r: &MotifResults) -> Table {
    let rows: Vec<(&FoundMotif, &Site)> = r
        .runs()
        .flat_map(|run| run.motifs.iter())
        .flat_map(|m| m.sites.iter().map(move |s| (m, s)))
        .collect();
    let mut t = Table::default();
    t.push(
        "dataset",
        Column::Str(vec![dataset.to_string(); rows.len()]),
    );
    t.push(
        "motif",
        Column::Str(rows.iter().map(|(m, _)| m.motif.id.clone()).collect()),
    );
    t.push(
        "id",
        Column::Str(
            rows.iter()
                .map(|(_, s)| ids[s.item as usize].clone())
                .collect(),
        ),
    );
    t.push(
        "item",
        Column::I32(rows.iter().map(|(_, s)| s.item as i32).collect()),
    );
    t.push(
        "start",
        Column::I32(rows.iter().map(|(_, s)| s.pos as i32 + 1).collect()),
    );
    t.push(
        "end",
        Column::I32(
            rows.iter()
                .map(|(m, s)| (s.pos as usize + m.motif.width()) as i32)
                .collect(),
        ),
    );
    t.push(
        "strand",
        Column::Str(
            rows.iter()
                .map(|(_, s)| if s.reverse { "-" } else { "+" }.to_string())
                .collect(),
        ),
    );
    t.push(
        "score",
        Column::F32(rows.iter().map(|(_, s)| s.score).collect()),
    );
    t
}

/// The sites of a scanned motif (FIMO's columns): the item, 1-based start/end, strand,
/// log-odds score, p-value, q-value over every window scored, and the site as read.
pub fn scan_table(ids: &[String], seqs: &[Vec<u8>], r: &ScanResult) -> Table {
    let s = &r.sites;
    let w = r.motif.width();
    let mut t = Table::default();
    t.push("motif", Column::Str(vec![r.motif.id.clone(); s.len()]));
    t.push(
        "motif_name",
        Column::Str(vec![r.motif.name.clone(); s.len()]),
    );
    t.push(
        "id",
        Column::Str(s.iter().map(|x| ids[x.item as usize].clone()).collect()),
    );
    t.push(
        "item",
        Column::I32(s.iter().map(|x| x.item as i32).collect()),
    );
    t.push(
        "start",
        Column::I32(s.iter().map(|x| x.pos as i32 + 1).collect()),
    );
    t.push(
        "end",
        Column::I32(s.iter().map(|x| (x.pos as usize + w) as i32).collect()),
    );
    t.push(
        "strand",
        Column::Str(
            s.iter()
                .map(|x| if x.reverse { "-" } else { "+" }.to_string())
                .collect(),
        ),
    );
    t.push("score", Column::F32(s.iter().map(|x| x.score).collect()));
    t.push("pvalue", Column::F64(s.iter().map(|x| x.pvalue).collect()));
    t.push("qvalue", Column::F64(r.site_qvalues()));
    t.push(
        "matched_sequence",
        Column::Str(
            s.iter()
                .map(|x| {
                    let p = x.pos as usize;
                    String::from_utf8_lossy(&seqs[x.item as usize][p..p + w]).into_owned()
                })
                .collect(),
        ),
    );
    t
}
