//! What only one modality shows: marker genes (cells), motif logos and highlighted sequences
//! (DNA), tile previews and medoid strips (images). The panes call these.

pub mod cells;
pub mod dna;
pub mod images;
