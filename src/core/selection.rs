//! Named selections: a predicate over the items (DESIGN §3), never a list of screen pixels, so a
//! selection replays on a reopened session or on new data. What each definition means is
//! evaluated in `pipeline::select`; this file holds the definitions, their command-line syntax
//! and their `selections.toml` form.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a selection picks its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Definition {
    /// A SQL predicate over the points table and gene names (`n_genes > 2000 AND cluster IN (3, 5)`).
    Where { predicate: String },
    /// These clusters.
    Cluster { clusters: Vec<u32> },
    /// These ids (read from `source`, kept here so the selection replays without the file).
    Ids { source: String, ids: Vec<String> },
    /// A rectangle in map coordinates, edges included.
    Box { x0: f32, x1: f32, y0: f32, y1: f32 },
    /// A set expression over other selections (`A and not B`, `(A or B) and C`).
    Set { expr: String },
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Definition::Where { predicate } => write!(f, "where {predicate}"),
            Definition::Cluster { clusters } => {
                let c: Vec<String> = clusters.iter().map(|c| c.to_string()).collect();
                write!(f, "cluster {}", c.join(","))
            }
            Definition::Ids { source, ids } => write!(f, "{} ids from {source}", ids.len()),
            Definition::Box { x0, x1, y0, y1 } => {
                write!(f, "box x {x0:.3}..{x1:.3}, y {y0:.3}..{y1:.3}")
            }
            Definition::Set { expr } => write!(f, "= {expr}"),
        }
    }
}

/// A named selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub name: String,
    /// The dataset of a session it belongs to (None: any dataset it evaluates on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(flatten)]
    pub def: Definition,
}

/// Names a selection may take: they appear in set expressions and as AnnData columns.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok {
        return Err(format!(
            "'{name}' is not a selection name: start with a letter, then letters, digits, _ - ."
        ));
    }
    if matches!(
        name.to_ascii_lowercase().as_str(),
        "and" | "or" | "not" | "rest" | "where" | "cluster" | "ids" | "box"
    ) {
        return Err(format!("'{name}' is a reserved word; choose another name"));
    }
    Ok(())
}

/// A set expression over selection names.
#[derive(Debug, Clone, PartialEq)]
pub enum SetExpr {
    Name(String),
    Not(Box<SetExpr>),
    And(Box<SetExpr>, Box<SetExpr>),
    Or(Box<SetExpr>, Box<SetExpr>),
}

impl SetExpr {
    /// Parses `A and not (B or C)`; `and` binds tighter than `or`, `not` tighter than both.
    pub fn parse(s: &str) -> Result<SetExpr, String> {
        let tokens = tokenize(s)?;
        let mut p = Parser { tokens, pos: 0 };
        let e = p.or()?;
        match p.tokens.get(p.pos) {
            None => Ok(e),
            Some(t) => Err(format!("unexpected '{t}' in set expression '{s}'")),
        }
    }

    /// The selection names the expression reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            SetExpr::Name(n) => {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            SetExpr::Not(a) => a.names(out),
            SetExpr::And(a, b) | SetExpr::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }

    /// Membership of item `i`, given each name's membership.
    pub fn eval(&self, member: &dyn Fn(&str) -> bool) -> bool {
        match self {
            SetExpr::Name(n) => member(n),
            SetExpr::Not(a) => !a.eval(member),
            SetExpr::And(a, b) => a.eval(member) && b.eval(member),
            SetExpr::Or(a, b) => a.eval(member) || b.eval(member),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else if c.is_ascii_alphanumeric() || "_-.".contains(c) {
            word.push(c);
        } else {
            return Err(format!(
                "'{c}' in set expression '{s}': use selection names, and, or, not, ( )"
            ));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    if out.is_empty() {
        return Err("empty set expression".into());
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek_is(&self, w: &str) -> bool {
        self.tokens
            .get(self.pos)
            .is_some_and(|t| t.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<SetExpr, String> {
        let mut e = self.and()?;
        while self.peek_is("or") {
            self.pos += 1;
            e = SetExpr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<SetExpr, String> {
        let mut e = self.not()?;
        while self.peek_is("and") {
            self.pos += 1;
            e = SetExpr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<SetExpr, String> {
        if self.peek_is("not") {
            self.pos += 1;
            return Ok(SetExpr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<SetExpr, String> {
        let Some(t) = self.tokens.get(self.pos).cloned() else {
            return Err("set expression ends early: a selection name is missing".into());
        };
        self.pos += 1;
        if t == "(" {
            let e = self.or()?;
            if self.tokens.get(self.pos).is_none_or(|t| t != ")") {
                return Err("missing ')' in set expression".into());
            }
            self.pos += 1;
            return Ok(e);
        }
        if t == ")" || ["and", "or", "not"].contains(&t.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "'{t}' where a selection name was expected in the set expression"
            ));
        }
        Ok(SetExpr::Name(t))
    }
}

/// The `selections.toml` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectionFile {
    #[serde(default, rename = "selection")]
    pub selections: Vec<Selection>,
}

impl SelectionFile {
    /// The selections that apply to dataset `name`.
    pub fn for_dataset(&self, name: &str) -> Vec<Selection> {
        self.selections
            .iter()
            .filter(|s| s.dataset.as_deref().is_none_or(|d| d == name))
            .cloned()
            .collect()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        let f: SelectionFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for s in &f.selections {
            check_name(&s.name)?;
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_expressions_bind_as_written() {
        let e = SetExpr::parse("A and not B or C").unwrap();
        let m = |a: bool, b: bool, c: bool| {
            e.eval(&|n| match n {
                "A" => a,
                "B" => b,
                _ => c,
            })
        };
        assert!(m(true, false, false));
        assert!(!m(true, true, false));
        assert!(m(false, true, true));
        let e = SetExpr::parse("A and (B or C)").unwrap();
        assert!(!e.eval(&|n| n == "A"));
        assert!(SetExpr::parse("A and").is_err());
        assert!(SetExpr::parse("(A or B").is_err());
        assert!(SetExpr::parse("A B").is_err());
        assert!(SetExpr::parse("A; B").is_err());
    }

    #[test]
    fn selections_round_trip_through_toml() {
        let f = SelectionFile {
            selections: vec![
                Selection {
                    name: "t".into(),
                    dataset: Some("pbmc".into()),
                    def: Definition::Where {
                        predicate: "n_genes > 2000 AND cluster IN (3, 5)".into(),
                    },
                },
                Selection {
                    name: "b".into(),
                    dataset: None,
                    def: Definition::Box {
                        x0: -1.0,
                        x1: 2.5,
                        y0: 0.0,
                        y1: 1.0,
                    },
                },
                Selection {
                    name: "c".into(),
                    dataset: None,
                    def: Definition::Set {
                        expr: "t and not b".into(),
                    },
                },
            ],
        };
        let text = f.to_toml();
        assert_eq!(SelectionFile::from_toml(&text).unwrap(), f);
        assert!(check_name("and").is_err());
        assert!(check_name("9a").is_err());
        assert!(check_name("t_cells-2").is_ok());
    }
}
