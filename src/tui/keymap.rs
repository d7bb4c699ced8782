//! Keys → actions. Every binding carries a description; the help overlay and the hint bar are
//! generated from this table, so they cannot drift from what the keys do.

use super::action::{Action, Dir, LineMove};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug)]
pub struct Binding {
    /// Stable name used in the user's key file (`[keys] zoom_in = ["+", "="]`).
    pub name: &'static str,
    pub keys: Vec<(KeyCode, KeyModifiers)>,
    pub label: String,
    pub desc: &'static str,
    pub group: &'static str,
    /// Shown in the hint bar (short form).
    pub hint: Option<&'static str>,
    pub action: fn() -> Action,
}

const N: KeyModifiers = KeyModifiers::NONE;
const S: KeyModifiers = KeyModifiers::SHIFT;
const C: KeyModifiers = KeyModifiers::CONTROL;

macro_rules! b {
    ($name:expr, $keys:expr, $label:expr, $desc:expr, $group:expr, $hint:expr, $act:expr) => {
        Binding {
            name: $name,
            keys: $keys.to_vec(),
            label: $label.to_string(),
            desc: $desc,
            group: $group,
            hint: $hint,
            action: || $act,
        }
    };
}

/// The built-in key map (normal mode).
pub fn defaults() -> Vec<Binding> {
    vec![
        b!(
            "move_left",
            [(KeyCode::Char('h'), N), (KeyCode::Left, N)],
            "h ←",
            "move left (map)",
            "Move",
            None,
            Action::Move(Dir::Left)
        ),
        b!(
            "move_down",
            [(KeyCode::Char('j'), N), (KeyCode::Down, N)],
            "j ↓",
            "move down / next row",
            "Move",
            None,
            Action::Move(Dir::Down)
        ),
        b!(
            "move_up",
            [(KeyCode::Char('k'), N), (KeyCode::Up, N)],
            "k ↑",
            "move up / previous row",
            "Move",
            None,
            Action::Move(Dir::Up)
        ),
        b!(
            "move_right",
            [(KeyCode::Char('l'), N), (KeyCode::Right, N)],
            "l →",
            "move right (map)",
            "Move",
            None,
            Action::Move(Dir::Right)
        ),
        b!(
            "page_down",
            [(KeyCode::PageDown, N), (KeyCode::Char('d'), C)],
            "PgDn",
            "page down in lists",
            "Move",
            None,
            Action::PageDown
        ),
        b!(
            "page_up",
            [(KeyCode::PageUp, N), (KeyCode::Char('u'), C)],
            "PgUp",
            "page up in lists",
            "Move",
            None,
            Action::PageUp
        ),
        b!(
            "list_top",
            [(KeyCode::Char('g'), N)],
            "g",
            "first row of the focused list",
            "Move",
            None,
            Action::ListEnd(false)
        ),
        b!(
            "list_bottom",
            [(KeyCode::Char('G'), S), (KeyCode::Char('G'), N)],
            "G",
            "last row of the focused list",
            "Move",
            None,
            Action::ListEnd(true)
        ),
        b!(
            "zoom_in",
            [
                (KeyCode::Char('+'), N),
                (KeyCode::Char('+'), S),
                (KeyCode::Char('='), N)
            ],
            "+",
            "zoom in around the cursor",
            "View",
            None,
            Action::ZoomIn
        ),
        b!(
            "zoom_out",
            [(KeyCode::Char('-'), N)],
            "-",
            "zoom out",
            "View",
            None,
            Action::ZoomOut
        ),
        b!(
            "reset_view",
            [(KeyCode::Char('0'), N)],
            "0",
            "reset the view to all points",
            "View",
            None,
            Action::ResetView
        ),
        b!(
            "cycle_color",
            [(KeyCode::Char('c'), N)],
            "c",
            "cycle colour: cluster, anomalies, metadata",
            "View",
            Some("c color"),
            Action::CycleColor
        ),
        b!(
            "tissue",
            [(KeyCode::Char('w'), N)],
            "w",
            "where on the tissue: the map ⇄ the items' positions",
            "View",
            None,
            Action::ToggleTissue
        ),
        b!(
            "slide_picture",
            [(KeyCode::Char('b'), N)],
            "b",
            "slide picture on the tissue: behind, alone, off",
            "View",
            None,
            Action::CyclePicture
        ),
        b!(
            "focus_next",
            [(KeyCode::Tab, N)],
            "Tab",
            "next pane: map, clusters, anomalies, jobs",
            "Panes",
            Some("Tab focus"),
            Action::FocusNext
        ),
        b!(
            "focus_prev",
            [(KeyCode::BackTab, S), (KeyCode::BackTab, N)],
            "S-Tab",
            "focus previous pane",
            "Panes",
            None,
            Action::FocusPrev
        ),
        b!(
            "focus_anomalies",
            [(KeyCode::Char('a'), N)],
            "a",
            "focus the anomalies pane",
            "Panes",
            Some("a anomalies"),
            Action::FocusAnomalies
        ),
        b!(
            "markers",
            [(KeyCode::Char('m'), N)],
            "m",
            "markers/motifs of the cursor's cluster",
            "Panes",
            Some("m markers/motifs"),
            Action::ShowMarkers
        ),
        b!(
            "detail_down",
            [(KeyCode::Char(']'), N)],
            "]",
            "detail sequence down; next slide or version",
            "Panes",
            None,
            Action::ScrollDetail(4)
        ),
        b!(
            "detail_up",
            [(KeyCode::Char('['), N)],
            "[",
            "detail sequence up; previous slide or version",
            "Panes",
            None,
            Action::ScrollDetail(-4)
        ),
        b!(
            "open",
            [(KeyCode::Enter, N)],
            "Enter",
            "go to cluster/anomaly; colour by marker gene",
            "Panes",
            None,
            Action::Open
        ),
        b!(
            "tab_1",
            [(KeyCode::Char('1'), N)],
            "1",
            "first tab (dataset)",
            "Panes",
            None,
            Action::SelectTab(0)
        ),
        b!(
            "tab_2",
            [(KeyCode::Char('2'), N)],
            "2",
            "second tab",
            "Panes",
            None,
            Action::SelectTab(1)
        ),
        b!(
            "tab_3",
            [(KeyCode::Char('3'), N)],
            "3",
            "third tab",
            "Panes",
            None,
            Action::SelectTab(2)
        ),
        b!(
            "next_tab",
            [(KeyCode::Char('>'), N), (KeyCode::Char('>'), S)],
            ">",
            "next tab (any number of datasets)",
            "Panes",
            None,
            Action::CycleTab(1)
        ),
        b!(
            "prev_tab",
            [(KeyCode::Char('<'), N), (KeyCode::Char('<'), S)],
            "<",
            "previous tab",
            "Panes",
            None,
            Action::CycleTab(-1)
        ),
        b!(
            "search",
            [(KeyCode::Char('/'), N)],
            "/",
            "search ids and metadata",
            "Find",
            Some("/ search"),
            Action::StartSearch
        ),
        b!(
            "search_next",
            [(KeyCode::Char('n'), N)],
            "n",
            "next search match",
            "Find",
            None,
            Action::SearchNext
        ),
        b!(
            "search_prev",
            [(KeyCode::Char('N'), S), (KeyCode::Char('N'), N)],
            "N",
            "previous search match",
            "Find",
            None,
            Action::SearchPrev
        ),
        b!(
            "command",
            [(KeyCode::Char(':'), N), (KeyCode::Char(':'), S)],
            ":",
            "command line (commands below)",
            "Commands",
            Some(": command"),
            Action::StartCommand
        ),
        b!(
            "yank_id",
            [(KeyCode::Char('y'), N)],
            "y",
            "copy the cursor's id (OSC 52)",
            "Commands",
            None,
            Action::YankId
        ),
        b!(
            "box_select",
            [(KeyCode::Char('v'), N)],
            "v",
            "box select on the map (Enter saves)",
            "Commands",
            Some("v select"),
            Action::BoxSelect
        ),
        b!(
            "selections",
            [(KeyCode::Char('s'), N)],
            "s",
            "the selections table (Enter highlights one)",
            "Commands",
            None,
            Action::ShowSelections
        ),
        b!(
            "sort_next",
            [(KeyCode::Char('o'), N)],
            "o",
            "order the focused table by its next column",
            "Panes",
            None,
            Action::Sort(crate::tui::table_sort::SortRequest::NextColumn)
        ),
        b!(
            "sort_reverse",
            [(KeyCode::Char('O'), S), (KeyCode::Char('O'), N)],
            "O",
            "reverse the focused table's order",
            "Panes",
            None,
            Action::Sort(crate::tui::table_sort::SortRequest::Reverse)
        ),
        b!(
            "export_cluster",
            [(KeyCode::Char('e'), N)],
            "e",
            "export the ids of the cursor's cluster",
            "Commands",
            Some("e export"),
            Action::ExportCluster
        ),
        b!(
            "cancel_job",
            [(KeyCode::Char('x'), N)],
            "x",
            "cancel this tab's running job",
            "Commands",
            None,
            Action::CancelJob
        ),
        b!(
            "help",
            [(KeyCode::Char('?'), N), (KeyCode::Char('?'), S)],
            "?",
            "show or hide this help",
            "General",
            Some("? help"),
            Action::ToggleHelp
        ),
        b!(
            "escape",
            [(KeyCode::Esc, N)],
            "Esc",
            "close help, search or command",
            "General",
            None,
            Action::Escape
        ),
        b!(
            "quit",
            [(KeyCode::Char('q'), N), (KeyCode::Char('c'), C)],
            "q",
            "quit",
            "General",
            Some("q quit"),
            Action::Quit
        ),
    ]
}

