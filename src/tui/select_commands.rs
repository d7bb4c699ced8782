//! The `:` commands over groups of items: `:select` (where, cluster, ids, set expressions),
//! `:unselect`, `:compare A B` (clusters, `rest` or selections) and `:crosstab COLUMN`.
//! `commands.rs` lists them in its table; they answer with their own usage lines.

use super::action::Effect;
use super::panes::bottom::BottomView;
use super::state::{ColorBy, Focus, State};
use crate::core::selection::{Definition, Selection, SetExpr, check_name};
use std::path::PathBuf;
use std::sync::Arc;

pub const SELECT_USAGE: &str = "select NAME where|cluster|ids|= …";

const SELECT_FORMS: &str = "use :select NAME where PREDICATE (e.g. n_genes > 2000 AND cluster \
                            IN (3, 5)), :select NAME cluster 3,5, :select NAME ids FILE or \
                            :select NAME = A and not B";

/// The text after the first `skip` words of the command line, spacing kept.
fn rest_of_line(line: &str, skip: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..skip {
        rest = rest
            .find(char::is_whitespace)
            .map_or("", |i| rest[i..].trim_start());
    }
    rest.trim_end()
}

/// `:select NAME where …`, `:select NAME cluster 3,5`, `:select NAME ids FILE`,
/// `:select NAME = EXPR`.
pub fn select(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let (Some(&name), Some(&how)) = (args.first(), args.get(1)) else {
        s.error(format!("usage: :{SELECT_USAGE}"));
        return vec![];
    };
    if let Err(e) = check_name(name) {
        s.error(e);
        return vec![];
    }
    let line = s.command_line.clone();
    let def = match how.to_ascii_lowercase().as_str() {
        // "select NAME where" are the three words before the predicate.
        "where" => match rest_of_line(&line, 3) {
            "" => Err(
                "a predicate follows 'where' (e.g. n_genes > 2000 AND cluster IN (3, 5))"
                    .to_string(),
            ),
            p => Ok(Definition::Where {
                predicate: p.to_string(),
            }),
        },
        "cluster" | "clusters" => args[2..]
            .join(",")
            .split(',')
            .filter(|w| !w.trim().is_empty())
            .map(|w| w.trim().parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| "cluster ids are whole numbers: :select NAME cluster 3,5".to_string())
            .and_then(|c| {
                if c.is_empty() {
                    Err("name at least one cluster: :select NAME cluster 3".into())
                } else {
                    Ok(Definition::Cluster { clusters: c })
                }
            }),
        "ids" => match rest_of_line(&line, 3) {
            "" => Err("a file of ids follows 'ids'".to_string()),
            p => {
                let path = expand_home(p);
                crate::pipeline::select::read_ids(&path).map(|ids| Definition::Ids {
                    source: path.display().to_string(),
                    ids,
                })
            }
        },
        "=" => {
            let expr = rest_of_line(&line, 3);
            SetExpr::parse(expr).and_then(|e| {
                let mut names = Vec::new();
                e.names(&mut names);
                match names.iter().find(|n| {
                    s.tab()
                        .is_none_or(|t| t.selections.index(n).is_none() || *n == name)
                }) {
                    Some(n) if n == name => Err(format!("'{name}' cannot be defined by itself")),
                    Some(n) => Err(format!("no selection named '{n}'")),
                    None => Ok(Definition::Set {
                        expr: expr.to_string(),
                    }),
                }
            })
        }
        _ => Err(format!("'{how}' after the name: {SELECT_FORMS}")),
    };
    match def {
        Ok(def) => put(
            s,
            Selection {
                name: name.to_string(),
                dataset: None,
                def,
            },
        ),
        Err(e) => {
            s.error(e);
            vec![]
        }
    }
}

/// Saving the selections, where the tab is a saved session (they replay when it reopens).
fn persist(s: &State) -> Vec<Effect> {
    match s.tab().map(|t| &t.source) {
        Some(super::state::TabSource::Session { .. }) => {
            vec![Effect::SaveSelections { tab: s.active }]
        }
        _ => vec![],
    }
}

/// Adds or replaces a selection, shows it on the map and in the selections table, and says
/// how many items it holds (or why it could not be evaluated).
pub fn put(s: &mut State, sel: Selection) -> Vec<Effect> {
    let name = sel.name.clone();
    let Some(t) = s.tab_mut() else { return vec![] };
    t.selections.put(sel);
    t.data
        .selections
        .refresh(t.data.dataset.as_deref(), &t.data.result, t.data.version);
    let k = t.selections.index(&name).unwrap_or(0);
    let result = t.selections.members[k].clone();
    match result {
        Ok(m) => {
            let n = t.n().max(1);
            t.color = ColorBy::Selection(name.clone());
            t.color_version += 1;
            t.bottom.view = BottomView::Selections;
            t.bottom.selection_sel = k;
            let line = format!(
                "selection {name}: {} items ({:.1}%) · :compare {name} rest · :export selection {name} PATH",
                m.len(),
                100.0 * m.len() as f64 / n as f64
            );
            s.info(line);
            persist(s)
        }
        Err(e) => {
            // A definition that does not evaluate is not kept.
            t.selections.remove(&name);
            s.error(e);
            vec![]
        }
    }
}

