//! Selections, group comparison, crosstab and AnnData write-back on the bundled pbmc68k
//! session (700 cells, 765 genes, raw counts, bulk_labels).
#![allow(clippy::unwrap_used)]

mod common;

use biolens::core::MetaValues;
use biolens::core::selection::{Definition, Selection, SelectionFile};
use biolens::pipeline::Partial;
use biolens::pipeline::select::members;
use biolens::session::{self, SessionDataset};

fn pbmc() -> SessionDataset {
    let (_, mut items) = session::read(&common::pbmc_session()).unwrap();
    items.remove(0)
}

fn sel(name: &str, def: Definition) -> Selection {
    Selection {
        name: name.into(),
        dataset: None,
        def,
    }
}

fn where_(name: &str, p: &str) -> Selection {
    sel(
        name,
        Definition::Where {
            predicate: p.into(),
        },
    )
}

fn number(sd: &SessionDataset, column: &str) -> Vec<f64> {
    match &sd.dataset.meta_column(column).unwrap().values {
        MetaValues::Number(v) => v.clone(),
        MetaValues::Text(_) => panic!("{column} is text"),
    }
}

fn text(sd: &SessionDataset, column: &str) -> Vec<String> {
    match &sd.dataset.meta_column(column).unwrap().values {
        MetaValues::Text(v) => v.clone(),
        MetaValues::Number(_) => panic!("{column} is numeric"),
    }
}

fn eval(sd: &SessionDataset, all: &[Selection], name: &str) -> Vec<u32> {
    members(all, name, &sd.dataset, &Partial::from(sd.analysis.clone())).unwrap()
}

#[test]
fn predicates_select_what_a_direct_filter_selects() {
    let sd = pbmc();
    let n = sd.dataset.len();
    let cl = &sd.analysis.clusters;
    let genes = number(&sd, "n_genes_all");
    let labels = text(&sd, "bulk_labels");
    let e = sd.dataset.expression().unwrap();
    let cd3e = e.normalised_gene(e.gene_index("CD3E").unwrap());
    let knn = &sd.analysis.anomaly_knn;
    type Rule<'a> = Box<dyn Fn(usize) -> bool + 'a>;
    let cases: Vec<(&str, Rule)> = vec![
        (
            "n_genes_all > 1000 AND cluster IN (0, 2)",
            Box::new(|i| genes[i] > 1000.0 && (cl[i] == 0 || cl[i] == 2)),
        ),
        (
            "CD3E > 1 AND bulk_labels = 'CD4+/CD25 T Reg'",
            Box::new(|i| cd3e[i] > 1.0 && labels[i] == "CD4+/CD25 T Reg"),
        ),
        ("anomaly_knn > 2", Box::new(|i| knn[i] > 2.0)),
        (
            "bulk_labels LIKE 'CD14%' OR NOT n_genes_all <= 1400",
            Box::new(|i| labels[i].starts_with("CD14") || genes[i] > 1400.0),
        ),
        (
            "cd3e BETWEEN 2.5 AND 3.5 AND cluster NOT IN (1)",
            Box::new(|i| (2.5..=3.5).contains(&cd3e[i]) && cl[i] != 1),
        ),
    ];
    for (p, f) in cases {
        let want: Vec<u32> = (0..n).filter(|&i| f(i)).map(|i| i as u32).collect();
        let got = eval(&sd, &[where_("s", p)], "s");
        println!("{p}: {} items (direct filter {})", got.len(), want.len());
        assert!(
            !want.is_empty() && want.len() < n,
            "{p}: a test that can fail"
        );
        assert_eq!(got, want, "{p}");
    }
    let err = members(
        &[where_("s", "n_gens > 1")],
        "s",
        &sd.dataset,
        &Partial::from(sd.analysis.clone()),
    )
    .unwrap_err();
    assert!(err.contains("no column or gene 'n_gens'"), "{err}");
    assert!(
        err.contains("bulk_labels"),
        "the message lists the columns: {err}"
    );
}