static USER: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();
static DEFAULTS: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();

/// The key map in force: the defaults, with the user's key file merged over them.
pub fn bindings() -> &'static [Binding] {
    USER.get().unwrap_or_else(|| DEFAULTS.get_or_init(defaults))
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyFileError {
    #[error(
        "{path}: not valid TOML: {reason} (expected a [keys] table like: zoom_in = [\"+\", \"=\"])"
    )]
    Toml { path: String, reason: String },
    #[error("{path}: [keys] {name}: unknown action; known actions: {known}")]
    UnknownAction {
        path: String,
        name: String,
        known: String,
    },
    #[error(
        "{path}: [keys] {name}: cannot read key '{key}' (use a character like \"q\", or C-x, Tab, S-Tab, Enter, Esc, Space, Left, Right, Up, Down, PgUp, PgDn)"
    )]
    BadKey {
        path: String,
        name: String,
        key: String,
    },
    #[error("{path}: key '{key}' is bound to both {first} and {second}; give each key one action")]
    Clash {
        path: String,
        key: String,
        first: String,
        second: String,
    },
    #[error("{path}: cannot read the key file: {reason}")]
    Read { path: String, reason: String },
    /// Every problem of one file, so the user fixes them in one go.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<KeyFileError>),
}

/// A key as the key file writes it (`j`, `N`, `C-x`, `Tab`, `S-Tab`, `PgUp`).
pub fn key_name((code, mods): (KeyCode, KeyModifiers)) -> String {
    let base = match code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "Tab".into(),
        KeyCode::BackTab => return "S-Tab".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Esc => "Esc".into(),
        KeyCode::Left => "Left".into(),
        KeyCode::Right => "Right".into(),
        KeyCode::Up => "Up".into(),
        KeyCode::Down => "Down".into(),
        KeyCode::PageUp => "PgUp".into(),
        KeyCode::PageDown => "PgDn".into(),
        KeyCode::Backspace => "BS".into(),
        other => format!("{other}"),
    };
    if mods.contains(KeyModifiers::CONTROL) {
        format!("C-{base}")
    } else {
        base
    }
}

