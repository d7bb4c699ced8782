//! What only one modality shows: marker genes (cells), motif logos and highlighted sequences
//! (DNA), tile previews and medoid strips (images). The panes call the functions below, and
//! this is the one place in the interface that picks a view by the tab's modality.

pub mod cells;
pub mod dna;
pub mod images;

use crate::modality::Modality;
use crate::tui::panes::TabView;
use crate::tui::table_sort::Sorted;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

/// The findings view this tab's modality has, by name ("marker genes", "motifs"), or why it
/// has none.
pub fn findings_view(v: &TabView) -> Result<&'static str, &'static str> {
    match v.dataset.map(|d| d.modality()) {
        None => Err("no data yet"),
        Some(Modality::Cells) => Ok("marker genes"),
        Some(Modality::Dna) => Ok("motifs"),
        Some(Modality::Images | Modality::Table) => {
            Err("markers need expression values (cells) and motifs need sequences (DNA)")
        }
    }
}

/// Draws the findings of the selected cluster (or of the last `:compare`), display row `sel`
/// selected, in the order `sorted` gives.
pub fn draw_findings(
    v: &TabView,
    sel: usize,
    sorted: Sorted,
    focused: bool,
    f: &mut Frame,
    r: Rect,
) {
    match v.dataset.map(|d| d.modality()) {
        Some(Modality::Dna) => dna::draw_motifs(v, sel, sorted, focused, f, r),
        _ => cells::draw_markers(v, sel, sorted, focused, f, r),
    }
}

/// The findings table's headers.
pub fn findings_headers(v: &TabView) -> Vec<String> {
    let h: &[&str] = match v.dataset.map(|d| d.modality()) {
        Some(Modality::Cells) => &cells::headers(v),
        Some(Modality::Dna) => &dna::HEADERS,
        _ => &[],
    };
    h.iter().map(|x| x.to_string()).collect()
}

/// Column `j`'s text of every row of the findings table, in its own order (for sorting).
pub fn findings_column(v: &TabView, j: usize) -> Vec<String> {
    let n = findings_rows(v);
    match v.dataset.map(|d| d.modality()) {
        Some(Modality::Cells) => (0..n)
            .map(|k| cells::cells(v, k)[j.min(6)].clone())
            .collect(),
        Some(Modality::Dna) => dna::motif_column(v, j),
        _ => Vec::new(),
    }
}

/// Rows of the findings table shown.
pub fn findings_rows(v: &TabView) -> usize {
    match v.dataset.map(|d| d.modality()) {
        Some(Modality::Cells) => cells::rows(v),
        Some(Modality::Dna) => dna::cluster_motifs(v).len(),
        _ => 0,
    }
}

/// The command Enter on table row `row` of the findings runs: colour the map by a marker gene.
pub fn findings_enter(v: &TabView, row: usize) -> Option<String> {
    match v.dataset.map(|d| d.modality()) {
        Some(Modality::Cells) => cells::gene_at(v, row).map(|g| format!("color gene {g}")),
        _ => None,
    }
}

/// Extra lines the detail pane shows for item `i` after its scores: the sequence with its
/// cluster's motif sites highlighted (DNA); `hits` come from `item_marks`.
pub fn item_lines(
    v: &TabView,
    i: usize,
    hits: &[(usize, usize, usize)],
    scroll: usize,
    width: usize,
    max_rows: usize,
) -> Vec<Line<'static>> {
    match v
        .dataset
        .and_then(|d| d.sequences())
        .and_then(|s| s.seqs.get(i))
    {
        Some(seq) => dna::sequence_lines(seq, hits, scroll, width, max_rows),
        None => Vec::new(),
    }
}

/// What the map's colour stands for at item `i`, as a line for the detail pane: a gene's
/// expression ("gene CD3E 1.94 (log1p CP10k)") or a metadata column's value.
pub fn colour_value(v: &TabView, i: usize) -> Option<String> {
    match v.color {
        crate::tui::color::ColorBy::Genes(label, genes) => {
            let (x, what) = cells::gene_value(v, i, genes)?;
            Some(format!("{label} {x:.3} ({what})"))
        }
        crate::tui::color::ColorBy::Meta(name) => {
            let m = v.dataset?.meta.iter().find(|m| &m.name == name)?;
            Some(format!("{name} {}", m.display(i)))
        }
        _ => None,
    }
}

/// What `item_lines` marks in the item under the cursor (motif sites, DNA).
pub fn item_marks(v: &TabView) -> Vec<(usize, usize, usize)> {
    dna::sequence_hits(v)
}