#[test]
fn nullable_columns_follow_sql_semantics() {
    // A metadata column with missing values (NaN in biolens, null in polars).
    let mut sd = pbmc();
    let n = sd.dataset.len();
    let v: Vec<f64> = (0..n)
        .map(|i| if i % 3 == 0 { f64::NAN } else { i as f64 })
        .collect();
    sd.dataset.meta.push(biolens::core::MetaColumn {
        name: "maybe".into(),
        values: MetaValues::Number(v.clone()),
    });
    let gt = eval(&sd, &[where_("s", "maybe > 300")], "s");
    let not_gt = eval(&sd, &[where_("s", "NOT maybe > 300")], "s");
    let null = eval(&sd, &[where_("s", "maybe IS NULL")], "s");
    assert_eq!(gt.len() + not_gt.len() + null.len(), n);
    assert_eq!(null.len(), n.div_ceil(3));
    assert!(gt.iter().all(|&i| v[i as usize] > 300.0));
}

#[test]
fn clusters_ids_boxes_and_set_expressions() {
    let sd = pbmc();
    let n = sd.dataset.len();
    let cl = &sd.analysis.clusters;
    let l = &sd.analysis.layout;
    let ids: Vec<String> = sd.dataset.ids.iter().step_by(7).cloned().collect();
    let (x0, x1) = (l[0][0] - 1.0, l[0][0] + 2.0);
    let (y0, y1) = (l[0][1] - 2.0, l[0][1] + 1.0);
    let all = vec![
        sel(
            "c",
            Definition::Cluster {
                clusters: vec![1, 3],
            },
        ),
        sel(
            "ids",
            Definition::Ids {
                source: "list.txt".into(),
                ids: ids.clone(),
            },
        ),
        sel("b", Definition::Box { x0, x1, y0, y1 }),
        sel(
            "mix",
            Definition::Set {
                expr: "(c or b) and not ids".into(),
            },
        ),
    ];
    let c = eval(&sd, &all, "c");
    assert_eq!(c.len(), cl.iter().filter(|&&k| k == 1 || k == 3).count());
    assert_eq!(eval(&sd, &all, "ids").len(), ids.len());
    let b: Vec<u32> = (0..n as u32)
        .filter(|&i| {
            let p = l[i as usize];
            p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1
        })
        .collect();
    assert!(!b.is_empty() && b.len() < n);
    assert_eq!(eval(&sd, &all, "b"), b);
    let mix = eval(&sd, &all, "mix");
    let want: Vec<u32> = (0..n as u32)
        .filter(|&i| (c.contains(&i) || b.contains(&i)) && i % 7 != 0)
        .collect();
    assert_eq!(mix, want);
    // A circle is an error, not a hang.
    let circle = vec![
        sel("p", Definition::Set { expr: "q".into() }),
        sel(
            "q",
            Definition::Set {
                expr: "p and c".into(),
            },
        ),
        sel("c", Definition::Cluster { clusters: vec![0] }),
    ];
    let e = members(
        &circle,
        "p",
        &sd.dataset,
        &Partial::from(sd.analysis.clone()),
    )
    .unwrap_err();
    assert!(e.contains("circle"), "{e}");
}

#[test]
fn selections_survive_reopening_and_replay_on_a_rewritten_session() {
    let sd = pbmc();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.biolens");
    let file = SelectionFile {
        selections: vec![
            where_("hi", "n_genes_all > 1200"),
            sel("c0", Definition::Cluster { clusters: vec![0] }),
        ],
    };
    let (m, items) = session::read(&common::pbmc_session()).unwrap();
    session::write(
        &out,
        &m.params,
        2,
        biolens::core::nn::DeviceKind::Cpu,
        &items,
        &file,
    )
    .unwrap();
    let back = session::read_selections(&out).unwrap();
    assert_eq!(back, file);
    let defs = back.for_dataset(&sd.dataset.name);
    let hi = eval(&sd, &defs, "hi");
    let genes = number(&sd, "n_genes_all");
    assert_eq!(hi.len(), genes.iter().filter(|&&g| g > 1200.0).count());
    // Saved from the interface: replaced atomically.
    let mut more = back.clone();
    more.selections.push(where_("lo", "n_genes_all < 800"));
    session::save_selections(&out, &more).unwrap();
    assert_eq!(session::read_selections(&out).unwrap(), more);
    // A broken file is an error naming it.
    std::fs::write(out.join("selections.toml"), "[[selection]]\nname = 3\n").unwrap();
    let e = session::read_selections(&out).unwrap_err().to_string();
    assert!(e.contains("selections.toml"), "{e}");
}

