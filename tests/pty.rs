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

/// The real binary run with `args` in a 100 × 30 pseudo-terminal: the child, the writer to
/// its terminal, and the screen it draws (answering cursor-position queries as a terminal).
type Pty = (
    Box<dyn portable_pty::Child + Send + Sync>,
    Arc<Mutex<Box<dyn Write + Send>>>,
    Screen,
);

fn spawn_in_pty(args: &[&std::ffi::OsStr]) -> Pty {
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
    for a in args {
        cmd.arg(a);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("XDG_STATE_HOME", std::env::temp_dir());
    let child = pair.slave.spawn_command(cmd).expect("spawn");
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
    (child, writer, screen)
}

/// Waits (at most 10 s) for the child to exit, and returns whether it succeeded.
fn exits_cleanly(child: &mut Box<dyn portable_pty::Child + Send + Sync>) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.success();
        }
        assert!(Instant::now() < end, "did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens the pbmc session in the real binary, uses help and search, quits, checks the
/// terminal is restored, and returns every byte the program wrote.
fn session_in_pty(extra: &[&str]) -> Vec<u8> {
    let session = pbmc_session();
    let mut args: Vec<&std::ffi::OsStr> = vec!["open".as_ref(), session.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let (mut child, writer, screen) = spawn_in_pty(&args);
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
    assert!(exits_cleanly(&mut child));
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

#[test]
fn the_real_binary_follows_a_live_run_and_shows_each_version_in_its_history() {
    use biolens::core::matrix::Matrix;
    let d = tempfile::tempdir().unwrap();
    // Three well-apart groups of 100 items in 8 dimensions, shifted a little each version.
    let version = |v: usize| {
        let path = d.path().join(format!("emb_{v}.npy"));
        let data: Vec<f32> = (0..300 * 8)
            .map(|k| {
                let (i, j) = (k / 8, k % 8);
                let centre = if j == i % 3 { 10.0 } else { 0.0 };
                let noise = ((i * 31 + j * 17 + v * 7) % 13) as f32 / 13.0;
                centre + noise + 0.1 * v as f32
            })
            .collect();
        biolens::io::npy::write_npy_f32(&path, &Matrix::from_vec(300, 8, data)).unwrap();
    };
    version(1);
    let (mut child, writer, screen) = spawn_in_pty(&[
        "watch".as_ref(),
        d.path().as_os_str(),
        "--settle-ms".as_ref(),
        "200".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ]);
    assert!(
        screen.wait_for("history · 1 version", Duration::from_secs(60)),
        "no first version:\n{}",
        screen.text()
    );
    version(2);
    assert!(
        screen.wait_for("history · 2 versions", Duration::from_secs(60)),
        "no second version:\n{}",
        screen.text()
    );
    let text = screen.text();
    // The tab is named after the run's folder.
    let run = d.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        text.contains(&format!("{run} v2")) && text.contains("vs v1: ARI"),
        "{text}"
    );
    writer.lock().unwrap().write_all(b"q").unwrap();
    assert!(exits_cleanly(&mut child));
}
