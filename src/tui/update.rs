//! The only code that changes state: `update(state, action) -> effects`.

use super::action::{Action, Dir, Effect, ExportKind, JobKind};
use super::raster::Viewport;
use super::state::{Focus, JobState, JobView, Message, Mode, Search, State, Tab};
use crate::pipeline::PipelineEvent;
use crate::pipeline::jobs::JobId;
use crate::pipeline::jobs::JobMsg;
use crate::pipeline::jobs::JobOutcome;
use crate::pipeline::jobs::JobOutput;
use std::path::PathBuf;
use std::time::Instant;

pub fn update(s: &mut State, action: Action) -> Vec<Effect> {
    let fx = apply(s, action);
    s.refresh();
    fx
}

pub(super) fn info(s: &mut State, text: impl Into<String>) {
    s.message = Some(Message {
        text: text.into(),
        error: false,
    });
}

pub(super) fn error(s: &mut State, text: impl Into<String>) {
    s.message = Some(Message {
        text: text.into(),
        error: true,
    });
}

fn apply(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Resize(w, h) => {
            s.size = (w, h);
            vec![]
        }
        Action::Tick => {
            tick_jobs(s);
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
            s.message = Some(Message { text, error });
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
                Mode::Help
            };
            vec![]
        }
        Action::Escape => {
            if s.mode == Mode::Normal {
                s.message = None;
            }
            s.mode = Mode::Normal;
            vec![]
        }
        Action::StartSearch => {
            s.mode = Mode::Search(String::new());
            vec![]
        }
        Action::StartCommand => {
            s.mode = Mode::Command(String::new());
            vec![]
        }
        Action::InputChar(c) => {
            if let Mode::Search(q) | Mode::Command(q) = &mut s.mode {
                q.push(c);
            }
            vec![]
        }
        Action::InputBackspace => {
            match &mut s.mode {
                Mode::Search(q) | Mode::Command(q) if !q.is_empty() => {
                    q.pop();
                }
                Mode::Search(_) | Mode::Command(_) => s.mode = Mode::Normal,
                _ => {}
            }
            vec![]
        }
        Action::InputComplete => {
            super::commands::complete(s);
            vec![]
        }
        Action::InputSubmit => match std::mem::replace(&mut s.mode, Mode::Normal) {
            Mode::Search(q) => {
                run_search(s, &q);
                vec![]
            }
            Mode::Command(c) => super::commands::run_command(s, &c),
            m => {
                s.mode = m;
                vec![]
            }
        },
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
            s.focus = Focus::Anomalies;
            if let Some(t) = s.tab_mut() {
                t.show_markers = false;
            }
            vec![]
        }
        Action::ShowMarkers => {
            let Some(t) = s.tab_mut() else { return vec![] };
            if t.dataset
                .as_ref()
                .is_some_and(|d| d.expression().is_none() && d.sequences().is_none())
            {
                error(
                    s,
                    "markers need expression values (cells) and motifs need sequences (DNA)",
                );
                return vec![];
            }
            t.show_markers = true;
            t.marker_sel = 0;
            s.focus = Focus::Anomalies;
            vec![]
        }
        Action::ScrollDetail(by) => {
            let Some(t) = s.tab_mut() else { return vec![] };
            let Some(c) = t.cursor else { return vec![] };
            let from = if t.seq_scroll.1 == c {
                t.seq_scroll.0
            } else {
                0
            };
            // The draw clamps at the sequence's end; here only the item and the offset change.
            t.seq_scroll = ((from as i64 + by as i64).max(0) as usize, c);
            vec![]
        }
        Action::SelectTab(i) => {
            if i < s.tabs.len() {
                s.active = i;
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
                info(s, format!("colour: {name}"));
            }
            vec![]
        }
        Action::Move(d) => {
            match s.focus {
                Focus::Map => move_cursor(s, d),
                Focus::Clusters => move_sel(s, d, 1, true),
                Focus::Anomalies if s.tab().is_some_and(|t| t.show_markers) => move_marker(s, d, 1),
                Focus::Anomalies => move_sel(s, d, 1, false),
                Focus::Jobs => {}
            }
            vec![]
        }
        Action::PageDown | Action::PageUp => {
            let d = if matches!(action, Action::PageDown) {
                Dir::Down
            } else {
                Dir::Up
            };
            match s.focus {
                Focus::Clusters => move_sel(s, d, 10, true),
                Focus::Anomalies if s.tab().is_some_and(|t| t.show_markers) => {
                    move_marker(s, d, 10)
                }
                Focus::Anomalies => move_sel(s, d, 10, false),
                _ => {}
            }
            vec![]
        }
        Action::ZoomIn | Action::ZoomOut => {
            let f = if matches!(action, Action::ZoomIn) {
                0.7
            } else {
                1.0 / 0.7
            };
            zoom(s, f, None);
            vec![]
        }
        Action::ResetView => {
            if let Some(t) = s.tab_mut()
                && let Some(l) = &t.layout
            {
                t.view = Some(Viewport::fit(l));
            }
            vec![]
        }
        Action::Open => {
            open_selected(s);
            vec![]
        }
        Action::ExportCluster => {
            let Some(t) = s.tab() else { return vec![] };
            let Some(c) = t.derived.cluster_rows.get(t.cluster_sel).map(|r| r.id) else {
                error(s, "no clusters yet");
                return vec![];
            };
            let name = sanitize(&t.title);
            vec![Effect::Export {
                tab: s.active,
                kind: ExportKind::ClusterIds(c),
                path: PathBuf::from(format!("{name}_cluster_{c}_ids.txt")),
            }]
        }
        Action::CancelJob => {
            let running: Vec<JobId> = s.running_jobs().map(|j| j.id).collect();
            match running.last() {
                Some(&id) => {
                    info(s, format!("cancelling job #{}", id.0));
                    vec![Effect::Cancel(id)]
                }
                None => {
                    info(s, "no job is running");
                    vec![]
                }
            }
        }
        Action::Click { col, row } => click(s, col, row),
        Action::Scroll { up, col, row } => {
            let a = s.areas();
            let m = a.map_inner();
            if m.contains((col, row).into()) {
                let at = s
                    .tab()
                    .and_then(|t| t.view)
                    .map(|v| v.cell_center(col - m.x, row - m.y, m.width, m.height));
                zoom(s, if up { 0.8 } else { 1.25 }, at);
            } else if a.clusters.contains((col, row).into()) {
                move_sel(s, if up { Dir::Up } else { Dir::Down }, 1, true);
            } else if a.anomalies.contains((col, row).into()) {
                move_sel(s, if up { Dir::Up } else { Dir::Down }, 1, false);
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

fn tick_jobs(s: &mut State) {
    let now = Instant::now();
    for j in &mut s.jobs {
        if j.state == JobState::Running {
            j.elapsed = now.duration_since(j.started).as_secs_f64();
            let in_stage = now.duration_since(j.stage_started).as_secs_f64();
            j.eta = (j.fraction > 0.02 && j.fraction < 1.0)
                .then(|| in_stage * (1.0 - j.fraction) / j.fraction);
        }
    }
}

/// Registers a job view for a newly spawned job (called by the app after it spawns one).
pub fn job_started(s: &mut State, id: JobId, name: &str, tab: usize, kind: JobKind) {
    let now = Instant::now();
    s.jobs.push(JobView {
        id,
        name: name.to_string(),
        stage: "starting".into(),
        fraction: 0.0,
        state: JobState::Running,
        started: now,
        stage_started: now,
        eta: None,
        elapsed: 0.0,
    });
    if let Some(t) = s.tabs.get_mut(tab) {
        *t.job_mut(kind) = Some(id);
    }
    // Keep the list short: finished jobs beyond the last 8 are dropped.
    while s.jobs.len() > 8 {
        match s.jobs.iter().position(|j| j.state != JobState::Running) {
            Some(p) => {
                s.jobs.remove(p);
            }
            None => break,
        }
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
            tick_jobs(s);
        }
        JobMsg::Output { id, output } => {
            let Some(ti) = s.tabs.iter().position(|t| t.job_kind(id).is_some()) else {
                return vec![]; // stale: a newer job replaced it
            };
            let t = &mut s.tabs[ti];
            match output {
                JobOutput::Pipeline(ev) => match ev {
                    PipelineEvent::Loaded(ds) => {
                        t.title = ds.name.clone();
                        // What the loader did to the data (QC filters) is said, as on the CLI.
                        let notes = ds.notes.join("; ");
                        t.dataset = Some(ds);
                        if !notes.is_empty() {
                            t.version += 1;
                            info(s, notes);
                            return vec![];
                        }
                    }
                    PipelineEvent::Embedded(e) => {
                        t.anomaly_model = e.scores.clone();
                        t.embedding = Some(e);
                    }
                    PipelineEvent::Analysed(a) => t.graph = a.graph.clone(),
                    PipelineEvent::Note(text) => {
                        tracing::info!("{}: {text}", t.title);
                        let text = format!("{}: {text}", t.title);
                        info(s, text);
                        return vec![];
                    }
                    PipelineEvent::Stage { .. } => {}
                    PipelineEvent::Knn(k) => t.knn = Some(k),
                    PipelineEvent::Clusters(c, m) => {
                        t.clusters = Some(c);
                        t.cluster_method = Some(m);
                    }
                    PipelineEvent::Anomalies { knn, iforest } => {
                        t.anomaly_knn = Some(knn);
                        t.anomaly_iforest = Some(iforest);
                    }
                    PipelineEvent::Markers(m) => {
                        t.markers = Some(m);
                        t.comparison = None;
                    }
                    PipelineEvent::Motifs(m) => {
                        t.motifs = Some(m);
                        t.motif_sel = 0;
                    }
                    PipelineEvent::Layout(l) => {
                        t.view = Some(Viewport::fit(&l));
                        t.layout = Some(l);
                        if t.cursor.is_none() {
                            t.cursor = Some(0);
                        }
                    }
                },
                JobOutput::Compared(m) => {
                    let (n, label) = (m.markers.len(), m.group.clone());
                    t.comparison = Some(m);
                    t.show_markers = true;
                    t.marker_sel = 0;
                    s.focus = Focus::Anomalies;
                    info(s, format!("{label}: {n} genes ranked (Wilcoxon)"));
                    return vec![];
                }
                JobOutput::Reclustered(r) => {
                    let k = r.clusters.iter().max().map_or(0, |x| x + 1);
                    t.clusters = Some(r.clusters);
                    t.cluster_sel = 0;
                    t.graph = Some(r.graph);
                    let d = r.method.describe();
                    t.cluster_method = Some(r.method);
                    t.version += 1;
                    info(s, format!("reclustered: {d} → {k} clusters"));
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
                    // A failed comparison is reported in the message line only; the tab's
                    // data is untouched.
                    if let (JobOutcome::Failed(e), false) = (&outcome, kind == JobKind::Compare) {
                        t.error = Some(e.clone());
                    }
                    *t.job_mut(kind) = None;
                }
            }
            match outcome {
                JobOutcome::Failed(e) => error(s, format!("{name} failed: {e}")),
                JobOutcome::Cancelled => info(s, format!("{name} cancelled")),
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

fn move_cursor(s: &mut State, d: Dir) {
    let (w, h) = map_size(s);
    let Some(t) = s.tab_mut() else { return };
    let (Some(layout), Some(view), Some(grid)) = (t.layout.clone(), t.view, t.derived.grid.clone())
    else {
        return;
    };
    let cur = t.cursor.unwrap_or(0).min(layout.len().saturating_sub(1));
    let p = layout[cur];
    let (sx, sy) = (2.0 * view.hw / w as f32, 2.0 * view.hh / h as f32);
    let (dx, dy) = match d {
        Dir::Left => (-sx, 0.0),
        Dir::Right => (sx, 0.0),
        Dir::Up => (0.0, sy),
        Dir::Down => (0.0, -sy),
    };
    let target = [p[0] + dx, p[1] + dy];
    // Nearest point to one cell over, among points that lie in the direction of travel.
    let keep = |i: usize| {
        let q = layout[i];
        i != cur && ((q[0] - p[0]) * dx + (q[1] - p[1]) * dy) > 0.0
    };
    if let Some(next) = grid.nearest(&layout, target, &keep) {
        t.cursor = Some(next);
        follow(t, layout[next]);
    }
}

/// Pans so `p` is visible.
fn follow(t: &mut Tab, p: [f32; 2]) {
    if let Some(v) = &mut t.view
        && ((p[0] - v.cx).abs() > v.hw * 0.95 || (p[1] - v.cy).abs() > v.hh * 0.95)
    {
        v.cx = p[0];
        v.cy = p[1];
    }
}

fn zoom(s: &mut State, f: f32, at: Option<[f32; 2]>) {
    let Some(t) = s.tab_mut() else { return };
    let center = at.or_else(|| t.cursor.zip(t.layout.as_ref()).map(|(c, l)| l[c]));
    if let Some(v) = &mut t.view {
        if let Some(c) = center {
            // Keep the anchor at the same screen position.
            v.cx = c[0] + (v.cx - c[0]) * f;
            v.cy = c[1] + (v.cy - c[1]) * f;
        }
        v.hw = (v.hw * f).max(1e-4);
        v.hh = (v.hh * f).max(1e-4);
    }
}

fn move_marker(s: &mut State, d: Dir, step: usize) {
    let Some(t) = s.tab_mut() else { return };
    let len = if t.motifs.is_some() {
        t.cluster_motifs().len()
    } else {
        t.marker_table().map_or(0, |m| m.markers.len())
    };
    if len == 0 {
        return;
    }
    t.marker_sel = match d {
        Dir::Down | Dir::Right => (t.marker_sel + step).min(len - 1),
        Dir::Up | Dir::Left => t.marker_sel.saturating_sub(step),
    };
}

fn move_sel(s: &mut State, d: Dir, step: usize, clusters: bool) {
    let Some(t) = s.tab_mut() else { return };
    let (sel, len) = if clusters {
        (&mut t.cluster_sel, t.derived.cluster_rows.len())
    } else {
        (&mut t.anomaly_sel, t.derived.anomaly_rank.len())
    };
    if len == 0 {
        return;
    }
    match d {
        Dir::Down | Dir::Right => *sel = (*sel + step).min(len - 1),
        Dir::Up | Dir::Left => *sel = sel.saturating_sub(step),
    }
    if clusters {
        t.marker_sel = 0;
        t.comparison = None;
    }
}

fn open_selected(s: &mut State) {
    let focus = s.focus;
    let Some(t) = s.tab_mut() else { return };
    let target = match focus {
        Focus::Clusters => t
            .derived
            .cluster_rows
            .get(t.cluster_sel)
            .and_then(|r| r.center_item),
        Focus::Anomalies => t.derived.anomaly_rank.get(t.anomaly_sel).copied(),
        _ => None,
    };
    if let (Some(i), Some(l)) = (target, t.layout.clone()) {
        t.cursor = Some(i);
        if let Some(v) = &mut t.view {
            v.cx = l[i][0];
            v.cy = l[i][1];
        }
        s.focus = Focus::Map;
    }
}

fn click(s: &mut State, col: u16, row: u16) -> Vec<Effect> {
    let a = s.areas();
    let m = a.map_inner();
    if m.contains((col, row).into()) {
        s.focus = Focus::Map;
        let Some(t) = s.tab_mut() else { return vec![] };
        let (Some(l), Some(v), Some(g)) = (t.layout.clone(), t.view, t.derived.grid.clone()) else {
            return vec![];
        };
        let p = v.cell_center(col - m.x, row - m.y, m.width, m.height);
        if let Some(i) = g.nearest(&l, p, &|_| true) {
            t.cursor = Some(i);
        }
    } else if a.clusters.contains((col, row).into()) {
        s.focus = Focus::Clusters;
        // Row 0 of the pane is its border, row 1 the header.
        if let Some(t) = s.tab_mut() {
            let r = row.saturating_sub(a.clusters.y + 2) as usize;
            if r < t.derived.cluster_rows.len() {
                t.cluster_sel = r;
            }
        }
    } else if a.anomalies.contains((col, row).into()) {
        s.focus = Focus::Anomalies;
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
    let q = q.trim().to_lowercase();
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
        t.color = super::state::ColorBy::Genes(format!("gene {name}"), vec![*g]);
        t.color_version += 1;
    }
    let mut matches = Vec::new();
    for i in 0..d.len() {
        if d.ids[i].to_lowercase().contains(&q)
            || d.meta
                .iter()
                .any(|c| c.is_text() && c.display(i).to_lowercase().contains(&q))
        {
            matches.push(i);
        }
    }
    let n = matches.len();
    t.search = Some(Search {
        query: q.clone(),
        matches,
        pos: 0,
    });
    if n == 0
        && let Some((_, name)) = gene
    {
        info(
            s,
            format!("/{q}: gene {name}: map coloured by its expression"),
        );
    } else if n == 0 {
        error(s, format!("no match for '{q}'"));
    } else {
        go_to_match(s);
        info(s, format!("/{q}: {n} matches (n/N to step)"));
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
    t.cursor = Some(i);
    if let Some(l) = t.layout.clone() {
        follow(t, l[i]);
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
    info(s, msg);
}
