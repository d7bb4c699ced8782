//! Scratch files and folders being written: on Ctrl-C or SIGTERM a headless run removes them
//! before it exits, so an interrupted write leaves nothing behind (the next write also sweeps
//! what a killed process left).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Marks `path` as scratch until `release` is called for it.
pub fn hold(path: &Path) {
    if let Ok(mut v) = SCRATCH.lock() {
        v.push(path.to_path_buf());
    }
}

/// `path` was renamed into place or removed: no longer scratch.
pub fn release(path: &Path) {
    if let Ok(mut v) = SCRATCH.lock() {
        v.retain(|p| p != path);
    }
}

/// Removes every scratch path still held.
pub fn remove_all() {
    let held = SCRATCH.lock().map(|mut v| std::mem::take(&mut *v));
    for p in held.unwrap_or_default() {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// From now on, SIGINT and SIGTERM remove the scratch paths and exit with 128 + the signal.
/// For headless commands only: the interface reads Ctrl-C as a key.
pub fn clean_up_on_signal() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("biolens-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                remove_all();
                eprintln!("interrupted: nothing was written");
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_paths_are_removed_and_released_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join(".a.tmp-1"), d.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::write(a.join("manifest.toml"), "x").unwrap();
        std::fs::create_dir(&b).unwrap();
        hold(&a);
        hold(&b);
        release(&b);
        remove_all();
        assert!(!a.exists() && b.exists());
    }
}
