//! Mutated and random bytes fed to every reader: each must return `Ok` or an `Err` whose
//! message names the file, never panic. Seeded, so a failure replays; the case number and
//! the mutation are printed with it.

#![allow(clippy::unwrap_used)]

mod common;

use biolens::io::parquet::{Column, Table, write_parquet};
use biolens::modality::Options;
use common::{asset, fixture};
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// One random corruption of `bytes`: flipped bytes, a cut, inserted noise, a repeated slice,
/// or a run of a digit (sizes in text headers).
fn mutate(bytes: &[u8], rng: &mut impl Rng) -> (Vec<u8>, String) {
    let mut b = bytes.to_vec();
    if b.is_empty() {
        return (
            (0..rng.gen_range(1..64)).map(|_| rng.r#gen()).collect(),
            "noise".into(),
        );
    }
    let at = rng.gen_range(0..b.len());
    let what = match rng.gen_range(0..5) {
        0 => {
            let k = rng.gen_range(1..=8);
            for _ in 0..k {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.r#gen();
            }
            format!("{k} bytes flipped")
        }
        1 => {
            b.truncate(at);
            format!("cut at {at}")
        }
        2 => {
            let noise: Vec<u8> = (0..rng.gen_range(1..32)).map(|_| rng.r#gen()).collect();
            b.splice(at..at, noise);
            format!("noise inserted at {at}")
        }
        3 => {
            let end = (at + rng.gen_range(1..256)).min(b.len());
            let piece = b[at..end].to_vec();
            b.splice(at..at, piece);
            format!("bytes {at}..{end} repeated")
        }
        _ => {
            let digits = vec![b'9'; rng.gen_range(10..24)];
            b.splice(at..at, digits);
            format!("digits inserted at {at}")
        }
    };
    (b, what)
}

/// Writes `cases` mutations of `seed` to `path` and reads each with `read`, which returns the
/// error message when reading failed.
fn fuzz(
    seed: &[u8],
    path: &Path,
    cases: usize,
    salt: u64,
    read: &dyn Fn(&Path) -> Option<String>,
) -> (usize, usize) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    fuzz_named(seed, path, &name, cases, salt, read)
}

/// `fuzz`, with the name every error message must contain.
fn fuzz_named(
    seed: &[u8],
    path: &Path,
    name: &str,
    cases: usize,
    salt: u64,
    read: &dyn Fn(&Path) -> Option<String>,
) -> (usize, usize) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(salt);
    let (mut ok, mut err) = (0, 0);
    for case in 0..cases {
        let (bytes, what) = mutate(seed, &mut rng);
        std::fs::write(path, &bytes).unwrap();
        match catch_unwind(AssertUnwindSafe(|| read(path))) {
            Ok(None) => ok += 1,
            Ok(Some(msg)) => {
                assert!(
                    msg.contains(name) && msg.len() < 2_000,
                    "{name} case {case} ({what}): message must name the file and stay short: {}",
                    &msg[..msg.len().min(300)]
                );
                err += 1;
            }
            Err(_) => panic!("{name} case {case} ({what}): the reader panicked"),
        }
    }
    println!("{name}: {cases} mutations, {ok} read, {err} refused with a message");
    (ok, err)
}

fn load(p: &Path) -> Option<String> {
    biolens::modality::read(p, &Options::default())
        .err()
        .map(|e| e.to_string())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn text_readers_survive_mutated_input() {
    let d = tempfile::tempdir().unwrap();
    // 10x folder: the matrix is mutated, barcodes and features stay valid.
    let tenx = d.path().join("tenx");
    std::fs::create_dir(&tenx).unwrap();
    std::fs::write(tenx.join("barcodes.tsv"), "c1\nc2\nc3\nc4\n").unwrap();
    std::fs::write(
        tenx.join("features.tsv"),
        "g1\tA\tGene Expression\ng2\tB\tGene Expression\ng3\tC\tGene Expression\n",
    )
    .unwrap();
    let mtx = b"%%MatrixMarket matrix coordinate integer general\n%\n3 4 6\n1 1 3\n2 1 1\n3 2 4\n1 3 2\n2 4 7\n3 4 1\n";
    fuzz(mtx, &tenx.join("matrix.mtx"), 150, 1, &|_| load(&tenx));

    let fasta =
        b">s1 first\nACGTACGTNNACGTTTGACA\nGGCA\n>s2\nACGTAGCTAGCTAGCATCGATCGA\n>s3\nTTTT\n";
    fuzz(fasta, &d.path().join("x.fa"), 150, 2, &load);
    fuzz(&gzip(fasta), &d.path().join("x.fa.gz"), 100, 3, &load);
    let fastq = b"@r1\nACGTACGTAC\n+\nIIIIIIIIII\n@r2\nACGTTTGACA\n+\n!!!!!!!!!!\n";
    fuzz(fastq, &d.path().join("x.fq"), 100, 4, &load);

    let csv = b"id,a,b,c\nx1,0.5,1.5,2\nx2,1,2,3\nx3,-1,0,1e3\nx4,2,2,2\n";
    fuzz(csv, &d.path().join("e.csv"), 150, 5, &load);

    // NPY: version 1 header, little-endian float32, 4 x 3.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    for v in 0..12 {
        npy.extend((v as f32 * 0.5).to_le_bytes());
    }
    fuzz(&npy, &d.path().join("e.npy"), 150, 6, &load);

    let meme =
        std::fs::read_to_string(asset("dna/JASPAR2024_CORE_insects_nonredundant.meme")).unwrap();
    // The header and the first three motifs, whole.
    let third = meme
        .match_indices("\nMOTIF ")
        .nth(3)
        .map_or(meme.len(), |(i, _)| i);
    let head = &meme[..third];
    let motifs = |p: &Path| {
        biolens::modality::dna::motif_db::read_motifs(p)
            .err()
            .map(|e| e.to_string())
    };
    fuzz(head.as_bytes(), &d.path().join("db.meme"), 150, 7, &motifs);
    let jaspar = b">MA0001.1 AGL3\nA [ 0 3 79 40 66 48 65 11 65 0 ]\nC [94 75 4 3 1 2 5 2 3 3 ]\nG [ 1 0 3 4 1 0 5 3 28 88 ]\nT [ 2 19 11 50 29 47 22 81 1 6 ]\n";
    fuzz(jaspar, &d.path().join("db.jaspar"), 100, 8, &motifs);

    // A `--meta` table against four items.
    let ids: Vec<String> = ["x1", "x2", "x3", "x4"].map(String::from).to_vec();
    let meta = b"id,group,n\nx1,a,1\nx2,b,2\nx3,a,3\nx4,c,4\n";
    fuzz(meta, &d.path().join("meta.csv"), 150, 21, &|p| {
        biolens::io::tables::attach_csv(&ids, &mut Vec::new(), p)
            .err()
            .map(|e| e.to_string())
    });

    // A session's selections.
    let sel_dir = d.path().join("sel.biolens");
    std::fs::create_dir(&sel_dir).unwrap();
    let sels = b"[[selection]]\nname = \"hi\"\nkind = \"where\"\npredicate = \"n_genes > 2000\"\n\n[[selection]]\nname = \"c3\"\nkind = \"cluster\"\nclusters = [3, 5]\n";
    fuzz(sels, &sel_dir.join("selections.toml"), 150, 22, &|_| {
        biolens::session::read_selections(&sel_dir)
            .err()
            .map(|e| e.to_string())
    });

    let keys =
        b"[keys]\nzoom_in = [\"i\", \"+\"]\nquit = [\"C-q\"]\nmove_down = [\"j\", \"Down\"]\n";
    fuzz(keys, &d.path().join("keys.toml"), 150, 9, &|p| {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).to_string();
        let name = p.display().to_string();
        biolens::tui::keymap::merge_key_file(&text, &name)
            .err()
            .map(|e| e.to_string())
    });
}

