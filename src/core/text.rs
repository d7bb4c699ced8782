//! "Did you mean": the nearest of some names to a mistyped one, by edit distance.

/// Edit distance between `a` and `b`, case ignored: Levenshtein's, with two neighbouring
/// letters swapped counted as one edit (`opne` is one edit from `open`), the commonest typo.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // Rows i − 2, i − 1 and i of the table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let sub = prev[j] + usize::from(a[i] != b[j]);
            let mut d = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The name nearest `typed` among `names` when it is close enough to be a typo (at most a
/// third of its letters, and 3, changed); the first of equally near ones.
pub fn closest<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (typed.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for n in names {
        // Lengths far apart cannot be within the limit.
        if n.chars().count().abs_diff(typed.chars().count()) > limit {
            continue;
        }
        let d = distance(typed, n);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, n));
        }
    }
    best.map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_find_none() {
        let names = ["recluster", "crosstab", "compare", "export", "color"];
        assert_eq!(closest("recluter", names), Some("recluster"));
        assert_eq!(closest("crostab", names), Some("crosstab"));
        assert_eq!(closest("colour", names), Some("color"));
        assert_eq!(closest("zzz", names), None);
        assert_eq!(closest("CD3D", ["CD3E", "CD14"]), Some("CD3E"));
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("opne", "open"), 1);
        assert_eq!(
            closest("opne", ["run", "open", "export", "scan"]),
            Some("open")
        );
    }
}
