//! Containing a panic in a third-party reader. polars' Parquet and IPC decoders can panic on
//! a corrupt file (an index out of range in a data page) instead of returning an error; a
//! bad input must be an error naming the file. `contain` runs such a reader, turns a panic
//! into `Err`, and keeps the panic hooks quiet meanwhile (no message over the interface, no
//! terminal restored under a running session).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Readers running under `contain` (on any thread: polars decodes on its own pool).
static CONTAINED: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// True while a contained reader runs: panic hooks stay silent.
pub fn quiet() -> bool {
    CONTAINED.load(Ordering::SeqCst) > 0
}

/// Runs `f`; a panic inside it becomes `Err` with its message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !quiet() {
                prev(info);
            }
        }));
    });
    CONTAINED.fetch_add(1, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.fetch_sub(1, Ordering::SeqCst);
    r.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the decoder failed".into())
    })
}