/// Parses one key as written in the key file.
pub fn parse_key(s: &str) -> Option<(KeyCode, KeyModifiers)> {
    let named = |n: &str| match n {
        "Tab" => Some(KeyCode::Tab),
        "Enter" => Some(KeyCode::Enter),
        "Esc" => Some(KeyCode::Esc),
        "Space" => Some(KeyCode::Char(' ')),
        "Left" => Some(KeyCode::Left),
        "Right" => Some(KeyCode::Right),
        "Up" => Some(KeyCode::Up),
        "Down" => Some(KeyCode::Down),
        "PgUp" => Some(KeyCode::PageUp),
        "PgDn" => Some(KeyCode::PageDown),
        "BS" => Some(KeyCode::Backspace),
        _ => None,
    };
    if s == "S-Tab" {
        return Some((KeyCode::BackTab, S));
    }
    if let Some(rest) = s.strip_prefix("C-") {
        let mut c = rest.chars();
        return match (c.next(), c.next()) {
            (Some(ch), None) => Some((KeyCode::Char(ch), C)),
            _ => named(rest).map(|k| (k, C)),
        };
    }
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(ch), None) => Some((
            KeyCode::Char(ch),
            if ch.is_ascii_uppercase() { S } else { N },
        )),
        _ => named(s).map(|k| (k, N)),
    }
}

#[derive(serde::Deserialize)]
struct KeyFile {
    #[serde(default)]
    keys: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    ui: UiOptions,
}

/// `[ui]` of the key file.
#[derive(serde::Deserialize, Default, Clone, Copy)]
struct UiOptions {
    /// false: leave the mouse to the terminal.
    mouse: Option<bool>,
}