pub fn unselect(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let [name] = args else {
        s.error("usage: :unselect NAME");
        return vec![];
    };
    let Some(t) = s.tab_mut() else { return vec![] };
    if t.selections.remove(name) {
        if t.color == ColorBy::Selection(name.to_string()) {
            t.color = ColorBy::Cluster;
            t.color_version += 1;
        }
        s.info(format!("selection {name} removed"));
        persist(s)
    } else {
        s.error(format!("no selection named '{name}'"));
        vec![]
    }
}

/// One side of a comparison: items, and how to say it.
fn side(s: &State, w: &str, other: Option<&[usize]>) -> Result<Vec<usize>, String> {
    let t = s.tab().ok_or("no data")?;
    let n = t.n();
    if w == "rest" {
        let other = other.ok_or("'rest' needs the other side named: :compare A rest")?;
        let mut inside = vec![false; n];
        for &i in other {
            inside[i] = true;
        }
        return Ok((0..n).filter(|&i| !inside[i]).collect());
    }
    if let Some(k) = t.selections.index(w) {
        return match &t.selections.members[k] {
            Ok(m) => Ok(m.iter().map(|&i| i as usize).collect()),
            Err(e) => Err(format!("selection {w}: {e}")),
        };
    }
    let clusters = t
        .result
        .clusters
        .as_ref()
        .ok_or("the clusters are still being computed")?;
    let k = clusters.iter().max().map_or(0, |m| m + 1);
    let ids: Vec<u32> = w
        .split(',')
        .map(|x| x.trim().parse::<u32>().ok().filter(|&c| c < k))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            format!(
                "'{w}' is neither a selection nor cluster ids (0–{}); :compare A B takes \
                 clusters (3 or 3,5), selection names, or 'rest'",
                k.saturating_sub(1)
            )
        })?;
    Ok((0..n).filter(|&i| ids.contains(&clusters[i])).collect())
}

pub fn compare(s: &mut State, args: &[&str]) -> Vec<Effect> {
    let &[a, b] = args else {
        s.error("usage: :compare A B");
        return vec![];
    };
    if a == "rest" && b == "rest" {
        s.error("one side of :compare must be named (clusters or a selection)");
        return vec![];
    }
    let sides = if a == "rest" {
        side(s, b, None).and_then(|ib| Ok((side(s, a, Some(&ib))?, ib)))
    } else {
        side(s, a, None).and_then(|ia| {
            let ib = side(s, b, Some(&ia))?;
            Ok((ia, ib))
        })
    };
    let (ia, ib) = match sides {
        Ok(x) => x,
        Err(e) => {
            s.error(e);
            return vec![];
        }
    };
    let n = s.tab().map_or(0, |t| t.n());
    let mut in_a = vec![false; n];
    for &i in &ia {
        in_a[i] = true;
    }
    let both = ib.iter().filter(|&&i| in_a[i]).count();
    if both > 0 {
        s.error(format!(
            "{a} and {b} overlap ({both} items in both): compare disjoint groups (e.g. :compare {a} rest, \
             or :select C = {b} and not {a})"
        ));
        return vec![];
    }
    if ia.is_empty() || ib.is_empty() {
        let empty = if ia.is_empty() { a } else { b };
        s.error(format!("{empty} has no items"));
        return vec![];
    }
    s.info(format!(
        "comparing {a} (n = {}) vs {b} (n = {}) …",
        ia.len(),
        ib.len()
    ));
    vec![Effect::Compare {
        tab: s.active,
        a: ia,
        b: ib,
        label: format!("{a} vs {b}"),
    }]
}

pub fn crosstab(s: &mut State, args: &[&str]) -> Vec<Effect> {
    if args.is_empty() {
        s.error("usage: :crosstab COLUMN");
        return vec![];
    }
    let column = rest_of_line(&s.command_line, 1).to_string();
    let Some(t) = s.tab_mut() else { return vec![] };
    let Some(ds) = t.data.dataset.clone() else {
        s.error("no data yet");
        return vec![];
    };
    match crate::pipeline::groups::crosstab(&ds, &t.data.result, &column) {
        Ok(x) => {
            let (n, p) = (x.total(), x.chi2.2);
            t.crosstab = Some(Arc::new(x));
            t.bottom.view = BottomView::Crosstab;
            t.bottom.crosstab_sel = 0;
            s.focus = Focus::Bottom;
            s.info(format!(
                "crosstab cluster × {column}: {n} items; chi-square p = {p:.2e}"
            ));
        }
        Err(e) => s.error(e),
    }
    vec![]
}

/// `~` and `~/…` name the home folder, as they would in the shell the user came from.
pub fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (path.strip_prefix('~'), home) {
        (Some(""), Some(h)) => PathBuf::from(h),
        (Some(rest), Some(h)) if rest.starts_with('/') => {
            PathBuf::from(h).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_a_line_keeps_its_spacing() {
        assert_eq!(rest_of_line("select t where  x = 'a  b' ", 3), "x = 'a  b'");
        assert_eq!(rest_of_line("crosstab bulk labels", 1), "bulk labels");
        assert_eq!(rest_of_line("select t", 3), "");
    }
}
