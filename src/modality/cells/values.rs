//! What an expression matrix holds: counts, log-normalised, linear or scaled values.

/// What the expression matrix holds, which decides what may be done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Non-negative integers: raw counts, fit for the count model.
    Counts,
    /// Non-negative non-integers up to [`LOG_SCALE_MAX`]: log-normalised expression.
    Normalised,
    /// Non-negative non-integers above [`LOG_SCALE_MAX`]: normalised but not logged (TPM,
    /// FPKM, CP10k).
    Linear,
    /// Negative values present: scaled data; only usable as-is for PCA.
    Scaled,
}

/// The largest value log-normalised expression reaches: ln(1 + 1e6) ≈ 13.8 for log1p of
/// counts per million, log2(1 + 1e6) ≈ 19.9 for log2 TPM. Non-integer data above it has not
/// been logged, and `expm1` of its means would overflow.
pub const LOG_SCALE_MAX: f32 = 30.0;

impl ValueKind {
    pub fn of(values: &[f32]) -> Self {
        let mut integer = true;
        let mut max = 0f32;
        for &v in values {
            if v < 0.0 {
                return ValueKind::Scaled;
            }
            integer &= v.fract() == 0.0;
            max = max.max(v);
        }
        match (integer, max > LOG_SCALE_MAX) {
            (true, _) => ValueKind::Counts,
            (false, false) => ValueKind::Normalised,
            (false, true) => ValueKind::Linear,
        }
    }
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Counts => "integer counts",
            ValueKind::Normalised => "non-integer values (log-normalised?)",
            ValueKind::Linear => "non-integer values above 30 (TPM/FPKM-like, not logged)",
            ValueKind::Scaled => "negative values (scaled data)",
        }
    }
}