static UI: std::sync::OnceLock<UiOptions> = std::sync::OnceLock::new();

/// Whether the key file lets the interface take the mouse (it does unless `[ui] mouse =
/// false`).
pub fn mouse_wanted() -> bool {
    UI.get().and_then(|u| u.mouse).unwrap_or(true)
}

fn parse_key_file(text: &str, path: &str) -> Result<KeyFile, KeyFileError> {
    toml::from_str(text).map_err(|e| KeyFileError::Toml {
        path: path.into(),
        reason: e.message().to_string(),
    })
}

/// Merges a key file's `[keys]` table over the defaults.
pub fn merge_key_file(text: &str, path: &str) -> Result<Vec<Binding>, KeyFileError> {
    merge_keys(&parse_key_file(text, path)?, path)
}

fn merge_keys(f: &KeyFile, path: &str) -> Result<Vec<Binding>, KeyFileError> {
    let mut map = defaults();
    let mut errors = Vec::new();
    for (name, keys) in &f.keys {
        let Some(b) = map.iter_mut().find(|b| b.name == name) else {
            let known = defaults()
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ");
            errors.push(KeyFileError::UnknownAction {
                path: path.into(),
                name: name.clone(),
                known,
            });
            continue;
        };
        let mut parsed = Vec::new();
        for k in keys {
            match parse_key(k) {
                Some(key) => parsed.push(key),
                None => errors.push(KeyFileError::BadKey {
                    path: path.into(),
                    name: name.clone(),
                    key: k.clone(),
                }),
            }
        }
        b.keys = parsed;
        b.label = keys.join(" ");
    }
    let mut seen: std::collections::HashMap<(KeyCode, KeyModifiers), &str> = Default::default();
    for b in &map {
        for k in &b.keys {
            if let Some(first) = seen.insert(*k, b.name)
                && first != b.name
            {
                errors.push(KeyFileError::Clash {
                    path: path.into(),
                    key: key_name(*k),
                    first: first.into(),
                    second: b.name.into(),
                });
            }
        }
    }
    match errors.len() {
        0 => Ok(map),
        1 => Err(errors.remove(0)),
        _ => Err(KeyFileError::Several(errors)),
    }
}

/// Reads and installs the user's key file (once, at start-up).
pub fn install_key_file(path: &std::path::Path) -> Result<(), KeyFileError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| KeyFileError::Read {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    let file = parse_key_file(&text, &p)?;
    let _ = USER.set(merge_keys(&file, &p)?);
    let _ = UI.set(file.ui);
    Ok(())
}

/// Maps a key in normal mode to its action.
pub fn normal_action(key: &KeyEvent) -> Option<Action> {
    // For characters, Shift is already in the character ('N', '?'); terminals differ in
    // whether they also report it, so it is ignored there.
    let norm = |c: KeyCode, m: KeyModifiers| {
        let m = m & (KeyModifiers::SHIFT | KeyModifiers::CONTROL | KeyModifiers::ALT);
        if matches!(c, KeyCode::Char(_)) {
            m - KeyModifiers::SHIFT
        } else {
            m
        }
    };
    bindings()
        .iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|&(c, m)| c == key.code && norm(c, m) == norm(key.code, key.modifiers))
        })
        .map(|b| (b.action)())
}

/// Maps a key while typing in the search or command line.
pub fn input_action(key: &KeyEvent) -> Option<Action> {
    match key.code {
        KeyCode::Esc => Some(Action::Escape),
        KeyCode::Enter => Some(Action::InputSubmit),
        KeyCode::Backspace => Some(Action::InputBackspace),
        KeyCode::Tab => Some(Action::InputComplete),
        KeyCode::Up => Some(Action::InputHistory(-1)),
        KeyCode::Down => Some(Action::InputHistory(1)),
        KeyCode::Left => Some(Action::InputCursor(LineMove::Left)),
        KeyCode::Right => Some(Action::InputCursor(LineMove::Right)),
        KeyCode::Home => Some(Action::InputCursor(LineMove::Home)),
        KeyCode::End => Some(Action::InputCursor(LineMove::End)),
        // Readline's keys, as shells and tmux's own prompt have them.
        KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => match c {
            'c' => Some(Action::Escape),
            'a' => Some(Action::InputCursor(LineMove::Home)),
            'e' => Some(Action::InputCursor(LineMove::End)),
            'b' => Some(Action::InputCursor(LineMove::Left)),
            'f' => Some(Action::InputCursor(LineMove::Right)),
            'h' => Some(Action::InputBackspace),
            'w' => Some(Action::InputDeleteWord),
            'u' => Some(Action::InputDeleteToStart),
            _ => None,
        },
        KeyCode::Char(ch) => Some(Action::InputChar(ch)),
        _ => None,
    }
}

