//! Entering and leaving the terminal's raw, alternate-screen mode, also on panic.

use crossterm::{
    event::{DisableMouseCapture, EnableMouseCapture},
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::{Terminal, backend::CrosstermBackend};
use std::io::Stdout;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub fn enter(mouse: bool) -> std::io::Result<Term> {
    enable_raw_mode()?;
    ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut out = std::io::stdout();
    // Clear with a plain escape: ratatui's `clear()` asks the terminal for the cursor position,
    // which some terminals and multiplexers never answer.
    let entered = execute!(
        out,
        EnterAlternateScreen,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    )
    .and_then(|_| {
        if mouse {
            execute!(out, EnableMouseCapture)
        } else {
            Ok(())
        }
    });
    if let Err(e) = entered {
        restore();
        return Err(e);
    }
    let mut t = Terminal::new(CrosstermBackend::new(out))?;
    t.hide_cursor()?;
    Ok(t)
}

/// Whether `enter` changed the terminal, so `restore` has something to undo (a failing
/// `biolens run` must not print escape sequences into a plain error message).
static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Puts the terminal back; safe to call more than once and from the panic hook.
pub fn restore() {
    if !ENTERED.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Installs a panic hook that restores the terminal before the panic message prints.
pub fn install_panic_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic contained in a reader (`core::guard`) is an error, not the end.
        if !crate::core::guard::quiet() {
            restore();
            prev(info);
        }
    }));
}
