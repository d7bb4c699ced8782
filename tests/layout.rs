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

/// The code a file compiles outside its tests, without comments. A `pub use` is kept only
/// when the file itself uses a name it brings in: a re-export alone is the module's public
/// face (its callers depend on the child, not the module), not a dependency of the file.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut body = Vec::new();
    let mut reexports: Vec<String> = Vec::new();
    let mut open = false;
    for l in text.lines() {
        let l = l.split("//").next().unwrap_or("");
        let t = l.trim_start();
        if open || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            if open {
                if let Some(last) = reexports.last_mut() {
                    last.push_str(l);
                }
            } else {
                reexports.push(l.to_string());
            }
            open = !t.trim_end().ends_with(';');
            continue;
        }
        body.push(l.to_string());
    }
    let rest = body.join("\n");
    // A type (capitalised) anywhere, a function where it is called; never as a field, a
    // method or another path's segment (`crate::export::What` is not the re-exported `export`).
    let used = |name: &str| {
        let is_type = name.starts_with(|c: char| c.is_ascii_uppercase());
        rest.match_indices(name).any(|(i, _)| {
            let before = rest[..i].chars().last();
            let after = rest[i + name.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !word(before)
                && !word(after)
                && !matches!(before, Some(':' | '.'))
                && (is_type || after == Some('('))
        })
    };
    for r in reexports {
        let names: Vec<&str> = r
            .split(['{', '}', ',', ';'])
            .filter_map(|item| {
                let item = item.trim();
                let name = item.rsplit(" as ").next()?.rsplit("::").next()?.trim();
                (!name.is_empty() && name != "self" && name != "*").then_some(name)
            })
            .collect();
        if names.iter().any(|n| used(n)) {
            body.push(r);
        }
    }
    body.join("\n")
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

/// The child modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared_children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("pub(crate) mod "))
                .or_else(|| l.strip_prefix("mod "))?;
            let name = rest.strip_suffix(';')?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// `code` with every relative path made absolute, so `crate_paths` reads them all, groups
/// included: `super::` (repeated) → `crate::<ancestor>::`, and a bare path into a child
/// module the file declares (`mod points;` then `points::x`, `self::points::{a, b}`) →
/// `crate::<me>::points::`.
fn absolute(code: &str, me: &[String]) -> String {
    let children = declared_children(code);
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while !rest.is_empty() {
        let prev = out.chars().last();
        let at_start = !prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_' || p == ':');
        if at_start && rest.starts_with("super::") {
            let mut up = 0;
            while rest.starts_with("super::") {
                up += 1;
                rest = &rest[7..];
            }
            let base = &me[..me.len().saturating_sub(up)];
            out.push_str("crate::");
            for m in base {
                out.push_str(m);
                out.push_str("::");
            }
            continue;
        }
        if at_start {
            let r = rest.strip_prefix("self::").unwrap_or(rest);
            let (id, after) = ident(r);
            if !id.is_empty() && after.starts_with("::") && children.iter().any(|c| c == id) {
                out.push_str("crate::");
                for m in me {
                    out.push_str(m);
                    out.push_str("::");
                }
                out.push_str(id);
                rest = after;
                continue;
            }
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
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
            let paths = crate_paths(&absolute(&c, &me));
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
fn relative_paths_are_read_as_absolute_ones() {
    let me = vec!["session".to_string()];
    let c = "mod points;\nuse points::{FIXED, table};\nuse super::io::{a, b};\nlet x = self::points::y;";
    let p = crate_paths(&absolute(c, &me));
    for want in [
        &["session", "points", "FIXED"][..],
        &["session", "points", "table"],
        &["io", "a"],
        &["session", "points", "y"],
    ] {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert!(p.contains(&want), "{want:?} not in {p:?}");
    }
    let deep = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let p = crate_paths(&absolute("super::super::x::y()", &deep));
    assert!(
        p.contains(&vec!["a".to_string(), "x".to_string(), "y".to_string()]),
        "{p:?}"
    );
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

/// Which modality a dataset holds is asked in two places: `modality/` (reading, models,
/// findings, sessions) and `tui/views/mod.rs` (which view the interface shows). Everything
/// else carries `Findings` and datasets without naming a variant, so a fourth modality
/// touches neither the pipeline, its events, sessions, exports nor the panes.
#[test]
fn only_modality_and_the_views_ask_which_modality() {
    let s = Source::read();
    let variants = [
        "Modality::Cells",
        "Modality::Dna",
        "Modality::Images",
        "Modality::Table",
        "Findings::Markers",
        "Findings::Motifs",
    ];
    let asking: Vec<String> = s
        .files
        .iter()
        .filter(|(f, _)| !f.starts_with("modality/") && f.as_str() != "tui/views/mod.rs")
        .filter_map(|(f, t)| {
            let c = code(t);
            let hits: Vec<&str> = variants.iter().copied().filter(|v| c.contains(v)).collect();
            (!hits.is_empty()).then(|| format!("{f}: {}", hits.join(", ")))
        })
        .collect();
    assert!(
        asking.is_empty(),
        "modality checks outside modality/ and tui/views/mod.rs (add a method to `Findings` \
         or a function to tui/views/mod.rs instead):\n{}",
        asking.join("\n")
    );
}

/// Files outside `modality/` that use one modality's own features: each is a feature of that
/// modality (genes as columns, DNA's commands, AnnData's layout), never a dispatch, and none
/// is needed by a new modality. A new entry is a new coupling: prefer `Findings` or the views.
#[test]
fn features_of_one_modality_are_used_where_listed() {
    const LISTED: [(&str, &str); 14] = [
        (
            "cli/commands.rs",
            "anndata export: picks the dataset with expression",
        ),
        (
            "cli/mod.rs",
            "each modality's flags, flattened into Options",
        ),
        ("cli/scan.rs", "biolens scan: DNA sequences against motifs"),
        ("export.rs", "MEME format for motifs"),
        (
            "pipeline/mod.rs",
            "motif discovery parameters in PipelineParams",
        ),
        (
            "pipeline/recluster.rs",
            "motif discovery parameters for a recluster or compare",
        ),
        ("pipeline/select.rs", "genes as predicate columns"),
        (
            "session/anndata.rs",
            "AnnData: X, var and rank_genes_groups of cells",
        ),
        ("tui/action.rs", ":motifs all|clusters"),
        ("tui/commands.rs", ":color gene, :motifs"),
        ("tui/panes/map.rs", "colour by genes"),
        ("tui/update.rs", "a searched gene colours the map"),
        ("tui/views/cells.rs", "marker genes view"),
        ("tui/views/dna.rs", "motifs and sequence view"),
    ];
    let s = Source::read();
    let marks = [
        "modality::cells",
        "modality::dna",
        "modality::images",
        ".expression()",
        ".sequences()",
    ];
    let using: Vec<&String> = s
        .files
        .iter()
        .filter(|(f, t)| !f.starts_with("modality/") && marks.iter().any(|m| code(t).contains(m)))
        .map(|(f, _)| f)
        .filter(|f| f.as_str() != "tui/views/mod.rs" && f.as_str() != "tui/views/images.rs")
        .collect();
    println!(
        "{} files outside modality/ use one modality's features",
        using.len()
    );
    let unlisted: Vec<&&String> = using
        .iter()
        .filter(|f| !LISTED.iter().any(|(l, _)| *l == f.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "new uses of one modality's features outside modality/: {unlisted:?}"
    );
}
