//! Parquet tables written by pandas, pyarrow and polars (`tests/data/tables/`, made by
//! `tests/data/scripts/make_tables.py`): every layout reads to the same ids, embedding and
//! metadata.
#![allow(clippy::unwrap_used)]

mod common;

use biolens::core::MetaValues;
use biolens::io::tables::{attach_csv, read_embedding_columnar};

const FILES: [&str; 5] = [
    "pandas_index.parquet",
    "pandas_noindex.parquet",
    "pyarrow_dict_largelist.parquet",
    "pyarrow_fixed.parquet",
    "polars.parquet",
];

#[test]
fn every_writers_layout_reads_the_same() {
    let ids: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    for f in FILES {
        let path = common::fixture("tables").join(f);
        let t = read_embedding_columnar(&path).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(t.ids, ids, "{f}");
        assert_eq!((t.matrix.rows, t.matrix.cols), (6, 3), "{f}");
        for i in 0..6 {
            let want = [i as f32 / 10.0, 2.0 * i as f32 / 10.0, -(i as f32) / 10.0];
            assert_eq!(t.matrix.row(i), want, "{f}, row {i}");
        }
        let col = |n: &str| {
            t.meta
                .iter()
                .find(|c| c.name == n)
                .unwrap_or_else(|| panic!("{f}: no column {n}"))
                .values
                .clone()
        };
        assert_eq!(
            col("group"),
            MetaValues::Text(["a", "b", "a", "c", "b", "a"].map(String::from).to_vec()),
            "{f}"
        );
        let MetaValues::Number(n) = col("n_genes") else {
            panic!("{f}: n_genes is not numeric")
        };
        assert_eq!(n[0], 100.0, "{f}");
        assert!(
            n[1].is_nan() && n[4].is_nan(),
            "{f}: missing values stay missing"
        );
        assert_eq!(n[5], 600.0, "{f}");
        assert_eq!(
            col("score"),
            MetaValues::Number((0..6).map(|i| i as f64 * 0.5).collect())
        );
        println!("{f}: {} metadata columns", t.meta.len());
    }
}

#[test]
fn metadata_tables_attach_by_id_from_parquet() {
    let ids: Vec<String> = ["c5", "c0", "c3"].map(String::from).to_vec();
    for f in ["pandas_index.parquet", "polars.parquet"] {
        let mut meta = Vec::new();
        attach_csv(&ids, &mut meta, &common::fixture("tables").join(f)).unwrap();
        let group = meta.iter().find(|c| c.name == "group").unwrap();
        assert_eq!(
            group.values,
            MetaValues::Text(["a", "a", "c"].map(String::from).to_vec()),
            "{f}"
        );
    }
}

#[test]
fn a_broken_columnar_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let name = "bad.parquet";
        let p = dir.path().join(name);
        let mut bytes = std::fs::read(common::fixture("tables/polars.parquet")).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&p, bytes).unwrap();
        let e = read_embedding_columnar(&p).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains("not a readable"), "{e}");
    }
}

#[test]
fn metadata_with_a_repeated_id_or_other_items_is_refused_and_row_alignment_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // Every id present, one of them twice: which row wins is a guess, so refused.
    let twice = write("twice.csv", "id,g\na,1\nb,2\nc,3\nd,4\nb,5\n");
    let e = attach_csv(&ids, &mut Vec::new(), &twice)
        .unwrap_err()
        .to_string();
    println!("{e}");
    assert!(
        e.contains("twice.csv") && e.contains("'b'") && e.contains("rows 2 and 5"),
        "{e}"
    );
    // Three of four ids, and four rows: a table of other items, not one to align by row.
    let other = write("other.csv", "id,g\na,1\nb,2\nc,3\nx,4\n");
    let e = attach_csv(&ids, &mut Vec::new(), &other)
        .unwrap_err()
        .to_string();
    println!("{e}");
    assert!(e.contains("3 of 4") && e.contains("'d'"), "{e}");
    // No ids at all and one row per item: aligned by row, and said.
    let rows = write("rows.csv", "g,h\n1,x\n2,y\n3,z\n4,w\n");
    let mut meta = Vec::new();
    let note = attach_csv(&ids, &mut meta, &rows).unwrap();
    assert!(
        note.as_deref()
            .is_some_and(|n| n.contains("aligned by row") && n.contains("0 of 4")),
        "{note:?}"
    );
    assert_eq!(meta.len(), 2);
    // Ids in another order: aligned by id, no note.
    let by_id = write("by_id.csv", "id,g\nd,4\nc,3\nb,2\na,1\n");
    let mut meta = Vec::new();
    assert_eq!(attach_csv(&ids, &mut meta, &by_id).unwrap(), None);
    assert_eq!(meta[0].values, MetaValues::Number(vec![1.0, 2.0, 3.0, 4.0]));
}
