//! Sorting a pane's table by any of its columns (`o` picks the next column, `O` reverses).
//!
//! A table sorts by the text it shows, read back as a number where it is one ("6.1e-124",
//! "+2.31", "93%", "1682 (-2.1)" → 1682), so the order is the one the user reads. Rows with
//! nothing in the column ("", "–", "·") go last in either direction; ties keep the table's own
//! order, which is itself meaningful (by score, by cluster).

use std::cmp::Ordering;

/// How a table is ordered: by column `column`, largest (or last in the alphabet) first when
/// `descending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortBy {
    pub column: usize,
    pub descending: bool,
}

impl SortBy {
    /// The arrow a header shows beside the sorted column.
    pub fn arrow(self) -> &'static str {
        if self.descending { "↓" } else { "↑" }
    }
}

/// A table's order as drawing needs it: which column (for the header's arrow) and the rows
/// in display order (empty: the table's own order).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sorted<'a> {
    pub by: Option<SortBy>,
    pub order: &'a [usize],
}

impl Sorted<'_> {
    /// The table row shown at display position `k`.
    pub fn row(&self, k: usize) -> usize {
        row_at(self.order, k)
    }

    /// Column `j`'s header, with an arrow when the table is sorted by it.
    pub fn header(&self, j: usize, h: &str) -> String {
        match self.by {
            Some(b) if b.column == j && !h.is_empty() => format!("{h}{}", b.arrow()),
            _ => h.to_string(),
        }
    }

    /// Every header of a fixed-width table, arrowed.
    pub fn headers<const N: usize>(&self, h: [&str; N]) -> [String; N] {
        std::array::from_fn(|j| self.header(j, h[j]))
    }
}

/// A table's rows sorted as the user asked, kept until the table or the request changes.
#[derive(Debug, Clone, Default)]
pub struct TableOrder {
    pub by: Option<SortBy>,
    pub order: Vec<usize>,
    /// What `order` was sorted for: the table's key and the request.
    sorted_for: Option<(u64, Option<SortBy>)>,
}

impl TableOrder {
    pub fn sorted(&self) -> Sorted<'_> {
        Sorted {
            by: self.by,
            order: &self.order,
        }
    }

    /// Re-sorts when `key` (what the table was built from) changed; `column(j)` gives column
    /// j's text of every row in the table's own order.
    pub fn refresh(&mut self, key: u64, column: impl FnOnce(usize) -> Vec<String>) {
        if self.sorted_for == Some((key, self.by)) {
            return;
        }
        self.sorted_for = Some((key, self.by));
        self.order = match self.by {
            Some(b) => order(&column(b.column), b.descending),
            None => Vec::new(),
        };
    }

    /// Sorts the table of key `key` by `by` (None: the table's own order) keeping display row
    /// `sel`'s table row selected; returns the new display position of that row.
    pub fn set(
        &mut self,
        key: u64,
        by: Option<SortBy>,
        sel: usize,
        column: impl FnOnce(usize) -> Vec<String>,
    ) -> usize {
        let row = row_at(&self.order, sel);
        self.by = by;
        self.sorted_for = None;
        self.refresh(key, column);
        self.order
            .iter()
            .position(|&r| r == row)
            .unwrap_or(if self.order.is_empty() { row } else { 0 })
    }
}

/// How `o`, `O` and `:sort` ask a table to be ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum SortRequest {
    NextColumn,
    Reverse,
    /// A column by name, largest first (`Some(true)`), smallest first, or as it reads
    /// (numbers largest first, text from A).
    Column(String, Option<bool>),
}

/// The order `how` asks for, given the table's current order `now`, its `headers` and its
/// columns' text; `table` names it in errors.
pub fn resolve(
    how: &SortRequest,
    now: Option<SortBy>,
    headers: &[String],
    table: &str,
    column: impl Fn(usize) -> Vec<String>,
) -> Result<Option<SortBy>, String> {
    let as_it_reads = |column_j: usize, descending: Option<bool>| SortBy {
        column: column_j,
        descending: descending.unwrap_or_else(|| numeric(&column(column_j))),
    };
    match how {
        SortRequest::NextColumn => {
            Ok(next_column(now, headers.len()).map(|j| as_it_reads(j, None)))
        }
        SortRequest::Reverse => match now {
            Some(b) => Ok(Some(SortBy {
                descending: !b.descending,
                ..b
            })),
            None => Err(format!(
                "{table} is in its own order: o sorts it by a column"
            )),
        },
        SortRequest::Column(name, descending) => {
            let j = find_column(headers, name).ok_or_else(|| {
                let named: Vec<&str> = headers
                    .iter()
                    .filter(|h| !h.is_empty())
                    .map(String::as_str)
                    .collect();
                format!("no column '{name}' in {table}: {}", named.join(", "))
            })?;
            Ok(Some(as_it_reads(j, *descending)))
        }
    }
}

/// What a sort did, for the message line.
pub fn said(table: &str, by: Option<SortBy>, headers: &[String]) -> String {
    match by {
        Some(b) => format!(
            "{table} sorted by {} {}",
            headers.get(b.column).map_or("?", String::as_str),
            if b.descending {
                "(largest first; O reverses)"
            } else {
                "(smallest first; O reverses)"
            }
        ),
        None => format!("{table} in its own order"),
    }
}

