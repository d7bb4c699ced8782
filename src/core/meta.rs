//! Metadata columns that travel with the items: numeric or text (categorical).

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValues {
    Text(Vec<String>),
    Number(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetaColumn {
    pub name: String,
    pub values: MetaValues,
}

impl MetaColumn {
    /// Builds a column from text cells: numeric if every non-empty cell parses as a number.
    pub fn from_strings(name: &str, cells: Vec<String>) -> Self {
        let numeric = cells.iter().any(|c| !c.is_empty())
            && cells
                .iter()
                .all(|c| c.is_empty() || c.parse::<f64>().is_ok());
        let values = if numeric {
            MetaValues::Number(
                cells
                    .iter()
                    .map(|c| c.parse::<f64>().unwrap_or(f64::NAN))
                    .collect(),
            )
        } else {
            MetaValues::Text(cells)
        };
        Self {
            name: name.to_string(),
            values,
        }
    }

    pub fn len(&self) -> usize {
        match &self.values {
            MetaValues::Text(v) => v.len(),
            MetaValues::Number(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of item `i` as display text.
    pub fn display(&self, i: usize) -> String {
        match &self.values {
            MetaValues::Text(v) => v[i].clone(),
            MetaValues::Number(v) => {
                let x = v[i];
                if x.is_nan() {
                    String::new()
                } else if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x:.4}")
                }
            }
        }
    }

    pub fn is_text(&self) -> bool {
        matches!(self.values, MetaValues::Text(_))
    }

    pub fn select(&self, idx: &[usize]) -> MetaColumn {
        let values = match &self.values {
            MetaValues::Text(v) => MetaValues::Text(idx.iter().map(|&i| v[i].clone()).collect()),
            MetaValues::Number(v) => MetaValues::Number(idx.iter().map(|&i| v[i]).collect()),
        };
        MetaColumn {
            name: self.name.clone(),
            values,
        }
    }
}
