//! The house rules of DESIGN §5, checked on the source: no import circle between files;
//! imports point down only (core < io < analysis < modality < pipeline < session, export <
//! tui < cli), so `analysis` imports nothing of `modality` and `modality` nothing of
//! `pipeline`, `session` or the front ends; `tui/app.rs` calls no analysis stage; nothing
//! outside `tui/` names ratatui or crossterm; `main.rs` stays small.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path a file defines (`src/a/b.rs` and `src/a/b/mod.rs` → ["a", "b"]).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The code a file compiles outside its tests, without comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Every `crate::a::b…` path a file names, groups (`crate::a::{b, c::d}`) expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 7..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let mut path = Vec::new();
        let mut s = rest;
        loop {
            let (id, after) = ident(s);
            if id.is_empty() {
                break;
            }
            path.push(id.to_string());
            s = after;
            if let Some(a) = s.strip_prefix("::") {
                s = a;
                if let Some(group) = s.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let item = item.trim();
                        if item.is_empty() || item == "self" {
                            out.push(path.clone());
                            continue;
                        }
                        let mut p = path.clone();
                        p.extend(
                            item.split(" as ")
                                .next()
                                .unwrap_or("")
                                .split("::")
                                .map(|x| x.trim().to_string()),
                        );
                        out.push(p);
                    }
                    path.clear();
                    break;
                }
            } else {
                break;
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    out
}

struct Source {
    files: BTreeMap<String, String>,
    modules: BTreeMap<Vec<String>, String>,
}

impl Source {
    fn read() -> Self {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut paths = Vec::new();
        rust_files(&src, &mut paths);
        let mut files = BTreeMap::new();
        let mut modules = BTreeMap::new();
        for p in paths {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with("bin/") {
                continue;
            }
            modules.insert(module_of(&rel), rel.clone());
            files.insert(rel, std::fs::read_to_string(&p).unwrap());
        }
        Self { files, modules }
    }

    /// The file that defines the longest module prefix of `path`.
    fn resolve(&self, path: &[String]) -> Option<&String> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]))
    }

    fn graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (f, text) in &self.files {
            let me = module_of(f);
            let c = code(text);
            let mut paths = crate_paths(&c);
            // `super::x` from a file: its parent module (a mod.rs is its own module).
            let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
            for (i, _) in c.match_indices("super::") {
                let (id, _) = ident(&c[i + 7..]);
                if !id.is_empty() {
                    let mut p = parent.clone();
                    p.push(id.to_string());
                    paths.push(p);
                }
            }
            let deps = g.entry(f.clone()).or_default();
            for p in paths {
                if let Some(t) = self.resolve(&p)
                    && t != f
                {
                    deps.insert(t.clone());
                }
            }
        }
        g
    }
}

/// Files on an import circle, found by Tarjan's strongly connected components.
fn circles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_reader_finds_grouped_and_nested_paths() {
    let c = "use crate::io::{FileError, bad};\nlet x = crate::modality::cells::Expression::new();";
    let p = crate_paths(c);
    assert!(p.contains(&vec!["io".into(), "FileError".into()]));
    assert!(p.contains(&vec!["io".into(), "bad".into()]));
    assert!(p.contains(&vec![
        "modality".into(),
        "cells".into(),
        "Expression".into(),
        "new".into()
    ]));
}

#[test]
fn no_import_circle_between_files() {
    let s = Source::read();
    let g = s.graph();
    let edges: usize = g.values().map(BTreeSet::len).sum();
    println!("{} files, {edges} imports between them", g.len());
    let c = circles(&g);
    assert!(c.is_empty(), "import circles: {c:?}");
}

/// The layers, lowest first: a file may import its own layer and those below it.
const LAYERS: [&[&str]; 8] = [
    &["core/"],
    &["io/"],
    &["analysis/"],
    &["modality/"],
    &["pipeline/"],
    &["session/", "export.rs"],
    &["tui/"],
    &["cli/"],
];

fn layer(file: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|l| l.iter().any(|p| file.starts_with(p)))
}

#[test]
fn imports_point_down_only() {
    let s = Source::read();
    let mut wrong = Vec::new();
    for (f, deps) in s.graph() {
        let Some(mine) = layer(&f) else { continue };
        for d in &deps {
            if layer(d).is_some_and(|l| l > mine) {
                wrong.push(format!("{f} → {d}"));
            }
            if f == "tui/app.rs" && d.starts_with("analysis/") {
                wrong.push(format!(
                    "{f} → {d} (the app carries out effects; stages run in the pipeline)"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn only_the_interface_knows_a_terminal_and_main_is_small() {
    let s = Source::read();
    let outside: Vec<&String> = s
        .files
        .iter()
        .filter(|(f, t)| {
            !f.starts_with("tui/")
                && (code(t).contains("ratatui::") || code(t).contains("crossterm::"))
        })
        .map(|(f, _)| f)
        .collect();
    assert!(
        outside.is_empty(),
        "ratatui/crossterm outside tui/: {outside:?}"
    );
    let main = s.files["main.rs"].lines().count();
    println!("main.rs: {main} lines");
    assert!(main <= 250, "main.rs has {main} lines");
}

#[test]
fn only_modality_mod_matches_on_the_payload() {
    let s = Source::read();
    let matching: Vec<&String> = s
        .files
        .iter()
        .filter(|(f, t)| f.as_str() != "modality/mod.rs" && code(t).contains("Payload::"))
        .map(|(f, _)| f)
        .collect();
    assert!(
        matching.is_empty(),
        "Payload matched outside modality/mod.rs: {matching:?}"
    );
}
