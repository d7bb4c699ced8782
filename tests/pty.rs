//! The real binary in a pseudo-terminal: open a session, press keys, read the screen back
//! through a VT100 parser, quit, and check the terminal was left in normal mode.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }
    /// Waits until the screen contains `needle`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

#[test]
fn real_binary_in_a_pty_opens_a_session_and_quits_cleanly() {
    let raw = session_in_pty(&[]);
    // Mouse reporting on by default (clicks pick points)...
    assert!(String::from_utf8_lossy(&raw).contains("\x1b[?1000h"));
}

#[test]
fn no_mouse_leaves_the_mouse_to_the_terminal() {
    // ...and never asked for with --no-mouse, so tmux copy mode and text selection work.
    let raw = session_in_pty(&["--no-mouse"]);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("\x1b[?1000h") && !text.contains("\x1b[?1003h"));
}

/// Opens the pbmc session in the real binary, uses help and search, quits, checks the
/// terminal is restored, and returns every byte the program wrote.
fn session_in_pty(extra: &[&str]) -> Vec<u8> {
    let session = pbmc_session();
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 30,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let mut cmd = CommandBuilder::new(bin());
    cmd.arg("open");
    cmd.arg(&session);
    for a in extra {
        cmd.arg(a);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("XDG_STATE_HOME", std::env::temp_dir());
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let writer = Arc::new(Mutex::new(pair.master.take_writer().expect("writer")));
    let screen = Screen {
        parser: Arc::new(Mutex::new(vt100::Parser::new(30, 100, 0))),
        raw: Arc::new(Mutex::new(Vec::new())),
    };
    let (p, raw, answer) = (screen.parser.clone(), screen.raw.clone(), writer.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            p.lock().unwrap().process(&buf[..n]);
            // Answer cursor-position queries as a real terminal does.
            if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                let (row, col) = p.lock().unwrap().screen().cursor_position();
                let _ = write!(answer.lock().unwrap(), "\x1b[{};{}R", row + 1, col + 1);
            }
            raw.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    assert!(
        screen.wait_for("clusters leiden 1", Duration::from_secs(30)),
        "no UI:\n{}",
        screen.text()
    );
    assert!(screen.text().contains("pbmc68k_reduced"));
    writer.lock().unwrap().write_all(b"?").unwrap();
    assert!(
        screen.wait_for("Esc or ? closes", Duration::from_secs(10)),
        "no help:\n{}",
        screen.text()
    );
    writer.lock().unwrap().write_all(b"?").unwrap();
    assert!(screen.wait_for("anomalies", Duration::from_secs(10)));
    writer.lock().unwrap().write_all(b"/CD34+\r").unwrap();
    assert!(
        screen.wait_for("13 matches", Duration::from_secs(10)),
        "no search result:\n{}",
        screen.text()
    );
    writer.lock().unwrap().write_all(b"q").unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // The alternate screen was left and the cursor shown again.
    std::thread::sleep(Duration::from_millis(200));
    let raw = screen.raw.lock().unwrap().clone();
    let tail = String::from_utf8_lossy(&raw[raw.len().saturating_sub(200)..]).into_owned();
    assert!(
        tail.contains("\x1b[?1049l"),
        "alternate screen not left: {tail:?}"
    );
    assert!(tail.contains("\x1b[?25h"), "cursor not restored: {tail:?}");
    raw
}