/// A cell's text read for sorting.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Number(f64),
    Text(String),
    Missing,
}

fn key(text: &str) -> Key {
    let t = text.trim();
    if t.is_empty() || matches!(t, "–" | "—" | "-" | "·") {
        return Key::Missing;
    }
    // A value followed by a note in brackets ("1682 (-2.1)", "MA0140.3 pnr (1.2e-5)") sorts
    // by the value.
    let head = t.split(" (").next().unwrap_or(t);
    let num = head.trim_start_matches('+').trim_end_matches('%');
    match num.parse::<f64>() {
        Ok(x) if !x.is_nan() => Key::Number(x),
        _ => Key::Text(t.to_lowercase()),
    }
}

/// Numbers before text (a column mixing them is rare: an error row), each in its own order.
fn compare(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (Key::Number(x), Key::Number(y)) => x.total_cmp(y),
        (Key::Text(x), Key::Text(y)) => x.cmp(y),
        (Key::Number(_), Key::Text(_)) => Ordering::Less,
        (Key::Text(_), Key::Number(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// The table's rows (0..texts.len(), in the table's own order) ordered by `texts`, the sorted
/// column's text of each row.
pub fn order(texts: &[String], descending: bool) -> Vec<usize> {
    let keys: Vec<Key> = texts.iter().map(|t| key(t)).collect();
    let mut rows: Vec<usize> = (0..keys.len()).collect();
    rows.sort_by(|&a, &b| {
        let (ka, kb) = (&keys[a], &keys[b]);
        let missing = matches!(ka, Key::Missing).cmp(&matches!(kb, Key::Missing));
        let by = if descending {
            compare(kb, ka)
        } else {
            compare(ka, kb)
        };
        missing.then(by).then(a.cmp(&b))
    });
    rows
}

/// Whether a column reads as numbers (then `o` sorts it largest first) rather than text.
pub fn numeric(texts: &[String]) -> bool {
    let (mut n, mut t) = (0, 0);
    for k in texts.iter().map(|s| key(s)) {
        match k {
            Key::Number(_) => n += 1,
            Key::Text(_) => t += 1,
            Key::Missing => {}
        }
    }
    n >= t
}

/// The next sort after `now` for a table of `n_columns`: column 0, 1, … then the table's own
/// order again (`None`).
pub fn next_column(now: Option<SortBy>, n_columns: usize) -> Option<usize> {
    match now {
        None if n_columns > 0 => Some(0),
        Some(s) if s.column + 1 < n_columns => Some(s.column + 1),
        _ => None,
    }
}

/// Row shown at display position `k`: `order[k]`, or `k` in the table's own order.
pub fn row_at(order: &[usize], k: usize) -> usize {
    order.get(k).copied().unwrap_or(k)
}

/// The column named `name` among `headers` (exact, else the one it starts), case-insensitive.
pub fn find_column(headers: &[String], name: &str) -> Option<usize> {
    let name = name.to_lowercase();
    let plain = |h: &String| h.to_lowercase();
    headers.iter().position(|h| plain(h) == name).or_else(|| {
        let mut hits = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty() && plain(h).starts_with(&name));
        match (hits.next(), hits.next()) {
            (Some((j, _)), None) => Some(j),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn numbers_sort_by_value_not_by_text_and_blanks_go_last_both_ways() {
        let col = s(&["6.1e-124", "", "+2.31", "93%", "1682 (-2.1)", "–", "1.0e-5"]);
        assert_eq!(order(&col, true), vec![4, 3, 2, 6, 0, 1, 5]);
        assert_eq!(order(&col, false), vec![0, 6, 2, 3, 4, 1, 5]);
        assert!(numeric(&col));
    }

    #[test]
    fn text_sorts_case_blind_and_ties_keep_the_tables_order() {
        let col = s(&["CD3E", "b2m", "CD3E", "actb"]);
        assert_eq!(order(&col, false), vec![3, 1, 0, 2]);
        assert_eq!(order(&col, true), vec![0, 2, 1, 3]);
        assert!(!numeric(&col));
    }

    #[test]
    fn columns_cycle_back_to_the_tables_own_order() {
        let mut now = None;
        let mut seen = Vec::new();
        for _ in 0..4 {
            let c = next_column(now, 3);
            seen.push(c);
            now = c.map(|column| SortBy {
                column,
                descending: true,
            });
        }
        assert_eq!(seen, vec![Some(0), Some(1), Some(2), None]);
        assert_eq!(row_at(&[2, 0, 1], 0), 2);
        assert_eq!(row_at(&[], 5), 5);
    }

    #[test]
    fn a_column_is_found_by_name_or_an_unambiguous_start() {
        let h = s(&["rank", "id", "score", "total_counts (z)", "n_genes (z)"]);
        assert_eq!(find_column(&h, "Score"), Some(2));
        assert_eq!(find_column(&h, "total"), Some(3));
        assert_eq!(find_column(&h, "n_genes (z)"), Some(4));
        assert_eq!(find_column(&h, "x"), None);
        let h = s(&["padj", "p"]);
        assert_eq!(find_column(&h, "p"), Some(1));
    }
}
