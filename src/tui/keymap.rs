//! Keys → actions. Every binding carries a description; the help overlay and the hint bar are
//! generated from this table, so they cannot drift from what the keys do.

use super::action::{Action, Dir};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    pub label: &'static str,
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
    ($keys:expr, $label:expr, $desc:expr, $group:expr, $hint:expr, $act:expr) => {
        Binding {
            keys: $keys,
            label: $label,
            desc: $desc,
            group: $group,
            hint: $hint,
            action: || $act,
        }
    };
}

/// The default key map (normal mode).
pub fn bindings() -> &'static [Binding] {
    static B: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        vec![
            b!(
                &[(KeyCode::Char('h'), N), (KeyCode::Left, N)],
                "h ←",
                "move left (map)",
                "Move",
                None,
                Action::Move(Dir::Left)
            ),
            b!(
                &[(KeyCode::Char('j'), N), (KeyCode::Down, N)],
                "j ↓",
                "move down / next row",
                "Move",
                None,
                Action::Move(Dir::Down)
            ),
            b!(
                &[(KeyCode::Char('k'), N), (KeyCode::Up, N)],
                "k ↑",
                "move up / previous row",
                "Move",
                None,
                Action::Move(Dir::Up)
            ),
            b!(
                &[(KeyCode::Char('l'), N), (KeyCode::Right, N)],
                "l →",
                "move right (map)",
                "Move",
                None,
                Action::Move(Dir::Right)
            ),
            b!(
                &[(KeyCode::PageDown, N), (KeyCode::Char('d'), C)],
                "PgDn",
                "page down in lists",
                "Move",
                None,
                Action::PageDown
            ),
            b!(
                &[(KeyCode::PageUp, N), (KeyCode::Char('u'), C)],
                "PgUp",
                "page up in lists",
                "Move",
                None,
                Action::PageUp
            ),
            b!(
                &[
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
                &[(KeyCode::Char('-'), N)],
                "-",
                "zoom out",
                "View",
                None,
                Action::ZoomOut
            ),
            b!(
                &[(KeyCode::Char('0'), N)],
                "0",
                "reset the view to all points",
                "View",
                None,
                Action::ResetView
            ),
            b!(
                &[(KeyCode::Char('c'), N)],
                "c",
                "cycle colour: cluster, anomalies, metadata",
                "View",
                Some("c color"),
                Action::CycleColor
            ),
            b!(
                &[(KeyCode::Tab, N)],
                "Tab",
                "next pane: map, clusters, anomalies, jobs",
                "Panes",
                Some("Tab focus"),
                Action::FocusNext
            ),
            b!(
                &[(KeyCode::BackTab, S), (KeyCode::BackTab, N)],
                "S-Tab",
                "focus previous pane",
                "Panes",
                None,
                Action::FocusPrev
            ),
            b!(
                &[(KeyCode::Char('a'), N)],
                "a",
                "focus the anomalies pane",
                "Panes",
                Some("a anomalies"),
                Action::FocusAnomalies
            ),
            b!(
                &[(KeyCode::Enter, N)],
                "Enter",
                "go to the selected cluster/anomaly",
                "Panes",
                None,
                Action::Open
            ),
            b!(
                &[(KeyCode::Char('1'), N)],
                "1",
                "first tab (dataset)",
                "Panes",
                None,
                Action::SelectTab(0)
            ),
            b!(
                &[(KeyCode::Char('2'), N)],
                "2",
                "second tab",
                "Panes",
                None,
                Action::SelectTab(1)
            ),
            b!(
                &[(KeyCode::Char('3'), N)],
                "3",
                "third tab",
                "Panes",
                None,
                Action::SelectTab(2)
            ),
            b!(
                &[(KeyCode::Char('/'), N)],
                "/",
                "search ids and metadata",
                "Find",
                Some("/ search"),
                Action::StartSearch
            ),
            b!(
                &[(KeyCode::Char('n'), N)],
                "n",
                "next search match",
                "Find",
                None,
                Action::SearchNext
            ),
            b!(
                &[(KeyCode::Char('N'), S), (KeyCode::Char('N'), N)],
                "N",
                "previous search match",
                "Find",
                None,
                Action::SearchPrev
            ),
            b!(
                &[(KeyCode::Char(':'), N), (KeyCode::Char(':'), S)],
                ":",
                "command line (commands below)",
                "Commands",
                Some(": command"),
                Action::StartCommand
            ),
            b!(
                &[(KeyCode::Char('e'), N)],
                "e",
                "export the selected cluster's ids",
                "Commands",
                Some("e export"),
                Action::ExportCluster
            ),
            b!(
                &[(KeyCode::Char('x'), N)],
                "x",
                "cancel the running job",
                "Commands",
                None,
                Action::CancelJob
            ),
            b!(
                &[(KeyCode::Char('?'), N), (KeyCode::Char('?'), S)],
                "?",
                "show or hide this help",
                "General",
                Some("? help"),
                Action::ToggleHelp
            ),
            b!(
                &[(KeyCode::Esc, N)],
                "Esc",
                "close help, search or command",
                "General",
                None,
                Action::Escape
            ),
            b!(
                &[(KeyCode::Char('q'), N), (KeyCode::Char('c'), C)],
                "q",
                "quit",
                "General",
                Some("q quit"),
                Action::Quit
            ),
        ]
    })
}

/// Commands of the `:` line, for help and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "color COLUMN",
        "colour by cluster, anomaly score or metadata",
    ),
    ("recluster leiden RES", "Leiden at resolution RES"),
    ("recluster kmeans K", "k-means with K clusters"),
    (
        "export clusters PATH",
        "each item's cluster (.csv/.parquet)",
    ),
    ("export anomalies PATH", "items ranked by anomaly score"),
    ("q", "quit"),
];

/// Maps a key in normal mode to its action.
pub fn normal_action(key: &KeyEvent) -> Option<Action> {
    let mods = key.modifiers & (KeyModifiers::SHIFT | KeyModifiers::CONTROL | KeyModifiers::ALT);
    bindings()
        .iter()
        .find(|b| b.keys.iter().any(|&(c, m)| c == key.code && m == mods))
        .map(|b| (b.action)())
}

/// Maps a key while typing in the search or command line.
pub fn input_action(key: &KeyEvent) -> Option<Action> {
    match key.code {
        KeyCode::Esc => Some(Action::Escape),
        KeyCode::Enter => Some(Action::InputSubmit),
        KeyCode::Backspace => Some(Action::InputBackspace),
        KeyCode::Tab => Some(Action::InputComplete),
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(Action::Escape),
        KeyCode::Char(ch) => Some(Action::InputChar(ch)),
        _ => None,
    }
}

/// Parses a key string like `"jj<Tab><Enter>:q<Enter>"` into key events (for tests and
/// scripted scenarios). Named keys: Tab, S-Tab, Enter, Esc, BS, Up, Down, Left, Right, C-x.
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
            for k in b.keys {
                assert!(seen.insert(*k), "{:?} bound twice", k);
            }
        }
    }

    #[test]
    fn parses_named_keys() {
        let k = parse_keys("j<Tab><Enter>:q");
        assert_eq!(k.len(), 5);
        assert_eq!(k[1].code, KeyCode::Tab);
    }
}