/// Parses a key string like `"jj<Tab><Enter>:q<Enter>"` into key events (for tests and
/// scripted scenarios). Named keys: Tab, S-Tab, Enter, Esc, BS, Up, Down, Left, Right, Home,
/// End, C-x.
pub fn parse_keys(s: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' {
            let name: String = chars.by_ref().take_while(|&x| x != '>').collect();
            let ev = match name.as_str() {
                "Tab" => KeyEvent::new(KeyCode::Tab, N),
                "S-Tab" => KeyEvent::new(KeyCode::BackTab, S),
                "Enter" | "CR" => KeyEvent::new(KeyCode::Enter, N),
                "Esc" => KeyEvent::new(KeyCode::Esc, N),
                "BS" => KeyEvent::new(KeyCode::Backspace, N),
                "Up" => KeyEvent::new(KeyCode::Up, N),
                "Down" => KeyEvent::new(KeyCode::Down, N),
                "Left" => KeyEvent::new(KeyCode::Left, N),
                "Home" => KeyEvent::new(KeyCode::Home, N),
                "End" => KeyEvent::new(KeyCode::End, N),
                "Right" => KeyEvent::new(KeyCode::Right, N),
                "lt" => KeyEvent::new(KeyCode::Char('<'), N),
                n if n.starts_with("C-") && n.len() == 3 => {
                    KeyEvent::new(KeyCode::Char(n.chars().nth(2).unwrap_or(' ')), C)
                }
                _ => continue,
            };
            out.push(ev);
        } else {
            out.push(KeyEvent::new(KeyCode::Char(c), N));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_has_a_description_and_keys() {
        for b in bindings() {
            assert!(
                !b.desc.trim().is_empty() && !b.keys.is_empty(),
                "{}",
                b.label
            );
        }
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = std::collections::HashSet::new();
        for b in bindings() {
            for k in &b.keys {
                assert!(seen.insert(k), "{:?} bound twice", k);
            }
        }
    }

    #[test]
    fn key_file_remaps_and_reports_mistakes() {
        let map = merge_key_file(
            "[keys]\nzoom_in = [\"i\"]\nquit = [\"C-q\", \"Q\"]\n",
            "k.toml",
        )
        .unwrap();
        let zoom = map.iter().find(|b| b.name == "zoom_in").unwrap();
        assert_eq!(zoom.keys, vec![(KeyCode::Char('i'), N)]);
        assert_eq!(zoom.label, "i");
        let e = merge_key_file("[keys]\nzoom = [\"i\"]\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml: [keys] zoom: unknown action; known actions: move_left"),
            "{e}"
        );
        let e = merge_key_file("[keys]\nzoom_in = [\"F13x\"]\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read key 'F13x'"), "{e}");
        let e = merge_key_file("[keys]\nzoom_in = [\"q\"]\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is bound to both"), "{e}");
        // The key is named as the file writes it, not as Rust debug output.
        assert!(e.contains("key 'q'") && !e.contains("Char("), "{e}");
        assert!(merge_key_file("keys = 3", "k.toml").is_err());
        // Every mistake at once, in one line.
        let e = merge_key_file(
            "[keys]\nzoom = [\"i\"]\nzoom_in = [\"F13x\"]\nzoom_out = [\"C-d\"]\n",
            "k.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("zoom: unknown action")
                && e.contains("cannot read key 'F13x'")
                && e.contains("key 'C-d' is bound to both"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        // A missing file says so, not "not valid TOML".
        let e = install_key_file(std::path::Path::new("/nonexistent/keys.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read the key file") && !e.contains("TOML"),
            "{e}"
        );
    }

    #[test]
    fn the_key_file_can_leave_the_mouse_to_the_terminal() {
        let f = parse_key_file("[ui]\nmouse = false\n", "k.toml").unwrap();
        assert_eq!(f.ui.mouse, Some(false));
        assert!(merge_key_file("[ui]\nmouse = false\n", "k.toml").is_ok());
        let f = parse_key_file("[keys]\nquit = [\"Q\"]\n", "k.toml").unwrap();
        assert_eq!(f.ui.mouse, None);
    }

    #[test]
    fn parses_named_keys() {
        let k = parse_keys("j<Tab><Enter>:q");
        assert_eq!(k.len(), 5);
        assert_eq!(k[1].code, KeyCode::Tab);
    }
}
