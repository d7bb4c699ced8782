//! The terminal interface: one-way data flow. Terminal and job events become actions,
//! `update::update` changes the state and returns effects, `app` carries the effects out, and
//! drawing only reads. One file per pane (`panes/`), modality-specific drawing in `views/`,
//! overlays in `popups/`, one command table (`commands`) and one key map (`keymap`).

pub mod action;
pub mod app;
pub mod color;
pub mod commands;
pub mod draw;
pub mod keymap;
pub mod layout;
pub mod panes;
pub mod popups;
pub mod raster;
pub mod select_commands;
pub mod selection_set;
pub mod state;
pub mod table_sort;
pub mod terminal;
pub mod theme;
pub mod tissue;
pub mod update;
pub mod versions;
pub mod views;