#[test]
fn compare_on_selections_equals_compare_on_the_clusters_they_hold() {
    let sd = pbmc();
    let all = vec![
        sel("a", Definition::Cluster { clusters: vec![0] }),
        sel(
            "b",
            Definition::Cluster {
                clusters: vec![1, 2],
            },
        ),
    ];
    let a: Vec<usize> = eval(&sd, &all, "a").iter().map(|&i| i as usize).collect();
    let b: Vec<usize> = eval(&sd, &all, "b").iter().map(|&i| i as usize).collect();
    let cl = &sd.analysis.clusters;
    let a2: Vec<usize> = (0..cl.len()).filter(|&i| cl[i] == 0).collect();
    let b2: Vec<usize> = (0..cl.len())
        .filter(|&i| cl[i] == 1 || cl[i] == 2)
        .collect();
    assert_eq!((&a, &b), (&a2, &b2));
    let params = biolens::modality::dna::motifs::MotifParams::default();
    let c = biolens::pipeline::recluster::compare(
        &sd.dataset,
        &a,
        &b,
        "a vs b",
        &params,
        &|_, _| {},
        &|| false,
    )
    .unwrap();
    let e = sd.dataset.expression().unwrap();
    let direct = biolens::modality::cells::markers::compare(e, &a2, &b2, "a vs b");
    assert_eq!(
        c.findings
            .as_ref()
            .and_then(|f| f.compared_markers())
            .unwrap(),
        &direct
    );
    let top: Vec<&str> = direct.markers[..5]
        .iter()
        .map(|m| e.genes[m.gene].as_str())
        .collect();
    println!("cluster 0 vs 1,2: top markers {top:?}");
    // The metadata half: bulk_labels differ between clusters (they are what clusters find).
    let labels = c.meta.iter().find(|d| d.column() == "bulk_labels").unwrap();
    println!("bulk_labels: {labels:?}");
    assert!(labels.p() < 1e-10, "{labels:?}");
    // Overlapping or empty sides are refused before any work.
    assert!(
        biolens::pipeline::recluster::compare(
            &sd.dataset,
            &a,
            &[],
            "a vs nothing",
            &params,
            &|_, _| {},
            &|| false
        )
        .is_err()
    );
}

#[test]
fn crosstab_counts_sum_to_n_and_match_a_direct_count() {
    let sd = pbmc();
    let r = Partial::from(sd.analysis.clone());
    let x = biolens::pipeline::groups::crosstab(&sd.dataset, &r, "bulk_labels").unwrap();
    assert_eq!(x.total() as usize, sd.dataset.len());
    let labels = text(&sd, "bulk_labels");
    let cl = &sd.analysis.clusters;
    for (row, c) in x.clusters.iter().enumerate() {
        for (col, v) in x.values.iter().enumerate() {
            let want = (0..cl.len())
                .filter(|&i| cl[i] == *c && &labels[i] == v)
                .count() as u64;
            assert_eq!(x.counts[row][col], want, "cluster {c}, {v}");
        }
    }
    println!(
        "cluster × bulk_labels: {} × {}, chi-square {:.1} on {} dof, p = {:.2e}",
        x.clusters.len(),
        x.values.len(),
        x.chi2.0,
        x.chi2.1,
        x.chi2.2
    );
    assert!(x.chi2.2 < 1e-10);
    // A continuous column is refused with the reason.
    let e = biolens::pipeline::groups::crosstab(&sd.dataset, &r, "percent_mito").unwrap_err();
    assert!(e.contains("numeric"), "{e}");
}

