//! Writing a trained encoder as a checkpoint folder in the DNABERT-2 layout, and reading a
//! folder's tokenizer.

use super::architecture::{EncoderConfig, EncoderError};
use candle_nn::VarMap;
use std::path::Path;
use tokenizers::Tokenizer;

/// Writes a checkpoint folder (`config.json`, `model.safetensors`, `tokenizer.json`) through
/// temporary files renamed into place.
pub fn save(
    dir: &Path,
    cfg: &EncoderConfig,
    varmap: &VarMap,
    tokenizer: &Tokenizer,
) -> Result<(), EncoderError> {
    let err = |p: &Path, e: String| EncoderError::Checkpoint {
        path: p.to_path_buf(),
        reason: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e.to_string()))?;
    let put = |name: &str, write: &dyn Fn(&Path) -> Result<(), String>| {
        let tmp = dir.join(format!(".{name}.tmp"));
        write(&tmp).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|e| err(&dir.join(name), e.to_string()))
    };
    put("config.json", &|p| {
        let s = serde_json::to_string_pretty(cfg).map_err(|e| e.to_string())?;
        std::fs::write(p, s).map_err(|e| e.to_string())
    })?;
    put("model.safetensors", &|p| {
        varmap.save(p).map_err(|e| e.to_string())
    })?;
    put("tokenizer.json", &|p| {
        tokenizer.save(p, false).map_err(|e| e.to_string())
    })?;
    Ok(())
}

/// Reads `tokenizer.json` from a checkpoint folder.
pub fn load_tokenizer(dir: &Path) -> Result<Tokenizer, EncoderError> {
    let p = dir.join("tokenizer.json");
    if !p.exists() {
        return Err(EncoderError::Checkpoint {
            path: p,
            reason: "missing (the encoder needs its tokenizer.json)".into(),
        });
    }
    Tokenizer::from_file(&p).map_err(|e| EncoderError::Checkpoint {
        path: p,
        reason: format!("not a tokenizers file: {e}"),
    })
}
