//! Test helpers: paths to the real data kept in the repository (`tests/data/`, `assets/`) and a
//! pbmc68k session computed once per binary.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use biolens::modality::Options;
use biolens::pipeline::{self, CancelToken, PipelineParams};
use biolens::session::{self, SessionDataset};
use std::path::PathBuf;
use std::sync::OnceLock;

pub mod dna;

/// A test fixture under `tests/data/` (sources and licences in its README).
pub fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

/// A file of the built-in demo under `assets/`.
pub fn asset(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(p)
}

pub fn pbmc() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/pbmc68k_reduced")
}

/// A session folder for the bundled pbmc68k_reduced, computed once (seed 0).
pub fn pbmc_session() -> PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("pbmc.biolens");
        let (ds, emb) = pipeline::load(&pbmc(), &Options::default()).expect("load pbmc");
        let params = PipelineParams::default().with_seed(0);
        let a = pipeline::with_threads(2, || {
            pipeline::analyse(&ds, &emb, &params, &|_| {}, &CancelToken::default())
        })
        .expect("pipeline");
        session::write(
            &out,
            &params,
            2,
            biolens::core::nn::DeviceKind::Cpu,
            &[SessionDataset {
                dataset: ds,
                embedding: emb,
                analysis: a,
            }],
            &Default::default(),
        )
        .expect("write session");
        (dir, out)
    })
    .1
    .clone()
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_biolens"))
}

/// The whole screen as the interface draws it, on ratatui's TestBackend.
pub fn drawn(s: &biolens::tui::state::State) -> ratatui::buffer::Buffer {
    use ratatui::{Terminal, backend::TestBackend};
    let mut t = Terminal::new(TestBackend::new(s.size.0, s.size.1)).unwrap();
    t.draw(|f| biolens::tui::draw::draw(s, f)).unwrap();
    t.backend().buffer().clone()
}

/// The screen's text, row by row.
pub fn screen(s: &biolens::tui::state::State) -> String {
    let buf = drawn(s);
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