#[test]
fn anndata_write_back_reads_back() {
    let sd = pbmc();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pbmc.h5ad");
    let hi = eval(&sd, &[where_("hi", "n_genes_all > 1200")], "hi");
    let sels = vec![("hi".to_string(), hi.clone())];
    let extras = biolens::session::anndata::Extras {
        selections: &sels,
        params_toml: "seed = 0\n".into(),
        embedding: session::read_manifest(&common::pbmc_session())
            .unwrap()
            .datasets[0]
            .embedding
            .clone(),
    };
    let n = biolens::session::anndata::write_anndata(&out, &sd, &extras).unwrap();
    assert_eq!(n, 700);
    let h = biolens::modality::cells::h5ad::read_h5ad(&out).unwrap();
    assert_eq!(h.obs_names, sd.dataset.ids);
    let e = sd.dataset.expression().unwrap();
    assert_eq!(h.var_names, e.genes);
    // X as the session holds it.
    assert_eq!(h.matrix.ptr, e.by_gene.ptr);
    assert_eq!(h.matrix.cells, e.by_gene.cells);
    assert_eq!(h.matrix.values, e.by_gene.values);
    assert_eq!(h.kind, e.kind);
    let col = |name: &str| h.obs.iter().find(|c| c.name == name).unwrap().clone();
    let cl = col("biolens_cluster");
    let want: Vec<String> = sd.analysis.clusters.iter().map(|c| c.to_string()).collect();
    assert_eq!(cl.values, MetaValues::Text(want));
    assert_eq!(
        col("bulk_labels").values,
        MetaValues::Text(text(&sd, "bulk_labels"))
    );
    let umap = h.obsm.iter().find(|(k, _)| k == "X_umap").unwrap();
    assert_eq!((umap.1.rows, umap.1.cols), (700, 2));
    assert_eq!(umap.1.data[..2], sd.analysis.layout[0]);
    let latent = h
        .obsm
        .iter()
        .find(|(k, _)| k == "X_pca" || k == "X_scVI")
        .unwrap_or_else(|| {
            let keys: Vec<&String> = h.obsm.iter().map(|(k, _)| k).collect();
            panic!(
                "obsm keys {keys:?}, embedding {}",
                sd.embedding.source.describe()
            )
        });
    assert_eq!(latent.1.data, sd.embedding.matrix.data);

    // The graph as sc.pp.neighbors leaves it: obsp CSR matrices named by uns neighbors.
    let f = hdf5_pure::File::open(&out).unwrap();
    let ints = |p: &str| f.dataset(p).unwrap().read_i64().unwrap();
    let floats = |p: &str| f.dataset(p).unwrap().read_f32().unwrap();
    let key = |p: &str| f.dataset(p).unwrap().read_string().unwrap()[0].clone();
    assert_eq!(key("uns/neighbors/connectivities_key"), "connectivities");
    assert_eq!(key("uns/neighbors/distances_key"), "distances");
    let k = sd.analysis.knn.k;
    let dptr = ints("obsp/distances/indptr");
    assert_eq!(dptr.len(), 701);
    assert!(
        dptr.windows(2).all(|w| w[1] - w[0] == k as i64 - 1),
        "k − 1 neighbours a row"
    );
    // A session read back holds the kNN graph; the fuzzy graph is rebuilt from it.
    let g = match &sd.analysis.graph {
        Some(g) => (**g).clone(),
        None => biolens::analysis::fuzzy::fuzzy_simplicial_set(&sd.analysis.knn),
    };
    let cptr = ints("obsp/connectivities/indptr");
    assert_eq!(
        cptr.iter().map(|&x| x as usize).collect::<Vec<_>>(),
        g.indptr
    );
    assert_eq!(floats("obsp/connectivities/data"), g.weights);
    let cidx = ints("obsp/connectivities/indices");
    assert_eq!(
        cidx.iter().map(|&x| x as u32).collect::<Vec<_>>(),
        g.indices
    );
}