#[test]
fn binary_readers_survive_mutated_input() {
    let d = tempfile::tempdir().unwrap();
    let h5ad = std::fs::read(fixture("cells/h5ad_variants/counts_csc_gzip.h5ad")).unwrap();
    fuzz(&h5ad, &d.path().join("x.h5ad"), 60, 10, &load);

    let mut t = Table::default();
    t.push("id", Column::Str((0..6).map(|i| format!("c{i}")).collect()));
    t.push("a", Column::F32(vec![0.5, 1.0, 2.0, 3.0, -1.0, 0.0]));
    t.push("b", Column::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    t.push("n", Column::I32(vec![1, 2, 3, 4, 5, 6]));
    let pq = d.path().join("seed.parquet");
    write_parquet(&pq, &t).unwrap();
    let pq = std::fs::read(&pq).unwrap();
    fuzz(&pq, &d.path().join("e.parquet"), 150, 11, &load);
    // Other writers' layouts, read through polars.
    for (f, salt) in [
        ("polars.parquet", 14),
        ("pyarrow_dict_largelist.parquet", 15),
        ("pandas_index.parquet", 16),
    ] {
        let seed = std::fs::read(fixture("tables").join(f)).unwrap();
        let ext = f.rsplit('.').next().unwrap();
        fuzz(&seed, &d.path().join(format!("t.{ext}")), 150, salt, &load);
    }

    // Cell Ranger's HDF5 matrix, both layouts.
    for (f, salt) in [
        ("pbmc68k_v3_filtered_feature_bc_matrix.h5", 19),
        ("pbmc68k_v2_filtered_gene_bc_matrices_h5.h5", 20),
    ] {
        let seed = std::fs::read(fixture("cells/h5_layouts").join(f)).unwrap();
        fuzz(&seed, &d.path().join("m.h5"), 40, salt, &load);
    }

    let png = std::fs::read(asset("images/nuclei_dsb2018.png")).unwrap();
    fuzz(&png, &d.path().join("x.png"), 40, 12, &load);
    let jpg = std::fs::read(asset("images/he_region_1024.jpg")).unwrap();
    fuzz(&jpg[..jpg.len()], &d.path().join("x.jpg"), 30, 13, &load);
}

#[test]
fn session_folders_survive_mutated_files() {
    let d = tempfile::tempdir().unwrap();
    let src = common::pbmc_session();
    let copy: PathBuf = d.path().join("s.biolens");
    std::fs::create_dir(&copy).unwrap();
    let mut files = Vec::new();
    for e in walk(&src) {
        let rel = e.strip_prefix(&src).unwrap().to_path_buf();
        let to = copy.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&e, &to).unwrap();
        files.push(rel);
    }
    for (k, rel) in files.iter().enumerate() {
        let target = copy.join(rel);
        let original = std::fs::read(&target).unwrap();
        let cases = if rel.extension().is_some_and(|e| e == "toml") {
            60
        } else {
            20
        };
        // Session errors name the session folder (or a file inside it).
        fuzz_named(
            &original,
            &target,
            "s.biolens",
            cases,
            100 + k as u64,
            &|_| biolens::session::read(&copy).err().map(|e| e.to_string()),
        );
        std::fs::write(&target, &original).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
