//! The only code that changes state: `update(state, action) -> effects`. Keys that move
//! within a pane go to that pane's methods; job results are merged by `pipeline::Partial`.

use super::action::{Action, Dir, Effect, ExportKind, JobKind, LineMove};
use super::panes::bottom::BottomView;
use super::panes::jobs::{self, JobState};
use super::state::{ColorBy, Focus, History, Message, Mode, Search, State};
use super::tissue::PictureMode;
use crate::pipeline::PipelineEvent;
use crate::pipeline::jobs::{JobId, JobMsg, JobOutcome, JobOutput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub fn update(s: &mut State, action: Action) -> Vec<Effect> {
    let before = s.tab().map(|t| (s.active, t.map.cursor));
    let fx = apply(s, action);
    follow_cursor(s, before);
    s.refresh();
    fx
}

/// When the map's cursor lands on another item, the clusters pane selects that item's
/// cluster, so `m`, `e` and the markers pane act on the cluster under the cursor (the one
/// the user is looking at), not on a row selected long before.
fn follow_cursor(s: &mut State, before: Option<(usize, Option<usize>)>) {
    let active = s.active;
    let Some(t) = s.tab_mut() else { return };
    let now = (active, t.map.cursor);
    let (Some(i), true) = (t.map.cursor, before != Some(now)) else {
        return;
    };
    let Some(c) = t
        .data
        .result
        .clusters
        .as_ref()
        .and_then(|c| c.get(i).copied())
    else {
        return;
    };
    t.clusters.select_id(c);
}

/// The cluster `m` and `e` act on: the clusters pane's row while that pane has the focus,
/// else the cluster of the item under the map's cursor (what the user is looking at, also
/// right after a session opens or a recluster lands), else the pane's row. Selects that
/// cluster's row so the panes show it.
fn acting_cluster(s: &mut State) -> Option<u32> {
    let focus = s.focus;
    let t = s.tab_mut()?;
    let under_cursor = t
        .map
        .cursor
        .and_then(|i| t.data.result.clusters.as_ref()?.get(i).copied());
    let c = match (focus, under_cursor) {
        (Focus::Clusters, _) | (_, None) => t.clusters.selected()?,
        (_, Some(c)) => c,
    };
    t.clusters.select_id(c);
    Some(c)
}

fn apply(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Resize(w, h) => {
            s.size = (w, h);
            vec![]
        }
        Action::Tick => {
            jobs::tick(&mut s.jobs);
            if s.message
                .as_ref()
                .is_some_and(|m| !m.error && m.shown.elapsed() > Message::FADE)
            {
                s.message = None;
            }
            vec![]
        }
        Action::Job(msg) => on_job(s, msg),
        Action::JobStarted {
            id,
            name,
            tab,
            kind,
        } => {
            job_started(s, id, &name, tab, kind);
            vec![]
        }
        Action::Notify { text, error } => {
            s.message = Some(Message::new(text, error));
            vec![]
        }
        Action::Quit => {
            s.quit = true;
            vec![Effect::Quit]
        }
        Action::ToggleHelp => {
            s.mode = if s.mode == Mode::Help {
                Mode::Normal
            } else {
                s.help_scroll = 0;
                Mode::Help
            };
            vec![]
        }
        // While the help is open, moving keys scroll it (the overlay draw clamps the offset).
        Action::Move(_) | Action::ScrollDetail(_) if s.mode == Mode::Help => {
            let by: i32 = match action {
                Action::ScrollDetail(n) => n,
                Action::Move(Dir::Up | Dir::Left) => -1,
                _ => 1,
            };
            s.help_scroll = (s.help_scroll as i32 + by).clamp(0, 500) as u16;
            vec![]
        }
        Action::PageDown | Action::PageUp if s.mode == Mode::Help => {
            let page = s.size.1.saturating_sub(4).max(1) as i32;
            let by = if matches!(action, Action::PageDown) {
                page
            } else {
                -page
            };
            s.help_scroll = (s.help_scroll as i32 + by).clamp(0, 500) as u16;
            vec![]
        }
        Action::Escape => {
            if s.mode == Mode::Normal {
                s.message = None;
                if let Some(t) = s.tab_mut()
                    && t.map.anchor.take().is_some()
                {
                    s.info("box selection cancelled");
                }
            }
            s.mode = Mode::Normal;
            vec![]
        }
        Action::StartSearch => {
            s.input_cursor = None;
            s.mode = Mode::Search(String::new());
            s.history.at = None;
            vec![]
        }
        Action::StartCommand => {
            s.input_cursor = None;
            s.mode = Mode::Command(String::new());
            s.history.at = None;
            vec![]
        }
        Action::InputChar(c) => {
            let at = s.input_cursor;
            if let Mode::Search(q) | Mode::Command(q) = &mut s.mode {
                match at {
                    Some(k) => {
                        q.insert(byte_at(q, k), c);
                        s.input_cursor = Some(k + 1);
                    }
                    None => q.push(c),
                }
            }
            vec![]
        }
        Action::InputBackspace => {
            let at = s.input_cursor;
            match &mut s.mode {
                Mode::Search(q) | Mode::Command(q) if !q.is_empty() => match at {
                    Some(0) => {}
                    Some(k) => {
                        q.remove(byte_at(q, k - 1));
                        s.input_cursor = Some(k - 1);
                    }
                    None => {
                        q.pop();
                    }
                },
                Mode::Search(_) | Mode::Command(_) => s.mode = Mode::Normal,
                _ => {}
            }
            vec![]
        }
        Action::InputCursor(m) => {
            if let Mode::Search(q) | Mode::Command(q) = &s.mode {
                let n = q.chars().count();
                let k = s.input_cursor.unwrap_or(n);
                let k = match m {
                    LineMove::Left => k.saturating_sub(1),
                    LineMove::Right => (k + 1).min(n),
                    LineMove::Home => 0,
                    LineMove::End => n,
                };
                s.input_cursor = (k < n).then_some(k);
            }
            vec![]
        }
        Action::InputDeleteWord => {
            delete_before_cursor(s, false);
            vec![]
        }
        Action::InputDeleteToStart => {
            delete_before_cursor(s, true);
            vec![]
        }
        Action::InputComplete => {
            super::commands::complete(s);
            s.input_cursor = None;
            vec![]
        }
        Action::InputSubmit => match std::mem::replace(&mut s.mode, Mode::Normal) {
            Mode::Search(q) => {
                History::push(&mut s.history.searches, &q);
                s.history.at = None;
                run_search(s, &q);
                vec![]
            }
            Mode::Command(c) => {
                History::push(&mut s.history.commands, &c);
                s.history.at = None;
                super::commands::run_command(s, &c)
            }
            m => {
                s.mode = m;
                vec![]
            }
        },
        Action::YankId => {
            let id = s.tab().and_then(|t| {
                let i = t.map.cursor?;
                t.dataset.as_ref()?.ids.get(i).cloned()
            });
            match id {
                Some(id) => {
                    s.info(format!("copied {id} (OSC 52)"));
                    vec![Effect::Yank(id)]
                }
                None => {
                    s.error("no item under the cursor");
                    vec![]
                }
            }
        }
        Action::ListEnd(last) => {
            // Lists only: on the map a "last row" has no meaning.
            if s.focus != Focus::Map {
                let d = if last { Dir::Down } else { Dir::Up };
                move_in_focus(s, d, usize::MAX / 2);
            }
            vec![]
        }
        Action::InputHistory(by) => {
            let list = match &s.mode {
                Mode::Command(_) => &s.history.commands,
                Mode::Search(_) => &s.history.searches,
                _ => return vec![],
            };
            let n = list.len();
            // Up from the line being typed goes to the newest entry; Down past the newest
            // comes back to an empty line.
            let at = match (s.history.at, by < 0) {
                (None, true) if n > 0 => Some(n - 1),
                (None, _) => None,
                (Some(i), true) => Some(i.saturating_sub(1)),
                (Some(i), false) if i + 1 < n => Some(i + 1),
                (Some(_), false) => None,
            };
            let text = at.map_or(String::new(), |i| list[i].clone());
            s.history.at = at;
            s.input_cursor = None;
            s.mode = match s.mode {
                Mode::Command(_) => Mode::Command(text),
                _ => Mode::Search(text),
            };
            vec![]
        }
        Action::SearchNext | Action::SearchPrev => {
            let fwd = matches!(action, Action::SearchNext);
            step_search(s, fwd);
            vec![]
        }
        Action::FocusNext | Action::FocusPrev => {
            let i = Focus::ORDER.iter().position(|f| *f == s.focus).unwrap_or(0);
            let n = Focus::ORDER.len();
            let j = if matches!(action, Action::FocusNext) {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            s.focus = Focus::ORDER[j];
            vec![]
        }
        Action::FocusAnomalies => {
            s.focus = Focus::Bottom;
            if let Some(t) = s.tab_mut() {
                t.bottom.view = BottomView::Anomalies;
            }
            vec![]
        }
        Action::ShowMarkers => {
            acting_cluster(s);
            let Some(t) = s.tab_mut() else { return vec![] };
            // `m` shows the cluster's own markers, not the last `:compare`.
            t.comparison = None;
            let v = t.data.view(t.map.cursor, t.clusters.selected(), None);
            match t.bottom.show_findings(&v) {
                Ok(()) => s.focus = Focus::Bottom,
                Err(e) => s.error(e),
            }
            vec![]
        }
        Action::ScrollDetail(by) => {
            let Some(t) = s.tab_mut() else { return vec![] };
            // A live run's versions, one at a time.
            if t.data.versions.len() > 1 {
                match super::versions::step(t, by.signum() as isize) {
                    Ok(said) => s.info(said),
                    Err(e) => s.error(e),
                }
                return vec![];
            }
            // Tiles have no sequence to scroll: in the tissue view the keys step through
            // the slides instead.
            if t.data
                .tissue
                .as_ref()
                .is_some_and(|ts| ts.sources.len() > 1)
            {
                step_slide(s, by.signum() as isize);
                return vec![];
            }
            if let Some(c) = t.map.cursor {
                t.detail.scroll(c, by);
            }
            vec![]
        }
        Action::SelectTab(i) => {
            if i < s.tabs.len() {
                s.active = i;
            }
            vec![]
        }
        Action::CycleTab(by) => {
            let n = s.tabs.len() as isize;
            if n > 0 {
                s.active = (s.active as isize + by).rem_euclid(n) as usize;
            }
            vec![]
        }
        Action::CycleColor => {
            if let Some(t) = s.tab_mut() {
                let choices = t.color_choices();
                let i = choices.iter().position(|c| *c == t.color).unwrap_or(0);
                t.color = choices[(i + 1) % choices.len()].clone();
                t.color_version += 1;
                let name = t.color.name().to_string();
                s.info(format!("colour: {name}"));
            }
            vec![]
        }
        Action::Move(d) => {
            move_in_focus(s, d, 1);
            vec![]
        }
        Action::PageDown | Action::PageUp => {
            let d = if matches!(action, Action::PageDown) {
                Dir::Down
            } else {
                Dir::Up
            };
            if s.focus != Focus::Map {
                move_in_focus(s, d, 10);
            }
            vec![]
        }
        Action::ZoomIn | Action::ZoomOut => {
            let f = if matches!(action, Action::ZoomIn) {
                0.7
            } else {
                1.0 / 0.7
            };
            if let Some(t) = s.tab_mut() {
                let layout = t.data.map_layout();
                t.map.zoom(layout.as_deref().map(|l| l.as_slice()), f, None);
            }
            vec![]
        }
        Action::ResetView => {
            if let Some(t) = s.tab_mut()
                && let Some(l) = t.data.map_layout()
            {
                t.map.reset_view(&l);
            }
            vec![]
        }
        Action::Open => open_selected(s),
        Action::BoxSelect => {
            box_select(s);
            vec![]
        }
        Action::CyclePicture => {
            cycle_picture(s);
            vec![]
        }
        Action::ToggleTissue => {
            let cmd = if s.tab().is_some_and(|t| t.data.tissue.is_some()) {
                "map projection"
            } else {
                "map tissue"
            };
            super::commands::run_command(s, cmd)
        }
        Action::Sort(how) => {
            super::commands::sort_table(s, &how);
            vec![]
        }
        Action::ShowSelections => {
            s.focus = Focus::Bottom;
            if let Some(t) = s.tab_mut() {
                t.bottom.view = BottomView::Selections;
            }
            vec![]
        }
        Action::ExportCluster => {
            let Some(c) = acting_cluster(s) else {
                s.error("no clusters yet");
                return vec![];
            };
            let Some(t) = s.tab() else { return vec![] };
            let name = sanitize(&t.title);
            vec![Effect::Export {
                tab: s.active,
                kind: ExportKind::ClusterIds(c),
                path: PathBuf::from(format!("{name}_cluster_{c}_ids.txt")),
            }]
        }
        Action::CancelJob => {
            // The focused tab's newest running job: another tab's work is never touched.
            let running: Vec<JobId> = s.running_jobs().map(|j| j.id).collect();
            let mine = s.tab().map_or(Vec::new(), |t| {
                running
                    .iter()
                    .copied()
                    .filter(|&id| t.job_kind(id).is_some())
                    .collect()
            });
            match (mine.last(), running.len()) {
                (Some(&id), _) => {
                    s.info(format!("cancelling job #{}", id.0));
                    vec![Effect::Cancel(id)]
                }
                (None, 0) => {
                    s.info("no job is running");
                    vec![]
                }
                (None, n) => {
                    s.info(format!(
                        "no job is running in this tab ({n} in other tabs: > or < to go there, then x)"
                    ));
                    vec![]
                }
            }
        }
        Action::Click { col, row } => click(s, col, row),
        Action::Scroll { up, col, row } => {
            let a = s.areas();
            let m = a.map_inner();
            let d = if up { Dir::Up } else { Dir::Down };
            if m.contains((col, row).into()) {
                if let Some(t) = s.tab_mut() {
                    let at = t.map.position_at(col, row, m);
                    let layout = t.data.map_layout();
                    t.map.zoom(
                        layout.as_deref().map(|l| l.as_slice()),
                        if up { 0.8 } else { 1.25 },
                        at,
                    );
                }
            } else if a.clusters.contains((col, row).into()) {
                move_pane(s, Focus::Clusters, d, 1);
            } else if a.bottom.contains((col, row).into()) {
                move_pane(s, Focus::Bottom, d, 1);
            }
            vec![]
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Registers a job view for a newly spawned job (called by the app after it spawns one).
pub fn job_started(s: &mut State, id: JobId, name: &str, tab: usize, kind: JobKind) {
    jobs::push(&mut s.jobs, id, name);
    if let Some(t) = s.tabs.get_mut(tab) {
        *t.job_mut(kind) = Some(id);
    }
}

fn on_job(s: &mut State, msg: JobMsg) -> Vec<Effect> {
    match msg {
        JobMsg::Progress {
            id,
            stage,
            fraction,
        } => {
            let now = Instant::now();
            if let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) {
                if j.stage != stage {
                    j.stage = stage;
                    j.stage_started = now;
                }
                j.fraction = fraction;
            }
            jobs::tick(&mut s.jobs);
        }
        JobMsg::Output { id, output } => {
            let Some(ti) = s.tabs.iter().position(|t| t.job_kind(id).is_some()) else {
                return vec![]; // stale: a newer job replaced it
            };
            let t = &mut s.tabs[ti];
            match output {
                JobOutput::Pipeline(ev) => {
                    match &ev {
                        PipelineEvent::Loaded(ds) => {
                            t.title = ds.name.clone();
                            t.dataset = Some(ds.clone());
                            // What the reader did to the data (QC filters) is said, as on the CLI.
                            let notes = ds.notes.join("; ");
                            if !notes.is_empty() {
                                t.version += 1;
                                s.info(notes);
                                return vec![];
                            }
                        }
                        PipelineEvent::Embedded(e) => t.embedding = Some(e.clone()),
                        // New findings for the clusters replace what the pane showed.
                        PipelineEvent::Findings(_) => {
                            t.comparison = None;
                            t.bottom.marker_sel = 0;
                        }
                        // The tissue view keeps its own extent when the projection lands.
                        PipelineEvent::Layout(l) => match &t.data.tissue {
                            Some(ts) => {
                                let on_tissue = ts.layout.clone();
                                t.map.on_layout(&on_tissue);
                            }
                            None => t.map.on_layout(l),
                        },
                        PipelineEvent::Note(text) => {
                            tracing::info!("{}: {text}", t.title);
                            let text = format!("{}: {text}", t.title);
                            s.info(text);
                            return vec![];
                        }
                        _ => {}
                    }
                    t.data.result.apply(&ev);
                }
                JobOutput::Compared(c) => {
                    let what = match &c.findings {
                        Some(f) => {
                            t.bottom.view = BottomView::Findings;
                            f.summary()
                        }
                        None => {
                            t.bottom.view = BottomView::Comparison;
                            format!("{} metadata columns compared", c.meta.len())
                        }
                    };
                    let top = c
                        .meta
                        .first()
                        .filter(|d| d.p() < 0.05)
                        .map_or(String::new(), |d| {
                            format!(
                                "; metadata differs most in {} (p = {:.2e}; :compare view)",
                                d.column(),
                                d.p()
                            )
                        });
                    let line = format!("{} (n = {} vs {}): {what}{top}", c.label, c.n_a, c.n_b);
                    t.comparison = Some(c);
                    t.bottom.marker_sel = 0;
                    s.focus = Focus::Bottom;
                    s.info(line);
                    return vec![];
                }
                JobOutput::Version(v) => {
                    let mut line = v.change.line();
                    if v.change.shared > 0 {
                        line.push_str(" · :color moved ranks what moved most");
                    }
                    let shown = super::versions::add(&mut s.tabs[ti], v);
                    s.info(if shown {
                        line
                    } else {
                        format!("{line} (landed; ] steps to it)")
                    });
                    return vec![];
                }
                JobOutput::Metrics(m) => {
                    let t = &mut s.tabs[ti];
                    t.bottom.curves = Some(super::panes::metrics::series(&m));
                    t.data.metrics = Some(m);
                    return vec![];
                }
                JobOutput::SlidePictures(p) => {
                    let color = s.palette.pictures();
                    let t = &mut s.tabs[ti];
                    if let Some(ts) = t.data.tissue.as_mut() {
                        let n = p.pictures.len();
                        ts.pictures = Some(p);
                        if ts.picture != PictureMode::Off {
                            s.info(if color {
                                format!(
                                    "the picture of {n} slide{} lies behind the tiles (b: alone, off)",
                                    if n == 1 { "" } else { "s" }
                                )
                            } else {
                                "slide pictures need a terminal with 256 colours or more".to_string()
                            });
                        }
                    }
                    return vec![];
                }
                JobOutput::Neighbourhood(n) => {
                    let summary = n.summary();
                    t.nhood = Some(n);
                    t.bottom.view = BottomView::Neighbourhood;
                    t.bottom.crosstab_sel = 0;
                    s.info(summary);
                    return vec![];
                }
                JobOutput::Columns { columns, note } => {
                    let Some(ds) = t.data.dataset.clone() else {
                        return vec![];
                    };
                    let mut d = (*ds).clone();
                    let first = columns.first().map(|c| c.name.clone());
                    for c in columns {
                        d.meta.retain(|m| m.name != c.name);
                        d.meta.push(c);
                    }
                    t.data.dataset = Some(Arc::new(d));
                    t.version += 1;
                    // Coloured by the first column; the bottom pane ranks the items by it.
                    if let Some(name) = first {
                        t.color = ColorBy::Meta(name);
                        t.color_version += 1;
                        t.bottom.view = BottomView::Anomalies;
                        t.bottom.anomaly_sel = 0;
                    }
                    s.info(note);
                    return vec![];
                }
                JobOutput::Reclustered(r) => {
                    // The clusters and their characterisation landed as pipeline events; what
                    // is left is the graph they were found on and the selection.
                    let k = r.clusters.iter().max().map_or(0, |x| x + 1);
                    t.data.result.graph = Some(r.graph.clone());
                    t.clusters.sel = 0;
                    t.version += 1;
                    // How the new clusters split and merged the old ones, in the crosstab
                    // view (rows new, columns previous), numbered by overlap.
                    let versus = match r.versus_previous {
                        Some((x, ari)) => {
                            t.crosstab = Some(Arc::new(x));
                            t.bottom.view = BottomView::Crosstab;
                            t.bottom.crosstab_sel = 0;
                            format!(
                                "; ARI {ari:.3} against the previous clusters, numbered by \
                                 overlap (bottom pane: new × previous)"
                            )
                        }
                        None => String::new(),
                    };
                    s.info(format!(
                        "reclustered: {} → {k} clusters{versus}",
                        r.method.describe()
                    ));
                    return vec![];
                }
            }
            t.version += 1;
        }
        JobMsg::Finished { id, outcome } => {
            if let Some(j) = s.jobs.iter_mut().find(|j| j.id == id) {
                j.state = match &outcome {
                    JobOutcome::Done => JobState::Done,
                    JobOutcome::Cancelled => JobState::Cancelled,
                    JobOutcome::Failed(e) => JobState::Failed(e.clone()),
                };
                j.elapsed = j.started.elapsed().as_secs_f64();
                j.eta = None;
                if outcome == JobOutcome::Done {
                    j.fraction = 1.0;
                }
            }
            let name = s
                .jobs
                .iter()
                .find(|j| j.id == id)
                .map(|j| j.name.clone())
                .unwrap_or_default();
            for t in &mut s.tabs {
                if let Some(kind) = t.job_kind(id) {
                    // A failed comparison or scan is reported in the message line only; the
                    // tab's data is untouched.
                    if let (JobOutcome::Failed(e), false) = (
                        &outcome,
                        matches!(
                            kind,
                            JobKind::Compare | JobKind::Scan | JobKind::Spatial | JobKind::Picture
                        ),
                    ) {
                        t.error = Some(e.clone());
                    }
                    *t.job_mut(kind) = None;
                }
            }
            match outcome {
                JobOutcome::Failed(e) => s.error(format!("{name} failed: {e}")),
                JobOutcome::Cancelled => s.info(format!("{name} cancelled")),
                JobOutcome::Done => {}
            }
        }
    }
    vec![]
}

fn map_size(s: &State) -> (u16, u16) {
    let m = s.areas().map_inner();
    (m.width.max(1), m.height.max(1))
}

/// Arrow keys and page keys go to the focused pane.
fn move_in_focus(s: &mut State, d: Dir, step: usize) {
    move_pane(s, s.focus, d, step);
}

fn move_pane(s: &mut State, pane: Focus, d: Dir, step: usize) {
    let (w, h) = map_size(s);
    let Some(t) = s.tab_mut() else { return };
    match pane {
        Focus::Map => {
            if let Some(l) = t.data.map_layout() {
                t.map.move_cursor(&l, d, w, h);
            }
            follow_slide(s);
        }
        Focus::Clusters => {
            // Another cluster: its own markers and motifs from the top.
            if t.clusters.move_sel(d, step) {
                t.bottom.marker_sel = 0;
                t.comparison = None;
            }
        }
        Focus::Bottom => {
            let v = t.data.view(t.map.cursor, t.clusters.selected(), None);
            t.bottom.move_sel(&v, d, step);
            // Walking the anomalies walks the map's cursor, so the detail pane shows each one
            // (Enter still centres the map on it).
            if t.bottom.view == BottomView::Anomalies
                && let (Some(i), Some(l)) = (t.bottom.selected_anomaly(), t.data.map_layout())
            {
                t.map.go_to(&l, i, false);
            }
        }
        Focus::Jobs => {}
    }
}

/// Enter: go to the selected cluster's centre or the selected anomaly on the map.
/// `v`: starts a box at the cursor; pressed again, cancels it.
fn box_select(s: &mut State) {
    let Some(t) = s.tab_mut() else { return };
    let (Some(l), Some(c)) = (t.data.map_layout(), t.map.cursor) else {
        s.error("no map yet: box selection waits for the projection");
        return;
    };
    if t.map.anchor.take().is_some() {
        s.info("box selection cancelled");
        return;
    }
    t.map.anchor = l.get(c).copied();
    s.focus = Focus::Map;
    s.info("box selection: move the cursor to the other corner, Enter saves, Esc cancels");
}

/// Enter with a box on the map: saves it as a coordinate selection.
fn save_box(s: &mut State) -> Option<Vec<Effect>> {
    let t = s.tab_mut()?;
    let l = t.data.map_layout()?;
    let (x0, x1, y0, y1) = t.map.box_bounds(&l)?;
    t.map.anchor = None;
    let name = t.selections.fresh_name("box");
    Some(crate::tui::select_commands::put(
        s,
        crate::core::selection::Selection {
            name,
            dataset: None,
            def: crate::core::selection::Definition::Box { x0, x1, y0, y1 },
        },
    ))
}

fn open_selected(s: &mut State) -> Vec<Effect> {
    let focus = s.focus;
    if focus == Focus::Map
        && let Some(fx) = save_box(s)
    {
        return fx;
    }
    // Enter on a selection highlights it on the map.
    if focus == Focus::Bottom
        && let Some(t) = s.tab_mut()
        && t.bottom.view == BottomView::Selections
    {
        if let Some(name) = t
            .selections
            .defs
            .get(t.bottom.selection_row())
            .map(|d| d.name.clone())
        {
            t.color = ColorBy::Selection(name.clone());
            t.color_version += 1;
            s.info(format!("colour: selection {name}"));
        }
        return vec![];
    }
    // Enter on a version of a live run shows it.
    if focus == Focus::Bottom
        && let Some(t) = s.tab_mut()
        && t.bottom.view == BottomView::History
    {
        let k = t.bottom.history_row();
        if k < t.data.versions.len() {
            super::versions::show(t, k);
            let line = t.data.versions[k].change.line();
            s.info(line);
        }
        return vec![];
    }
    // Enter on a marker gene colours the map by it, through the `:color gene` command.
    if focus == Focus::Bottom
        && let Some(t) = s.tab()
        && t.bottom.view == BottomView::Findings
        && let Some(cmd) = crate::tui::views::findings_enter(&t.view(None), t.bottom.findings_row())
    {
        crate::tui::commands::run_command(s, &cmd);
        return vec![];
    }
    let Some(t) = s.tab_mut() else { return vec![] };
    let target = match focus {
        Focus::Clusters => t.clusters.selected_center(),
        Focus::Bottom if t.bottom.view == BottomView::Anomalies => t.bottom.selected_anomaly(),
        _ => None,
    };
    if let (Some(i), Some(l)) = (target, t.data.map_layout()) {
        t.map.go_to(&l, i, true);
        s.focus = Focus::Map;
    }
    vec![]
}

fn click(s: &mut State, col: u16, row: u16) -> Vec<Effect> {
    let a = s.areas();
    let m = a.map_inner();
    if m.contains((col, row).into()) {
        s.focus = Focus::Map;
        if let Some(t) = s.tab_mut()
            && let Some(l) = t.data.map_layout()
        {
            t.map.click(&l, col, row, m);
        }
    } else if a.clusters.contains((col, row).into()) {
        s.focus = Focus::Clusters;
        if let Some(t) = s.tab_mut() {
            t.clusters.click(row, a.clusters.y);
        }
    } else if a.bottom.contains((col, row).into()) {
        s.focus = Focus::Bottom;
    } else if a.jobs.contains((col, row).into()) {
        s.focus = Focus::Jobs;
    } else if a.tabs.contains((col, row).into()) {
        // Tabs are drawn as " N name " segments; pick by running width.
        let mut x = 0u16;
        for (i, t) in s.tabs.iter().enumerate() {
            // Matches draw_tabs: " N title " then two spaces.
            let w = (format!(" {} {} ", i + 1, t.title).chars().count() + 2) as u16;
            if col >= x && col < x + w {
                s.active = i;
                break;
            }
            x += w;
        }
    }
    vec![]
}

fn run_search(s: &mut State, q: &str) {
    // Matching ignores case; messages echo the query as typed.
    let shown = q.trim().to_string();
    let q = shown.to_lowercase();
    let Some(t) = s.tab_mut() else { return };
    let Some(d) = t.dataset.clone() else { return };
    if q.is_empty() {
        t.search = None;
        return;
    }
    // A gene name: colour the map by it (the search for ids and metadata still runs).
    let gene = d
        .expression()
        .and_then(|e| e.gene_index(&q).map(|g| (g, e.genes[g].clone())));
    if let Some((g, name)) = &gene {
        t.color = ColorBy::Genes(format!("gene {name}"), vec![*g]);
        t.color_version += 1;
    }
    let mut matches = Vec::new();
    // Where the matches were found (ids, or a text column), so the message can say it.
    let mut found_in: Vec<(String, usize)> = Vec::new();
    let count = |found_in: &mut Vec<(String, usize)>, name: &str| match found_in
        .iter_mut()
        .find(|(n, _)| n == name)
    {
        Some(e) => e.1 += 1,
        None => found_in.push((name.to_string(), 1)),
    };
    for i in 0..d.len() {
        let mut hit = false;
        if d.ids[i].to_lowercase().contains(&q) {
            count(&mut found_in, "ids");
            hit = true;
        }
        for c in d.meta.iter().filter(|c| c.is_text()) {
            if c.display(i).to_lowercase().contains(&q) {
                count(&mut found_in, &c.name);
                hit = true;
            }
        }
        if hit {
            matches.push(i);
        }
    }
    let n = matches.len();
    let sources = found_in
        .iter()
        .map(|(name, k)| format!("{name} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    // With a gene and a column both matching, say how to colour by the column instead.
    let column = found_in
        .iter()
        .find(|(name, _)| name != "ids")
        .map(|(c, _)| c.clone());
    t.search = Some(Search {
        query: q.clone(),
        matches,
        pos: 0,
    });
    if n == 0
        && let Some((_, name)) = &gene
    {
        s.info(format!(
            "/{shown}: gene {name}, map coloured by its expression (no id or label matched)"
        ));
    } else if n == 0 {
        s.error(format!("no id, label or gene matches '{shown}'"));
    } else {
        go_to_match(s);
        s.info(format!(
            "/{shown}: {n} match{} in {sources} (n/N to step){}",
            if n == 1 { "" } else { "es" },
            match (&gene, &column) {
                (Some((_, g)), Some(c)) => format!(
                    "; also gene {g}: map coloured by it (:color {c} colours by the column)"
                ),
                (Some((_, g)), None) => format!("; map coloured by gene {g}"),
                _ => String::new(),
            }
        ));
    }
}

fn go_to_match(s: &mut State) {
    let Some(t) = s.tab_mut() else { return };
    let Some(i) = t
        .search
        .as_ref()
        .and_then(|m| m.matches.get(m.pos).copied())
    else {
        return;
    };
    if let Some(l) = t.data.map_layout() {
        t.map.go_to(&l, i, false);
    } else {
        t.map.cursor = Some(i);
    }
}

fn step_search(s: &mut State, fwd: bool) {
    let Some(t) = s.tab_mut() else { return };
    let Some(m) = &mut t.search else { return };
    if m.matches.is_empty() {
        return;
    }
    let n = m.matches.len();
    m.pos = if fwd {
        (m.pos + 1) % n
    } else {
        (m.pos + n - 1) % n
    };
    let msg = format!("match {} of {n}", m.pos + 1);
    go_to_match(s);
    s.info(msg);
}

/// The byte offset of character `k` of `q` (its length past the end).
fn byte_at(q: &str, k: usize) -> usize {
    q.char_indices().nth(k).map_or(q.len(), |(b, _)| b)
}

/// C-w (the word before the cursor and the spaces after it, as readline) or C-u (all before
/// the cursor) on the `:` or `/` line.
fn delete_before_cursor(s: &mut State, to_start: bool) {
    let at = s.input_cursor;
    if let Mode::Search(q) | Mode::Command(q) = &mut s.mode {
        let chars: Vec<char> = q.chars().collect();
        let k = at.unwrap_or(chars.len()).min(chars.len());
        let mut from = k;
        if to_start {
            from = 0;
        } else {
            while from > 0 && chars[from - 1] == ' ' {
                from -= 1;
            }
            while from > 0 && chars[from - 1] != ' ' {
                from -= 1;
            }
        }
        *q = chars[..from].iter().chain(&chars[k..]).collect();
        s.input_cursor = (from < q.chars().count()).then_some(from);
    }
}

/// `b`: the slide's picture in the tissue view behind the tiles, alone, or off.
fn cycle_picture(s: &mut State) {
    let color = s.palette.pictures();
    let Some(ts) = s.tab_mut().and_then(|t| t.data.tissue.as_mut()) else {
        s.error("b shows the slide's picture in the tissue view (w)");
        return;
    };
    if ts.sources.is_empty() {
        s.error("no slide or image behind these positions: b works on tiles");
        return;
    }
    ts.picture = ts.picture.next();
    let said = match (ts.picture, &ts.pictures, color) {
        (_, _, false) => "slide pictures need a terminal with 256 colours or more".to_string(),
        (PictureMode::Off, _, _) => "slide picture off (b: behind the tiles)".to_string(),
        (m, None, _) => format!("slide picture {}: still being read", m.name()),
        (m, Some(_), _) => format!("slide picture {} (b: next)", m.name()),
    };
    s.info(said);
}

/// `]` / `[` in the tissue view: the next or previous slide alone, past the last back to all
/// of them side by side. The cursor goes to the slide's first item unless it is on it.
fn step_slide(s: &mut State, by: isize) {
    let Some(t) = s.tab_mut() else { return };
    let Some(ts) = t.data.tissue.as_mut() else {
        return;
    };
    // Positions 0..n are the slides, n is all of them.
    let n = ts.sources.len() as isize;
    let at = ts.shown.map_or(n, |k| k as isize);
    let next = (at + by).rem_euclid(n + 1);
    ts.shown = (next < n).then_some(next as usize);
    super::commands::show_slide(s);
}

/// With one slide shown, a cursor that moves onto another slide takes the view with it.
fn follow_slide(s: &mut State) {
    let Some(t) = s.tab_mut() else { return };
    let (Some(ts), Some(c)) = (t.data.tissue.as_mut(), t.map.cursor) else {
        return;
    };
    if let (Some(k), Some(&o)) = (ts.shown, ts.source_of.get(c))
        && o as usize != k
    {
        ts.shown = Some(o as usize);
        super::commands::show_slide(s);
    }
}