#[test]
fn anndata_into_the_input_keeps_every_original_element_and_adds_ours() {
    // scanpy's pbmc68k_reduced, re-saved by anndata 0.12, holds the same 700 cells as the
    // bundled Matrix Market folder the session was made from; it already has obsm X_umap /
    // X_pca and uns rank_genes_groups, so ours must be added beside them, not over them.
    let sd = pbmc();
    let input =
        std::path::Path::new("tests/data/cells/pbmc68k_reduced/pbmc68k_reduced_anndata012.h5ad");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("into.h5ad");
    let hi = eval(&sd, &[where_("hi", "n_genes_all > 1200")], "hi");
    let sels = vec![("hi".to_string(), hi.clone())];
    let extras = biolens::session::anndata::Extras {
        selections: &sels,
        params_toml: "seed = 0\n".into(),
        embedding: String::new(),
    };
    let added = biolens::session::anndata::write_into(input, &out, &sd, &extras).unwrap();
    println!("added: {added:?}");
    let has = |g: &str, k: &str| added.iter().any(|(a, b)| a == g && b == k);
    assert!(has("obs", "biolens_cluster") && has("obs", "biolens_sel_hi"));
    assert!(has("obsm", "X_umap_biolens"), "the input's X_umap is kept");
    assert!(has("uns", "rank_genes_groups_biolens") && has("uns", "biolens"));
    // The input has scanpy's graph: ours goes beside it under names uns points at.
    assert!(has("obsp", "biolens_connectivities") && has("obsp", "biolens_distances"));
    assert!(has("uns", "biolens_neighbors"), "{added:?}");

    let before = biolens::modality::cells::h5ad::read_h5ad(input).unwrap();
    let after = biolens::modality::cells::h5ad::read_h5ad(&out).unwrap();
    assert_eq!(after.obs_names, before.obs_names);
    assert_eq!(after.var_names, before.var_names);
    assert_eq!(after.matrix_source, before.matrix_source);
    assert_eq!(after.matrix.ptr, before.matrix.ptr);
    assert_eq!(after.matrix.values, before.matrix.values);
    for c in &before.obs {
        let a = after.obs.iter().find(|x| x.name == c.name).unwrap();
        assert_eq!(a.values, c.values, "obs column {} changed", c.name);
    }
    for (k, m) in &before.obsm {
        let a = after.obsm.iter().find(|(x, _)| x == k).unwrap();
        assert_eq!(a.1.data, m.data, "obsm {k} changed");
    }
    // Ours, matched to the input's rows by cell name.
    let pos: std::collections::HashMap<&str, usize> = sd
        .dataset
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let col = |name: &str| after.obs.iter().find(|c| c.name == name).unwrap().clone();
    let MetaValues::Text(cl) = col("biolens_cluster").values else {
        panic!("biolens_cluster is not categorical")
    };
    let MetaValues::Number(member) = col("biolens_sel_hi").values else {
        panic!("biolens_sel_hi is not boolean")
    };
    for (r, name) in after.obs_names.iter().enumerate() {
        let i = pos[name.as_str()];
        assert_eq!(cl[r], sd.analysis.clusters[i].to_string());
        assert_eq!(member[r] == 1.0, hi.contains(&(i as u32)));
    }
    let umap = after
        .obsm
        .iter()
        .find(|(k, _)| k == "X_umap_biolens")
        .unwrap();
    let r0 = pos[after.obs_names[0].as_str()];
    assert_eq!(umap.1.data[..2], sd.analysis.layout[r0]);

    // Never over the input itself; a session from other cells is refused by name.
    let e = biolens::session::anndata::write_into(input, input, &sd, &extras).unwrap_err();
    assert!(e.to_string().contains("never changes your file"), "{e}");
    let mut other = sd.clone();
    other.dataset.ids[3] = "NOT-A-CELL".into();
    let e = biolens::session::anndata::write_into(input, &out, &other, &extras).unwrap_err();
    assert!(e.to_string().contains("NOT-A-CELL"), "{e}");
    // The legacy layout (anndata < 0.7) cannot take new obs columns: said so, nothing written.
    let legacy = std::path::Path::new("tests/data/cells/pbmc68k_reduced/10x_pbmc68k_reduced.h5ad");
    let out2 = dir.path().join("legacy.h5ad");
    let e = biolens::session::anndata::write_into(legacy, &out2, &sd, &extras).unwrap_err();
    assert!(e.to_string().contains("anndata < 0.7"), "{e}");
    assert!(!out2.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        left.len(),
        1,
        "only into.h5ad, no temporary files: {left:?}"
    );
}
