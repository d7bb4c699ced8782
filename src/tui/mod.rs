//! The terminal interface: one-way data flow. Terminal and job events become actions,
//! `update::update` changes the state and returns effects, `app` carries the effects out, and
//! `draw` only reads.

pub mod action;
pub mod app;
mod commands;
pub mod draw;
pub mod keymap;
pub mod raster;
pub mod state;
pub mod terminal;
pub mod update;
