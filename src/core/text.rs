//! "Did you mean": the nearest of some names to a mistyped one, by edit distance.

/// Levenshtein distance between `a` and `b`, case ignored.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
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
    }
}
