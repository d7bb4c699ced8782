//! A tab's selections: its named predicates with their members, evaluated by
//! `pipeline::select` whenever the definitions or the data change (the selections pane draws
//! them; panes read them through `TabView`).

use crate::core::selection::Selection;
use crate::pipeline::Partial;
use std::sync::Arc;

/// A tab's selections and what each holds.
#[derive(Debug, Clone, Default)]
pub struct Selections {
    pub defs: Vec<Selection>,
    /// Members of `defs[k]` in item order, or why they could not be evaluated.
    pub members: Vec<Result<Arc<Vec<u32>>, String>>,
    /// Bumped when a definition changes.
    pub version: u64,
    key: (u64, u64),
}

impl Selections {
    /// Adds or replaces `sel`.
    pub fn put(&mut self, sel: Selection) {
        match self.defs.iter_mut().find(|s| s.name == sel.name) {
            Some(old) => *old = sel,
            None => self.defs.push(sel),
        }
        self.version += 1;
    }

    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.defs.len();
        self.defs.retain(|s| s.name != name);
        self.version += 1;
        self.defs.len() != before
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|s| s.name == name)
    }

    /// The members of `name`, when it evaluated.
    pub fn of(&self, name: &str) -> Option<&Arc<Vec<u32>>> {
        self.index(name)
            .and_then(|k| self.members.get(k))
            .and_then(|m| m.as_ref().ok())
    }

    /// A name not yet taken: `stem1`, `stem2`, …
    pub fn fresh_name(&self, stem: &str) -> String {
        (1..)
            .map(|k| format!("{stem}{k}"))
            .find(|n| self.index(n).is_none())
            .unwrap_or_default()
    }

    /// Re-evaluates every selection when the data (`data_version`) or a definition changed;
    /// returns whether anything was evaluated.
    pub fn refresh(
        &mut self,
        ds: Option<&crate::modality::Dataset>,
        r: &Partial,
        data_version: u64,
    ) -> bool {
        let key = (data_version, self.version);
        if self.key == key {
            return false;
        }
        self.key = key;
        self.members = match ds {
            Some(ds) => self
                .defs
                .iter()
                .map(|s| crate::pipeline::select::members(&self.defs, &s.name, ds, r).map(Arc::new))
                .collect(),
            None => self
                .defs
                .iter()
                .map(|_| Err("no data yet".into()))
                .collect(),
        };
        true
    }
}
