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
