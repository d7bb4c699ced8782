//! Statistics of the positions on the tissue that the interface asks for (`:moran`,
//! `:nhood`).

/// Value permutations of Moran's I's pseudo p-value (esda's default).
pub const MORAN_PERMUTATIONS: usize = 999;

/// Neighbours per item for Moran's I on the tissue (squidpy's default for generic
/// coordinates, libpysal's `KNN(k=6)`).
pub const MORAN_K: usize = 6;

/// Moran's I of `values` (named `what`) over each item's `MORAN_K` nearest neighbours at the
/// positions `at`, as a line for the message bar.
pub fn moran_line(at: &[[f32; 2]], values: &[f64], what: &str, seed: u64) -> String {
    let nb = crate::analysis::spatial::knn_2d(at, MORAN_K);
    match crate::analysis::spatial::morans_i(&nb, values) {
        Some(m) => format!(
            "Moran's I of {what} on the tissue: {:.4} (expected {:.4} without spatial pattern; \
             z {:.1}, normal approximation; p {:.3} by {MORAN_PERMUTATIONS} permutations; \
             {MORAN_K} nearest neighbours, as libpysal KNN and esda Moran)",
            m.i,
            m.expected,
            m.z,
            crate::analysis::spatial::moran_p_sim(&nb, values, MORAN_PERMUTATIONS, seed)
        ),
        None => format!("Moran's I of {what}: the values do not vary"),
    }
}

/// Label permutations of the neighbourhood enrichment (squidpy's default).
pub const NHOOD_PERMUTATIONS: usize = 1000;

/// Which groups touch which on the tissue (`:nhood`): the groups' names and sizes with their
/// enrichment over each item's `MORAN_K` nearest neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbourhood {
    /// What the groups are: "cluster" or a column's name.
    pub by: String,
    /// Each group's name, aligned with `enrichment.groups`.
    pub names: Vec<String>,
    pub sizes: Vec<usize>,
    pub enrichment: crate::analysis::spatial::Enrichment,
}

/// The neighbourhood enrichment of `labels` (named `names[label]`) at the positions `at`.
pub fn neighbourhood(
    at: &[[f32; 2]],
    labels: &[u32],
    names: &[String],
    by: &str,
    seed: u64,
) -> Neighbourhood {
    let nb = crate::analysis::spatial::knn_2d(at, MORAN_K);
    let enrichment =
        crate::analysis::spatial::nhood_enrichment(&nb, labels, NHOOD_PERMUTATIONS, seed);
    let sizes = enrichment
        .groups
        .iter()
        .map(|g| labels.iter().filter(|l| *l == g).count())
        .collect();
    Neighbourhood {
        by: by.to_string(),
        names: enrichment
            .groups
            .iter()
            .map(|&g| {
                names
                    .get(g as usize)
                    .cloned()
                    .unwrap_or_else(|| g.to_string())
            })
            .collect(),
        sizes,
        enrichment,
    }
}

impl Neighbourhood {
    /// One line: the most enriched and most depleted pair of different groups.
    pub fn summary(&self) -> String {
        let k = self.names.len();
        let z = &self.enrichment.z;
        let pairs = (0..k).flat_map(|a| (0..k).filter(move |&b| b != a).map(move |b| (a, b)));
        let finite = |&(a, b): &(usize, usize)| z[a][b].is_finite();
        let most = pairs
            .clone()
            .filter(finite)
            .max_by(|&(a, b), &(c, d)| z[a][b].total_cmp(&z[c][d]));
        let least = pairs
            .filter(finite)
            .min_by(|&(a, b), &(c, d)| z[a][b].total_cmp(&z[c][d]));
        let pair = |p: Option<(usize, usize)>| {
            p.map_or("none".to_string(), |(a, b)| {
                format!("{} → {} (z {:+.1})", self.names[a], self.names[b], z[a][b])
            })
        };
        format!(
            "neighbourhood enrichment by {} ({} groups, {MORAN_K} nearest neighbours on the tissue, {} permutations, as squidpy's nhood_enrichment): most together {}; most apart {}",
            self.by,
            k,
            self.enrichment.permutations,
            pair(most),
            pair(least)
        )
    }
}

/// Groups with more members than this many distinct values are not categories.
const MAX_GROUPS: usize = 200;

/// The groups `:nhood` compares: the clusters (`column` None), or a column's values (text, or
/// numbers with few distinct values). Returns what they are, each item's group and the
/// groups' names.
pub fn groups_of(
    ds: &crate::modality::Dataset,
    clusters: Option<&[u32]>,
    column: Option<&str>,
) -> Result<(String, Vec<u32>, Vec<String>), String> {
    use crate::core::MetaValues;
    let Some(column) = column else {
        let c = clusters.ok_or("no clusters yet")?;
        let k = c.iter().max().map_or(0, |m| *m as usize + 1);
        return Ok((
            "cluster".into(),
            c.to_vec(),
            (0..k).map(|i| i.to_string()).collect(),
        ));
    };
    let Some(m) = ds.meta_column(column) else {
        let names: Vec<&str> = ds.meta.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "no column '{column}'; columns are {}",
            names.join(", ")
        ));
    };
    let text: Vec<String> = match &m.values {
        MetaValues::Text(v) => v.clone(),
        MetaValues::Number(v) => v
            .iter()
            .map(|x| {
                if x.is_nan() {
                    String::new()
                } else {
                    format!("{x}")
                }
            })
            .collect(),
    };
    let mut names: Vec<String> = text.clone();
    names.sort();
    names.dedup();
    if names.len() > MAX_GROUPS {
        return Err(format!(
            "'{column}' has {} distinct values; :nhood takes a categorical column (at most {MAX_GROUPS} values)",
            names.len()
        ));
    }
    let labels = text
        .iter()
        .map(|t| names.binary_search(t).unwrap_or(0) as u32)
        .collect();
    let names = names
        .into_iter()
        .map(|n| if n.is_empty() { "(missing)".into() } else { n })
        .collect();
    Ok((column.to_string(), labels, names))
}
