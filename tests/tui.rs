//! The terminal interface without a terminal: `update()` unit tests, snapshots of the whole
//! screen on ratatui's TestBackend at 80×24 and 120×40, and a key-driven scenario with real
//! background jobs.

#![allow(clippy::unwrap_used)]

mod common;
use biolens::modality::dna::motifs::Groups;
use biolens::pipeline::PipelineParams;
use biolens::pipeline::jobs::JobId;
use biolens::pipeline::jobs::JobMsg;
use biolens::pipeline::jobs::JobOutcome;
use biolens::tui::action::Action;
use biolens::tui::action::Dir;
use biolens::tui::action::Effect;
use biolens::tui::action::ExportKind;
use biolens::tui::action::JobKind;
use biolens::tui::app::App;
use biolens::tui::state::ColorBy;
use biolens::tui::state::Focus;
use biolens::tui::state::Mode;
use biolens::tui::state::State;
use biolens::tui::state::Tab;
use biolens::tui::state::TabSource;
use biolens::tui::table_sort::SortRequest;
use biolens::tui::update::job_started;
use biolens::tui::update::update;
use common::*;
use std::time::Duration;

/// Tabs over the pbmc session, opened as `biolens open` does (without embedding vectors).
fn session_tabs() -> Vec<Tab> {
    let path = pbmc_session();
    let (_, items) = biolens::session::read_for_view(&path).unwrap();
    items
        .into_iter()
        .enumerate()
        .map(|(i, sd)| Tab::from_session(path.clone(), i, sd))
        .collect()
}

fn session_state(size: (u16, u16)) -> State {
    State::new(session_tabs(), PipelineParams::default(), size)
}

#[test]
fn update_moves_focus_and_cycles_colour() {
    let mut s = session_state((120, 40));
    assert_eq!(s.focus, Focus::Map);
    update(&mut s, Action::FocusNext);
    assert_eq!(s.focus, Focus::Clusters);
    update(&mut s, Action::FocusPrev);
    assert_eq!(s.focus, Focus::Map);
    let t = s.tab().unwrap();
    assert_eq!(t.color, ColorBy::Cluster);
    update(&mut s, Action::CycleColor);
    assert_eq!(s.tab().unwrap().color, ColorBy::AnomalyKnn);
    let (v, cv) = (s.tab().unwrap().version, s.tab().unwrap().color_version);
    let raster = s.tab().unwrap().map.raster.clone();
    update(&mut s, Action::CycleColor);
    let t = s.tab().unwrap();
    assert!(t.color_version > cv, "colour change bumps the colour key");
    assert_eq!(t.version, v, "data caches stay valid");
    assert_ne!(t.map.raster, raster, "the map is recoloured");
}

#[test]
fn every_tab_is_reachable_by_key() {
    // Four datasets: digits reach three, `>`/`<` reach any, wrapping around.
    let mut tabs = session_tabs();
    let one = tabs[0].clone();
    for _ in 0..3 {
        tabs.push(one.clone());
    }
    let mut s = State::new(tabs, PipelineParams::default(), (120, 40));
    let act = |s: &mut State, k: &str| {
        for e in biolens::tui::keymap::parse_keys(k) {
            if let Some(a) = biolens::tui::keymap::normal_action(&e) {
                update(s, a);
            }
        }
    };
    act(&mut s, ">>>");
    assert_eq!(s.active, 3);
    act(&mut s, ">");
    assert_eq!(s.active, 0);
    act(&mut s, "<lt>");
    assert_eq!(s.active, 3);
}

#[test]
fn y_yanks_the_id_under_the_cursor() {
    let mut s = session_state((120, 40));
    let t = s.tab().unwrap();
    let id = t.dataset.as_ref().unwrap().ids[t.map.cursor.unwrap()].clone();
    assert_eq!(update(&mut s, Action::YankId), vec![Effect::Yank(id)]);
}

#[test]
fn information_fades_and_errors_stay() {
    let mut s = session_state((120, 40));
    let long_ago = std::time::Instant::now()
        .checked_sub(Duration::from_secs(7))
        .unwrap();
    s.info("colour: cluster");
    update(&mut s, Action::Tick);
    assert!(s.message.is_some(), "fresh information stays");
    s.message.as_mut().unwrap().shown = long_ago;
    update(&mut s, Action::Tick);
    assert!(s.message.is_none(), "old information fades");
    s.error("no gene 'X'");
    s.message.as_mut().unwrap().shown = long_ago;
    update(&mut s, Action::Tick);
    assert!(s.message.is_some(), "errors stay until Esc");
}

#[test]
fn the_map_title_says_how_far_it_is_zoomed() {
    let mut s = session_state((120, 40));
    assert!(!screen(&s).contains("zoom"));
    update(&mut s, Action::ZoomIn);
    let sc = screen(&s);
    let f = s.tab().unwrap().map.zoom_factor();
    assert!(f > 1.1, "{f}");
    assert!(sc.contains(&format!("zoom {f:.1}×")), "{sc}");
    update(&mut s, Action::ResetView);
    assert!(!screen(&s).contains("zoom"));
}

#[test]
fn g_and_shift_g_jump_to_the_ends_of_a_list() {
    let mut s = session_state((120, 40));
    s.focus = Focus::Clusters;
    let n = s.tab().unwrap().clusters.rows.len();
    update(&mut s, Action::ListEnd(true));
    assert_eq!(s.tab().unwrap().clusters.sel, n - 1);
    update(&mut s, Action::ListEnd(false));
    assert_eq!(s.tab().unwrap().clusters.sel, 0);
    // On the map they do nothing.
    s.focus = Focus::Map;
    let cursor = s.tab().unwrap().map.cursor;
    update(&mut s, Action::ListEnd(true));
    assert_eq!(s.tab().unwrap().map.cursor, cursor);
}

#[test]
fn update_cursor_moves_in_the_requested_direction() {
    let mut s = session_state((120, 40));
    let layout = s.tab().unwrap().result.layout.clone().unwrap();
    for d in [Dir::Right, Dir::Up, Dir::Left, Dir::Down] {
        let before = s.tab().unwrap().map.cursor.unwrap();
        update(&mut s, Action::Move(d));
        let after = s.tab().unwrap().map.cursor.unwrap();
        if after != before {
            let (p, q) = (layout[before], layout[after]);
            let ok = match d {
                Dir::Right => q[0] > p[0],
                Dir::Left => q[0] < p[0],
                Dir::Up => q[1] > p[1],
                Dir::Down => q[1] < p[1],
            };
            assert!(ok, "{d:?}: {p:?} -> {q:?}");
        }
    }
}

#[test]
fn update_search_finds_ids_and_metadata() {
    let mut s = session_state((120, 40));
    update(&mut s, Action::StartSearch);
    for c in "cd34+".chars() {
        update(&mut s, Action::InputChar(c));
    }
    update(&mut s, Action::InputSubmit);
    assert_eq!(s.mode, Mode::Normal);
    let t = s.tab().unwrap();
    let m = t.search.as_ref().unwrap();
    assert_eq!(m.matches.len(), 13, "13 CD34+ cells in bulk_labels");
    assert!(
        s.message
            .as_ref()
            .unwrap()
            .text
            .contains("13 matches in bulk_labels 13"),
        "the message says where: {:?}",
        s.message
    );
    assert_eq!(t.map.cursor, Some(m.matches[0]));
    update(&mut s, Action::SearchNext);
    let t = s.tab().unwrap();
    assert_eq!(t.map.cursor, Some(t.search.as_ref().unwrap().matches[1]));
    update(&mut s, Action::SearchPrev);
    update(&mut s, Action::SearchPrev);
    let t = s.tab().unwrap();
    assert_eq!(
        t.map.cursor,
        Some(*t.search.as_ref().unwrap().matches.last().unwrap())
    );
    // A gene that is also in labels (CD4; "CD4+/CD25 T Reg"): coloured by the gene, and the
    // message says how to colour by the column instead.
    update(&mut s, Action::StartSearch);
    for c in "CD4".chars() {
        update(&mut s, Action::InputChar(c));
    }
    update(&mut s, Action::InputSubmit);
    let text = s.message.as_ref().unwrap().text.clone();
    assert!(
        text.contains("also gene CD4") && text.contains(":color bulk_labels"),
        "{text}"
    );
    assert!(matches!(&s.tab().unwrap().color, ColorBy::Genes(l, _) if l == "gene CD4"));
}

#[test]
fn e_and_m_act_on_the_cluster_under_the_cursor() {
    let mut s = session_state((120, 40));
    let t = s.tab().unwrap();
    let clusters = t.result.clusters.clone().unwrap();
    let ds = t.dataset.clone().unwrap();
    // An item of cluster 2, found by searching its id while the clusters pane shows row 0.
    let i = clusters.iter().position(|&c| c == 2).unwrap();
    assert_eq!(t.clusters.selected(), Some(0));
    update(&mut s, Action::StartSearch);
    for c in ds.ids[i].chars() {
        update(&mut s, Action::InputChar(c));
    }
    update(&mut s, Action::InputSubmit);
    assert_eq!(s.tab().unwrap().map.cursor, Some(i));
    let fx = update(&mut s, Action::ExportCluster);
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::Export {
                kind: ExportKind::ClusterIds(2),
                ..
            }]
        ),
        "{fx:?}"
    );
    update(&mut s, Action::ShowMarkers);
    assert!(screen(&s).contains("markers · cluster 2 vs rest"));
}

#[test]
fn m_and_e_follow_the_cursor_after_opening_comparing_and_moving_the_clusters_pane() {
    let mut s = session_state((120, 40));
    let clusters = s.tab().unwrap().result.clusters.clone().unwrap();
    let i = clusters.iter().position(|&c| c == 2).unwrap();
    // As a session opens: the cursor on an item of cluster 2, the clusters pane on row 0.
    s.tabs[0].map.cursor = Some(i);
    assert_eq!(s.tab().unwrap().clusters.selected(), Some(0));
    update(&mut s, Action::ShowMarkers);
    assert!(
        screen(&s).contains("markers · cluster 2 vs rest"),
        "{}",
        screen(&s)
    );
    // The clusters pane moved by hand, then back to the map: the cursor's cluster wins.
    s.focus = Focus::Clusters;
    update(&mut s, Action::Move(Dir::Down));
    let row = s.tab().unwrap().clusters.selected();
    assert_ne!(row, Some(2));
    let fx = update(&mut s, Action::ExportCluster);
    assert!(
        matches!(fx.as_slice(), [Effect::Export { kind: ExportKind::ClusterIds(c), .. }] if Some(*c) == row),
        "the focused clusters pane acts on its row: {fx:?}"
    );
    s.focus = Focus::Map;
    let fx = update(&mut s, Action::ExportCluster);
    assert!(
        matches!(
            fx.as_slice(),
            [Effect::Export {
                kind: ExportKind::ClusterIds(2),
                ..
            }]
        ),
        "{fx:?}"
    );
}

fn command(s: &mut State, line: &str) -> Vec<Effect> {
    update(s, Action::StartCommand);
    for c in line.chars() {
        update(s, Action::InputChar(c));
    }
    update(s, Action::InputSubmit)
}

#[test]
fn update_commands_produce_effects_or_clear_errors() {
    let mut s = session_state((120, 40));
    let fx = command(&mut s, "recluster kmeans 5");
    assert!(
        matches!(fx.as_slice(), [Effect::Recluster { tab: 0, .. }]),
        "{fx:?}"
    );
    let fx = command(&mut s, "recluster leiden -2");
    assert!(fx.is_empty());
    assert!(s.message.as_ref().unwrap().error);
    let fx = command(&mut s, "export anomalies /tmp/x.csv");
    assert_eq!(
        fx,
        vec![Effect::Export {
            tab: 0,
            kind: ExportKind::Anomalies,
            path: "/tmp/x.csv".into()
        }]
    );
    let fx = command(&mut s, "color bulk_labels");
    assert!(fx.is_empty());
    assert_eq!(s.tab().unwrap().color, ColorBy::Meta("bulk_labels".into()));
    command(&mut s, "color nope");
    assert!(
        s.message
            .as_ref()
            .unwrap()
            .text
            .contains("no column 'nope'")
    );
    command(&mut s, "frobnicate");
    assert!(
        s.message
            .as_ref()
            .unwrap()
            .text
            .starts_with("unknown command")
    );
    // Up and Down walk through the earlier commands.
    update(&mut s, Action::StartCommand);
    update(&mut s, Action::InputHistory(-1));
    assert_eq!(s.mode, Mode::Command("frobnicate".into()));
    update(&mut s, Action::InputHistory(-1));
    assert_eq!(s.mode, Mode::Command("color nope".into()));
    update(&mut s, Action::InputHistory(1));
    update(&mut s, Action::InputHistory(1));
    assert_eq!(s.mode, Mode::Command(String::new()));
    update(&mut s, Action::Escape);
    // Overlapping groups are refused, not compared into nonsense.
    for line in ["compare 1 1", "compare 1,2 2", "compare 0 0,1"] {
        let fx = command(&mut s, line);
        let m = s.message.as_ref().unwrap();
        assert!(
            fx.is_empty() && m.error && m.text.contains("overlap"),
            "{line}: {}",
            m.text
        );
    }
    // `~` is the home folder, as in the shell.
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let fx = command(&mut s, "export clusters ~/c.csv");
        assert_eq!(
            fx,
            vec![Effect::Export {
                tab: 0,
                kind: ExportKind::Clusters,
                path: std::path::PathBuf::from(home).join("c.csv")
            }]
        );
    }
    let fx = command(&mut s, "q");
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(s.quit);
}

#[test]
fn update_ignores_results_of_replaced_jobs() {
    let mut s = State::new(
        vec![Tab::new("x".into(), TabSource::Input { path: "x".into() })],
        PipelineParams::default(),
        (80, 24),
    );
    job_started(&mut s, JobId(1), "pipeline", 0, JobKind::Pipeline);
    job_started(&mut s, JobId(2), "pipeline", 0, JobKind::Pipeline);
    let stale = JobMsg::Output {
        id: JobId(1),
        output: biolens::pipeline::jobs::JobOutput::Pipeline(
            biolens::pipeline::PipelineEvent::Layout(std::sync::Arc::new(vec![[0.0, 0.0]; 3])),
        ),
    };
    update(&mut s, Action::Job(stale));
    assert!(
        s.tab().unwrap().result.layout.is_none(),
        "a replaced job's result is dropped"
    );
    update(
        &mut s,
        Action::Job(JobMsg::Finished {
            id: JobId(2),
            outcome: JobOutcome::Failed("boom".into()),
        }),
    );
    assert_eq!(s.tab().unwrap().error.as_deref(), Some("boom"));
    assert!(s.message.as_ref().unwrap().error);
}

#[test]
fn x_cancels_the_focused_tabs_job_and_never_another_tabs() {
    let mut s = State::new(
        vec![
            Tab::new("cells".into(), TabSource::Input { path: "c".into() }),
            Tab::new("images".into(), TabSource::Input { path: "i".into() }),
        ],
        PipelineParams::default(),
        (80, 24),
    );
    // Tab 0 trains the count model; tab 1's autoencoder started later.
    job_started(&mut s, JobId(1), "pipeline", 0, JobKind::Pipeline);
    job_started(&mut s, JobId(2), "pipeline", 1, JobKind::Pipeline);
    s.active = 0;
    let fx = update(&mut s, Action::CancelJob);
    assert!(
        matches!(fx.as_slice(), [Effect::Cancel(JobId(1))]),
        "{fx:?}"
    );
    update(
        &mut s,
        Action::Job(JobMsg::Finished {
            id: JobId(1),
            outcome: JobOutcome::Cancelled,
        }),
    );
    let fx = update(&mut s, Action::CancelJob);
    assert!(fx.is_empty(), "tab 1's job is left alone: {fx:?}");
    let msg = &s.message.as_ref().unwrap().text;
    assert!(msg.contains("1 in other tabs"), "{msg}");
}

#[test]
fn a_session_opens_at_once_and_reads_its_data_as_a_job() {
    let path = pbmc_session();
    let manifest = biolens::session::read_manifest(&path).unwrap();
    let tab = Tab::new(
        manifest.datasets[0].name.clone(),
        TabSource::Session {
            path: path.clone(),
            index: 0,
        },
    );
    let mut app = App::new(vec![tab], PipelineParams::default(), (100, 30));
    // The first frame draws before anything is read.
    assert!(screen(&app.state).contains("pbmc68k_reduced"));
    app.start();
    assert!(app.wait_for_jobs(Duration::from_secs(60)), "session read");
    let t = app.state.tab().unwrap();
    let (_, items) = biolens::session::read_for_view(&path).unwrap();
    assert_eq!(t.result.layout.as_deref(), Some(&*items[0].analysis.layout));
    assert_eq!(
        t.result.clusters.as_deref(),
        Some(&*items[0].analysis.clusters)
    );
    assert!(
        t.result
            .findings
            .as_ref()
            .and_then(|f| f.markers())
            .is_some()
            && t.dataset.is_some()
    );
    assert!(screen(&app.state).contains("reading session"));
}

#[test]
fn screen_snapshot_80x24() {
    let s = session_state((80, 24));
    insta::assert_snapshot!("screen_80x24", screen(&s));
}

#[test]
fn narrow_panes_drop_columns_but_never_cut_a_number() {
    for size in [(80, 24), (100, 30), (160, 50)] {
        let mut s = session_state(size);
        update(&mut s, Action::ShowMarkers);
        let text = screen(&s);
        let t = s.tab().unwrap();
        let table = &t
            .result
            .findings
            .as_ref()
            .and_then(|f| f.markers())
            .unwrap()
            .tables[0];
        // Every marker row on screen shows its adjusted p-value whole, or not at all.
        let mut whole = 0;
        for m in &table.markers[..3] {
            let padj = format!("{:.1e}", m.padj);
            if text.contains(&padj) {
                whole += 1;
            } else {
                let cut = &padj[..padj.len() - 1];
                assert!(
                    !text.contains(&format!("{cut} ")),
                    "{size:?}: {padj} cut:\n{text}"
                );
            }
        }
        // And every cluster's share is whole.
        for c in &t.clusters.rows {
            let share = format!("{:.1}%", c.share * 100.0);
            assert!(
                text.contains(&share) || c.id > 3,
                "{size:?}: {share} missing:\n{text}"
            );
        }
        println!("{size:?}: {whole} of 3 adjusted p-values shown whole");
        assert!(whole > 0, "{size:?}:\n{text}");
    }
}

#[test]
fn help_scrolls_and_long_messages_wrap_at_80x24() {
    let mut s = session_state((80, 24));
    update(&mut s, Action::ToggleHelp);
    let first = screen(&s);
    assert!(first.contains("scroll"), "{first}");
    // Every binding's description can be reached by scrolling.
    let mut seen = first.clone();
    for _ in 0..80 {
        update(&mut s, Action::Move(Dir::Down));
        seen.push_str(&screen(&s));
    }
    for b in biolens::tui::keymap::bindings() {
        assert!(seen.contains(b.desc), "help never shows '{}'", b.desc);
    }
    assert!(seen.contains("Mouse: click picks"));
    update(&mut s, Action::ToggleHelp);
    // A long message keeps its end.
    let text = format!("{} the useful end", "x".repeat(150));
    update(
        &mut s,
        Action::Notify {
            text: text.clone(),
            error: true,
        },
    );
    let sc = screen(&s);
    assert!(sc.contains("useful end"), "{sc}");
}

#[test]
fn screen_snapshot_120x40_with_help() {
    let mut s = session_state((120, 40));
    insta::assert_snapshot!("screen_120x40", screen(&s));
    update(&mut s, Action::ToggleHelp);
    let help = screen(&s);
    for b in biolens::tui::keymap::bindings() {
        assert!(help.contains(b.desc), "help lacks '{}'", b.desc);
    }
    insta::assert_snapshot!("help_120x40", help);
}

/// The demo's data as a tab computed live by the real job runner, as `biolens` does.
fn demo_app() -> App {
    input_app(pbmc())
}

/// One input as a tab computed live by the real job runner, 120 × 40, two threads.
fn input_app(path: std::path::PathBuf) -> App {
    let tab = Tab::new("input".into(), TabSource::Input { path });
    App::new(
        vec![tab],
        PipelineParams {
            threads: 2,
            ..Default::default()
        },
        (120, 40),
    )
}

#[test]
fn scenario_demo_move_help_search_recluster_export_quit() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = demo_app();
    app.start();
    assert_eq!(app.state.running_jobs().count(), 1);
    assert!(
        app.wait_for_jobs(Duration::from_secs(300)),
        "pipeline did not finish"
    );
    let t = app.state.tab().unwrap();
    assert_eq!(t.title, "pbmc68k_reduced");
    assert_eq!(t.n(), 700);
    assert!(
        t.result.layout.is_some() && t.result.clusters.is_some() && t.result.anomaly_knn.is_some()
    );
    assert!(screen(&app.state).contains("✓ done"));

    let start = app.state.tab().unwrap().map.cursor;
    app.press("lll");
    assert_ne!(app.state.tab().unwrap().map.cursor, start, "cursor moved");
    app.press("?");
    assert_eq!(app.state.mode, Mode::Help);
    assert!(screen(&app.state).contains("Esc or ? closes"));
    app.press("<Esc>");
    assert_eq!(app.state.mode, Mode::Normal);

    app.press("/CD19+<Enter>");
    let n = app
        .state
        .tab()
        .unwrap()
        .search
        .as_ref()
        .unwrap()
        .matches
        .len();
    assert_eq!(n, 95);
    app.press("n");
    assert!(screen(&app.state).contains("match 2 of 95"));

    app.press(":recluster kmeans 4<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)));
    let k = app
        .state
        .tab()
        .unwrap()
        .result
        .clusters
        .as_ref()
        .unwrap()
        .iter()
        .max()
        .copied();
    assert_eq!(k, Some(3), "4 k-means clusters");
    assert!(screen(&app.state).contains("kmeans 4"));

    app.press(":recluster leiden 0.5<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)));
    assert!(screen(&app.state).contains("leiden 0.5"));
    // The new clusters against the previous ones: the crosstab view, numbered by overlap.
    let msg = app.state.message.clone().unwrap();
    assert!(
        msg.text.contains("ARI") && msg.text.contains("numbered by overlap"),
        "{}",
        msg.text
    );
    let t = app.state.tab().unwrap();
    let x = t.crosstab.as_ref().expect("new × previous crosstab");
    assert_eq!((x.column.as_str(), x.total()), ("previous cluster", 700));
    assert_eq!(
        t.bottom.view,
        biolens::tui::panes::bottom::BottomView::Crosstab
    );
    // Each new cluster's number is the previous cluster it overlaps most, where free.
    let best: Vec<usize> = x
        .counts
        .iter()
        .map(|row| {
            (0..row.len())
                .max_by_key(|&j| (row[j], std::cmp::Reverse(j)))
                .unwrap()
        })
        .collect();
    let kept = best.iter().enumerate().filter(|(i, b)| i == *b).count();
    println!(
        "recluster: {kept} of {} clusters kept their number",
        best.len()
    );
    // Measured on the demo (seeded, deterministic): 3 of the 6 new clusters carry the number
    // of the previous cluster most of their items came from; without the renumbering Leiden
    // numbers by size and k-means by its own order.
    assert!(kept >= 3, "{best:?}");
    // The clustering kept as a column outlives the next recluster.
    app.press(":save-clusters leiden05<Enter>");
    let msg = app.state.message.clone().unwrap();
    assert!(!msg.error, "{}", msg.text);
    app.press(":save-clusters leiden05<Enter>");
    assert!(
        app.state.message.as_ref().unwrap().error,
        "a taken name is refused"
    );
    app.press(":crosstab leiden05<Enter>");
    let msg = app.state.message.clone().unwrap();
    assert!(!msg.error, "{}", msg.text);
    assert_eq!(
        app.state.tab().unwrap().crosstab.as_ref().unwrap().total(),
        700
    );

    let out = dir.path().join("anom.csv");
    app.press(&format!(":export anomalies {}<Enter>", out.display()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 701);
    assert!(
        text.starts_with(
            "rank,id,anomaly_knn,anomaly_iforest,anomaly_knn_depth,total_counts,n_genes,cluster\n"
        ),
        "{}",
        text.lines().next().unwrap_or_default()
    );

    // The crosstab took the focus; back to the map.
    for _ in 0..4 {
        if app.state.focus != Focus::Map {
            app.press("<S-Tab>");
        }
    }
    // Export the selected cluster's ids with `e` (written to the working directory).
    app.press("<Tab>j");
    let sel = app.state.tab().unwrap().clusters.sel;
    assert_eq!(sel, 1);
    let cwd = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    app.press("e");
    std::env::set_current_dir(cwd).unwrap();
    let msg = app.state.message.clone().unwrap();
    assert!(!msg.error, "{}", msg.text);
    assert!(
        dir.path()
            .join("pbmc68k_reduced_cluster_1_ids.txt")
            .exists()
    );

    // Enter on a cluster moves the cursor into it and focuses the map.
    app.press("<Enter>");
    assert_eq!(app.state.focus, Focus::Map);
    let t = app.state.tab().unwrap();
    assert_eq!(
        t.result.clusters.as_ref().unwrap()[t.map.cursor.unwrap()],
        1
    );

    app.press("q");
    assert!(app.state.quit);
}

#[test]
fn kmeans_on_a_reopened_session_loads_the_embedding_on_demand() {
    let tabs = session_tabs();
    assert_eq!(
        tabs[0].embedding.as_ref().unwrap().matrix.cols,
        0,
        "open does not read the vectors"
    );
    let mut app = App::new(tabs, PipelineParams::default(), (120, 40));
    app.press(":recluster kmeans 3<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)));
    let msg = app.state.message.clone().unwrap();
    assert!(!msg.error, "{}", msg.text);
    assert_eq!(
        app.state
            .tab()
            .unwrap()
            .result
            .clusters
            .as_ref()
            .unwrap()
            .iter()
            .max()
            .copied(),
        Some(2)
    );
}

#[test]
fn cancelling_a_running_pipeline() {
    let tab = Tab::new("demo".into(), TabSource::Input { path: pbmc() });
    let mut app = App::new(vec![tab], PipelineParams::default(), (80, 24));
    app.start();
    app.press("x");
    assert!(app.wait_for_jobs(Duration::from_secs(120)));
    // Either it finished before the cancel landed, or it reports cancelled; never failed.
    let j = &app.state.jobs[0];
    assert!(
        matches!(
            j.state,
            biolens::tui::panes::jobs::JobState::Cancelled
                | biolens::tui::panes::jobs::JobState::Done
        ),
        "{:?}",
        j.state
    );
}

#[test]
fn cells_tab_trains_the_vae_after_the_pca_map_then_markers_genes_and_compare() {
    let mut app = demo_app();
    app.state.options.inputs.cells.model = biolens::modality::cells::ModelChoice::Auto;
    app.state.options.inputs.cells.params.scvi.max_epochs = Some(3);
    app.start();
    assert!(
        app.wait_for_jobs(Duration::from_secs(300)),
        "jobs did not finish"
    );
    let t = app.state.tab().unwrap();
    let emb = t.embedding.as_ref().unwrap();
    assert!(emb.model.is_some(), "the VAE replaced the PCA embedding");
    assert_eq!(emb.matrix.cols, 10);
    assert!(
        t.result.anomaly_model.is_some()
            && t.result
                .findings
                .as_ref()
                .and_then(|f| f.markers())
                .is_some()
    );
    assert!(t.color_choices().contains(&ColorBy::AnomalyModel));
    let sc = screen(&app.state);
    let recon = sc
        .find("reconstruction NLL")
        .expect("detail shows the reconstruction NLL");
    let depth = sc.find("total_counts").expect("and the library size");
    assert!(recon < depth, "{sc}");

    // `m` shows the markers of the cluster under the cursor.
    let t = app.state.tab().unwrap();
    let under = t.result.clusters.as_ref().unwrap()[t.map.cursor.unwrap()];
    app.press("m");
    let sc = screen(&app.state);
    assert!(
        sc.contains(&format!("markers · cluster {under} vs rest")),
        "{sc}"
    );

    app.press(":color gene cd3<Tab>");
    // Six genes start with CD3 (CD3E, CD3D, CD3G, CD300A, CD37, CD33): completion keeps the
    // common prefix and lists them.
    let listed = app
        .state
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    for g in ["CD3E", "CD3D", "CD3G", "CD300A", "CD37", "CD33"] {
        assert!(listed.split(' ').any(|w| w == g), "{g} not in '{listed}'");
    }
    assert_eq!(app.state.mode, Mode::Command("color gene cd3".into()));
    app.press("E<Enter>");
    let t = app.state.tab().unwrap();
    assert_eq!(t.color.name(), "gene CD3E");
    app.press(":color gene NOSUCHGENE<Enter>");
    assert!(screen(&app.state).contains("no gene 'NOSUCHGENE'"));

    app.press(":compare 0 rest<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(60)));
    let t = app.state.tab().unwrap();
    let cmp = t.comparison.as_ref().expect("comparison shown");
    assert_eq!(cmp.label, "0 vs rest");
    assert_eq!(cmp.n_a + cmp.n_b, 700);
    let c = cmp
        .findings
        .as_ref()
        .and_then(|f| f.compared_markers())
        .expect("markers for cells");
    assert_eq!(c.group, "0 vs rest");
    assert_eq!(c.n_in + c.n_out, 700);
    // Against the rest it is the same test as the cluster's own markers.
    let own = t
        .result
        .findings
        .as_ref()
        .and_then(|f| f.markers())
        .unwrap()
        .tables[0]
        .markers[0]
        .gene;
    assert_eq!(c.markers[0].gene, own);
    assert!(screen(&app.state).contains("markers · 0 vs rest"));
    // Enter on a marker row colours the map by that gene (it used to jump to an anomaly).
    let second = {
        let e = t.dataset.as_ref().unwrap().expression().unwrap();
        e.genes[c.markers[1].gene].clone()
    };
    app.state.focus = Focus::Bottom;
    app.press("j<Enter>");
    assert_eq!(
        app.state.tab().unwrap().color.name(),
        format!("gene {second}")
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp.csv");
    app.press(&format!(":export compare {}<Enter>", out.display()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 766, "header + one row per gene");
    assert!(
        text.starts_with("dataset,group,rank,gene,score,logfc,pvalue,padj,pct_in,pct_out,values\n")
    );
    assert!(text.lines().nth(1).unwrap().contains(",0 vs rest,1,"));
    // `:export markers` is every cluster's markers, whatever the screen shows.
    let all = dir.path().join("all.csv");
    app.press(&format!(":export markers {}<Enter>", all.display()));
    let text = std::fs::read_to_string(&all).unwrap();
    let k = t_clusters(&app);
    assert_eq!(
        text.lines().count(),
        1 + 765 * k,
        "header + every gene of {k} clusters"
    );
}

fn t_clusters(app: &App) -> usize {
    let t = app.state.tab().unwrap();
    t.result
        .findings
        .as_ref()
        .and_then(|f| f.markers())
        .unwrap()
        .tables
        .len()
}

#[test]
fn loader_notes_reach_the_message_line() {
    let mut s = session_state((120, 40));
    job_started(&mut s, JobId(9), "pipeline", 0, JobKind::Pipeline);
    let mut ds = (**s.tabs[0].dataset.as_ref().unwrap()).clone();
    ds.notes = vec!["x: dropped 3 of 10 cells with zero counts (QC filter)".into()];
    update(
        &mut s,
        Action::Job(JobMsg::Output {
            id: JobId(9),
            output: biolens::pipeline::jobs::JobOutput::Pipeline(
                biolens::pipeline::PipelineEvent::Loaded(std::sync::Arc::new(ds)),
            ),
        }),
    );
    let m = s.message.expect("a message");
    assert!(
        !m.error && m.text.contains("dropped 3 of 10 cells"),
        "{}",
        m.text
    );
}

#[test]
fn command_completion_extends_to_the_common_prefix_and_lists_the_choices() {
    let mut s = session_state((120, 40));
    let mut complete = |typed: &str| -> (String, Option<String>) {
        s.message = None;
        update(&mut s, Action::StartCommand);
        for ch in typed.chars() {
            update(&mut s, Action::InputChar(ch));
        }
        update(&mut s, Action::InputComplete);
        let Mode::Command(q) = std::mem::replace(&mut s.mode, Mode::Normal) else {
            panic!("left command mode")
        };
        (q, s.message.as_ref().map(|m| m.text.clone()))
    };
    assert_eq!(complete("col").0, "color ");
    let (q, listing) = complete("rec");
    assert_eq!(q, "recluster ");
    assert_eq!(
        listing.as_deref(),
        Some("recluster leiden  recluster kmeans ")
    );
    assert_eq!(complete("color bulk").0, "color bulk_labels");
    assert_eq!(complete("color gen").0, "color gene");
    assert_eq!(complete("color genes CD8A,cd3").0, "color genes CD8A,cd3");
    assert_eq!(complete("color genes CD8A,cd3e").0, "color genes CD8A,CD3E");
    assert_eq!(complete("xyz").0, "xyz");
    // The candidates are on screen while the line is still being typed.
    update(&mut s, Action::StartCommand);
    for ch in "rec".chars() {
        update(&mut s, Action::InputChar(ch));
    }
    update(&mut s, Action::InputComplete);
    let sc = screen(&s);
    assert!(
        sc.contains("recluster leiden  recluster kmeans") && sc.contains(":recluster "),
        "{sc}"
    );
    update(&mut s, Action::Escape);
}

#[test]
fn dna_tab_shows_motifs_with_jaspar_matches_sequence_hits_and_exports_meme() {
    let dir = tempfile::tempdir().unwrap();
    let assets = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/dna");
    let mut app = input_app(assets.join("fly_promoters_3k.fa.gz"));
    app.state.options.inputs.dna.motifs =
        Some(assets.join("JASPAR2024_CORE_insects_nonredundant.meme"));
    app.start();
    // Motif discovery on 2,873 promoters takes ~280 s of a debug build on two cores alone,
    // longer beside the other tests: the deadline only stops a hang.
    assert!(app.wait_for_jobs(Duration::from_secs(900)), "pipeline");
    let t = app.state.tab().unwrap();
    assert_eq!(t.n(), 2873);
    let m = t
        .result
        .findings
        .as_ref()
        .and_then(|f| f.motifs())
        .cloned()
        .expect("motifs");
    assert!(
        m.motifs
            .iter()
            .any(|f| f.matches.first().is_some_and(|b| b.evalue < 0.05))
    );
    let sc = screen(&app.state);
    assert!(
        sc.contains("top motif") && sc.contains("sequence 500 bp"),
        "{sc}"
    );

    // Put the cursor on a cluster with motifs (not every cluster has one).
    let with_motif = m.motifs[0].cluster.expect("per-cluster motifs");
    let item = {
        let t = app.state.tab().unwrap();
        let cl = t.result.clusters.as_ref().unwrap();
        cl.iter().position(|&c| c == with_motif).unwrap()
    };
    {
        let t = app.state.tab_mut().unwrap();
        t.map.cursor = Some(item);
        t.clusters.sel = t
            .clusters
            .rows
            .iter()
            .position(|r| r.id == with_motif)
            .unwrap();
    }
    app.state.refresh();
    app.press("m");
    let sc = screen(&app.state);
    // `m` shows the motifs of the cluster under the cursor.
    let t = app.state.tab().unwrap();
    let c = t.result.clusters.as_ref().unwrap()[t.map.cursor.unwrap()];
    assert!(
        sc.contains(&format!("motifs · cluster {c}")) && sc.contains("best match"),
        "{sc}"
    );
    // The first motif's best match is on screen with its JASPAR id.
    let first =
        biolens::tui::views::dna::cluster_motifs(&app.state.tab().unwrap().view(None))[0].clone();
    let id = &m.database[first.matches[0].target].id;
    assert!(sc.contains(id.as_str()), "{id} not in\n{sc}");
    // The motif table's numbers are whole and its cut texts end in an ellipsis, at every
    // size (the logo rows above the table say their numbers in segments, tested in theme).
    for size in [(80u16, 24u16), (120, 40), (200, 60)] {
        update(&mut app.state, Action::Resize(size.0, size.1));
        app.state.message = None;
        let sc = screen(&app.state);
        let r = app.state.areas().bottom;
        let header = sc
            .lines()
            .skip(r.y as usize + 1)
            .take(r.height as usize)
            .position(|l| l.contains("consensus"))
            .unwrap_or_else(|| panic!("no motif table at {size:?}:\n{sc}"));
        let v = app.state.tab().unwrap().view(None);
        let mut cells = biolens::tui::views::findings_headers(&v);
        for j in 0..cells.len() {
            cells.extend(biolens::tui::views::findings_column(&v, j));
        }
        assert_whole_or_cut(
            &pane_words(&sc, r, header),
            &cells,
            &format!("motifs at {size:?}\n{sc}"),
        );
    }
    // On a taller terminal the best match's own logo sits under the motif's, named.
    update(&mut app.state, Action::Resize(200, 60));
    let tall = screen(&app.state);
    assert!(
        tall.contains("reverse complement") || tall.contains("as stored"),
        "no matched logo at 200×60:\n{tall}"
    );
    update(&mut app.state, Action::Resize(120, 40));

    // Go to an item of cluster 0 with a site: its detail highlights the site.
    let item = first.sites[0].item as usize;
    app.state.tab_mut().unwrap().map.cursor = Some(item);
    app.press("]");
    app.state.refresh();
    assert!(!app.state.tab().unwrap().detail.seq_hits.is_empty());
    assert_eq!(app.state.tab().unwrap().detail.seq_scroll, (4, item));

    let out = dir.path().join("m.meme");
    app.press(&format!(":export motifs meme {}<Enter>", out.display()));
    let back = biolens::modality::dna::motif_db::read_motifs(&out).unwrap();
    assert_eq!(back.len(), m.motifs.len());

    // The whole input's motifs (searched in a sample of 300 to keep the test short) land
    // beside the per-cluster ones, which come back without a new search.
    app.state.params.motifs.max_foreground = 300;
    app.press(":motifs all<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(600)), "motifs all");
    let shown = |app: &App| {
        app.state
            .tab()
            .unwrap()
            .result
            .findings
            .as_ref()
            .and_then(|f| f.motifs())
            .cloned()
            .unwrap()
    };
    let all = shown(&app);
    assert_eq!(all.groups, Groups::All);
    assert!(all.motifs.iter().all(|f| f.cluster.is_none()));
    assert_eq!(all.kept.as_ref().unwrap().motifs.len(), m.motifs.len());
    app.press("m");
    let sc = screen(&app.state);
    assert!(sc.contains("motifs · whole input"), "{sc}");
    let csv = dir.path().join("motifs.csv");
    app.press(&format!(":export motifs {}<Enter>", csv.display()));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), all.motifs.len() + m.motifs.len());
    // The whole input's rows have no cluster, not cluster 0.
    let whole: Vec<&&str> = rows.iter().filter(|r| r.contains(",all,")).collect();
    assert_eq!(whole.len(), all.motifs.len());
    assert!(
        whole.iter().all(|r| r.split(',').nth(1) == Some("")),
        "{whole:?}"
    );

    let jobs_before = app.state.jobs.len();
    app.press(":motifs clusters<Enter>");
    assert_eq!(app.state.jobs.len(), jobs_before, "no new search");
    let back = shown(&app);
    assert_eq!(back.groups, Groups::Clusters);
    assert_eq!(back.motifs.len(), m.motifs.len());
    assert!(
        app.state
            .message
            .as_ref()
            .unwrap()
            .text
            .contains("no new search"),
        "{:?}",
        app.state.message
    );

    // `:scan` a database motif: each sequence's best site becomes a column that colours the
    // map, ranks the bottom pane and enters predicates; the same numbers as the library scan.
    app.press(":scan pnr<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(300)), "scan");
    let t = app.state.tab().unwrap();
    assert_eq!(
        t.color,
        ColorBy::Meta("scan_pnr".into()),
        "{:?}",
        app.state.message
    );
    let ds = t.dataset.clone().unwrap();
    let Some(biolens::core::MetaValues::Number(strength)) =
        ds.meta_column("scan_pnr").map(|c| c.values.clone())
    else {
        panic!("no scan_pnr column");
    };
    assert!(ds.meta_column("scan_pnr_at").is_some());
    let seqs = &ds.sequences().unwrap().seqs;
    let pnr = biolens::modality::dna::scan::find_motif(&m.database, "pnr")
        .unwrap()
        .clone();
    let lib = biolens::modality::dna::scan::scan(seqs, &pnr, 1e-4);
    for i in [0, 7, seqs.len() - 1] {
        assert!((strength[i] + lib.seq_pvalue[i].log10()).abs() < 1e-9);
    }
    let top = t.bottom.selected_anomaly().unwrap();
    let best = strength.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        strength[top], best,
        "the pane ranks by the scan, best first"
    );
    let sc = screen(&app.state);
    assert!(sc.contains("ranked by scan_pnr"), "{sc}");
    app.press(":select bound where scan_pnr > 5<Enter>");
    let n = strength.iter().filter(|&&x| x > 5.0).count();
    assert_eq!(
        app.state
            .tab()
            .unwrap()
            .selections
            .of("bound")
            .map(|m| m.len()),
        Some(n)
    );
    // A discovered motif scans too; an unknown name says what is near.
    let id = m.motifs[0].motif.id.clone();
    app.press(&format!(":scan {id}<Enter>"));
    assert!(
        app.wait_for_jobs(Duration::from_secs(300)),
        "scan discovered"
    );
    let col = format!("scan_{}", id.replace('-', "_"));
    assert_eq!(app.state.tab().unwrap().color, ColorBy::Meta(col));
    app.press(":scan nosuchmotif<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(60)), "scan unknown");
    let msg = app.state.message.clone().unwrap();
    assert!(msg.error && msg.text.contains("nosuchmotif"), "{msg:?}");
    assert!(
        app.state.tab().unwrap().error.is_none(),
        "the tab is untouched"
    );
}

#[test]
fn images_tab_previews_the_tile_under_the_cursor_and_the_cluster_medoids() {
    let assets = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/images");
    let mut app = input_app(assets);
    app.start();
    assert!(app.wait_for_jobs(Duration::from_secs(300)), "pipeline");
    let t = app.state.tab().unwrap();
    let ds = t.dataset.as_ref().unwrap();
    assert_eq!(ds.tiles().unwrap().sources.len(), 2);
    assert_eq!(t.detail.preview.as_ref().map(|p| p.item), t.map.cursor);
    let strip = t.clusters.strip.as_ref().expect("medoid strip");
    assert!(!strip.protocols.is_empty());
    // The medoids belong to the selected cluster.
    let c = t.clusters.rows[t.clusters.sel].id;
    let clusters = t.result.clusters.as_ref().unwrap();
    assert!(strip.items.iter().all(|&i| clusters[i] == c));
    let sc = screen(&app.state);
    assert!(sc.contains("medoid tiles") && sc.contains('▀'), "{sc}");
    // Moving the cursor re-encodes the preview for the new tile.
    app.press("lll");
    let t = app.state.tab().unwrap();
    assert_eq!(t.detail.preview.as_ref().map(|p| p.item), t.map.cursor);
}

/// An app on a copy of the pbmc session in `dir` (so the test may write into it), read.
fn session_app(dir: &std::path::Path) -> (App, std::path::PathBuf) {
    let path = dir.join("pbmc.biolens");
    copy_dir(&pbmc_session(), &path);
    let tab = Tab::new(
        "pbmc".into(),
        TabSource::Session {
            path: path.clone(),
            index: 0,
        },
    );
    let mut app = App::new(vec![tab], PipelineParams::default(), (120, 40));
    app.start();
    assert!(app.wait_for_jobs(Duration::from_secs(60)), "session read");
    (app, path)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn selections_from_predicates_and_boxes_compare_crosstab_export_and_save() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, path) = session_app(dir.path());

    app.press(":select hi where n_genes_all > 1200 AND bulk_labels != 'Dendritic'<Enter>");
    let t = app.state.tab().unwrap();
    let ds = t.dataset.clone().unwrap();
    let (genes, labels) = match (
        &ds.meta_column("n_genes_all").unwrap().values,
        &ds.meta_column("bulk_labels").unwrap().values,
    ) {
        (biolens::core::MetaValues::Number(g), biolens::core::MetaValues::Text(l)) => {
            (g.clone(), l.clone())
        }
        _ => panic!("unexpected column kinds"),
    };
    let want = (0..ds.len())
        .filter(|&i| genes[i] > 1200.0 && labels[i] != "Dendritic")
        .count();
    let hi = t.selections.of("hi").expect("hi evaluated").len();
    assert_eq!(hi, want);
    assert_eq!(t.color, ColorBy::Selection("hi".into()));
    let sc = screen(&app.state);
    assert!(sc.contains("selections · 1") && sc.contains("hi"), "{sc}");
    assert!(
        sc.contains(&format!("hi ({want})")),
        "legend names the selection: {sc}"
    );
    // Saved into the session at once.
    let saved = biolens::session::read_selections(&path).unwrap();
    assert_eq!(saved.selections.len(), 1);
    assert_eq!(
        saved.selections[0].dataset.as_deref(),
        Some(ds.name.as_str())
    );

    // A bad predicate is refused with the reason and kept out of the list.
    app.press(":select bad where n_gens > 3<Enter>");
    let m = app.state.message.clone().unwrap();
    assert!(
        m.error && m.text.contains("no column or gene 'n_gens'"),
        "{}",
        m.text
    );
    assert!(app.state.tab().unwrap().selections.index("bad").is_none());

    // A box on the map: v, move, Enter.
    app.state.focus = Focus::Map;
    app.press("v");
    assert!(screen(&app.state).contains("box selection"));
    app.press("llllkkk<Enter>");
    let t = app.state.tab().unwrap();
    let b = t
        .selections
        .defs
        .iter()
        .find(|s| s.name == "box1")
        .expect("box saved");
    let biolens::core::selection::Definition::Box { x0, x1, y0, y1 } = b.def else {
        panic!("not a box: {:?}", b.def)
    };
    let l = t.result.layout.clone().unwrap();
    let inside = l
        .iter()
        .filter(|p| p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1)
        .count();
    assert!(inside >= 2, "the box holds its two corners at least");
    assert_eq!(t.selections.of("box1").unwrap().len(), inside);

    // Set expressions, then compare a selection with the rest.
    app.press(":select lo = not hi<Enter>");
    assert_eq!(
        app.state.tab().unwrap().selections.of("lo").unwrap().len(),
        ds.len() - want
    );
    app.press(":compare hi lo<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(60)));
    let c = app
        .state
        .tab()
        .unwrap()
        .comparison
        .clone()
        .expect("compared");
    assert_eq!(
        (c.label.as_str(), c.n_a, c.n_b),
        ("hi vs lo", want, ds.len() - want)
    );
    assert!(
        c.findings
            .as_ref()
            .and_then(|f| f.compared_markers())
            .is_some()
    );
    let n_genes = c.meta.iter().find(|d| d.column() == "n_genes_all").unwrap();
    assert!(n_genes.p() < 1e-20, "{n_genes:?}");
    app.press(":compare hi box1<Enter>");
    let m = app.state.message.clone().unwrap();
    // The box may or may not overlap hi; either the comparison starts or the overlap is named.
    assert!(
        m.text.contains("overlap") || m.text.contains("comparing"),
        "{}",
        m.text
    );
    assert!(app.wait_for_jobs(Duration::from_secs(60)));

    app.press(":crosstab bulk_labels<Enter>");
    let sc = screen(&app.state);
    assert!(sc.contains("crosstab · cluster × bulk_labels"), "{sc}");
    let x = app.state.tab().unwrap().crosstab.clone().unwrap();
    assert_eq!(x.total() as usize, ds.len());

    let out = dir.path().join("hi.csv");
    app.press(&format!(":export selection hi {}<Enter>", out.display()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), want + 1);
    assert!(text.starts_with("id,x,y,cluster,"), "{}", &text[..80]);
    let ids = dir.path().join("hi.txt");
    app.press(&format!(":export selection hi {}<Enter>", ids.display()));
    assert_eq!(std::fs::read_to_string(&ids).unwrap().lines().count(), want);

    // The tab's results as an AnnData file, selections included, as the CLI writes it.
    let h5 = dir.path().join("tab.h5ad");
    app.press(&format!(":export anndata {}<Enter>", h5.display()));
    let m = app.state.message.clone().unwrap();
    assert!(!m.error, "{}", m.text);
    let back = biolens::modality::cells::h5ad::read_h5ad(&h5).unwrap();
    assert_eq!(back.obs_names, ds.ids);
    let sel = back
        .obs
        .iter()
        .find(|c| c.name == "biolens_sel_hi")
        .unwrap();
    let biolens::core::MetaValues::Number(v) = &sel.values else {
        panic!("biolens_sel_hi is not boolean")
    };
    assert_eq!(v.iter().filter(|&&x| x == 1.0).count(), want);
    assert!(back.obsm.iter().any(|(k, m)| k == "X_umap" && m.cols == 2));

    app.press(":unselect box1<Enter>");
    let saved = biolens::session::read_selections(&path).unwrap();
    let names: Vec<&str> = saved.selections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hi", "lo"]);
}

#[test]
fn the_detail_pane_says_the_coloured_value_under_the_cursor() {
    let mut s = session_state((120, 40));
    let t = s.tab().unwrap();
    let e = t.dataset.as_ref().unwrap().expression().unwrap().clone();
    let i = t.map.cursor.unwrap();
    // A gene the cell under the cursor expresses, so the value is not a zero by default.
    let g = (0..e.n_genes())
        .find(|&g| e.normalised_at(i, g) > 0.0)
        .unwrap();
    let name = e.genes[g].clone();
    command(&mut s, &format!("color gene {name}"));
    let want = format!("colour gene {name} {:.3}", e.normalised_at(i, g));
    let sc = screen(&s);
    assert!(sc.contains(&want), "{want} not in\n{sc}");
    // The map colours by the same value: the gene's normalised column at that cell.
    assert!((e.normalised_gene(g)[i] as f64 - e.normalised_at(i, g)).abs() < 1e-5);
    // A metadata colour names the item's value too.
    command(&mut s, "color bulk_labels");
    let label = s
        .tab()
        .unwrap()
        .dataset
        .as_ref()
        .unwrap()
        .meta
        .iter()
        .find(|m| m.name == "bulk_labels")
        .unwrap()
        .display(i);
    let sc = screen(&s);
    assert!(sc.contains(&format!("colour bulk_labels {label}")), "{sc}");
}

#[test]
fn the_command_line_edits_like_readline_and_suggests_near_names() {
    let mut app = App::new(session_tabs(), PipelineParams::default(), (120, 40));
    let line = |app: &App| match &app.state.mode {
        Mode::Command(q) | Mode::Search(q) => q.clone(),
        _ => String::new(),
    };
    // A missing letter put in the middle: Home, then Right three times.
    app.press(":colr bulk_labels");
    app.press("<Home><Right><Right><Right>o");
    assert_eq!(line(&app), "color bulk_labels");
    // C-w deletes the word before the cursor; typing goes on at the end.
    app.press("<End><C-w>");
    assert_eq!(line(&app), "color ");
    app.press("bulk_labels<Enter>");
    let msg = app.state.message.clone().unwrap();
    assert!(
        !msg.error && msg.text.contains("colour: bulk_labels"),
        "{}",
        msg.text
    );
    // C-u deletes to the start of the line; C-a and C-e move; Backspace mid-line.
    app.press(":abc def<Left><Left><C-u>");
    assert_eq!(line(&app), "ef");
    app.press("<C-a>d<C-e>x<Left><BS>");
    assert_eq!(line(&app), "dex");
    app.press("<Esc>");
    // The same on the search line.
    app.press("/cd14<Home><Right><Right><C-w>");
    assert_eq!(line(&app), "14");
    app.press("<Esc>");
    // A mistyped command, column or gene gets the near name.
    app.press(":recluter leiden 1<Enter>");
    let msg = app.state.message.clone().unwrap();
    assert!(
        msg.error && msg.text.contains("did you mean ':recluster'"),
        "{}",
        msg.text
    );
    app.press(":color bulk_label<Enter>");
    let msg = app.state.message.clone().unwrap();
    assert!(
        msg.error && msg.text.contains("did you mean 'bulk_labels'"),
        "{}",
        msg.text
    );
    // A gene of this data with a letter too many.
    let gene = {
        let t = app.state.tab().unwrap();
        let e = t.dataset.as_ref().unwrap().expression().unwrap();
        e.genes.iter().find(|g| g.len() >= 5).unwrap().clone()
    };
    app.press(&format!(":color gene {gene}x<Enter>"));
    let msg = app.state.message.clone().unwrap();
    assert!(
        msg.error && msg.text.contains(&format!("did you mean {gene}?")),
        "{}",
        msg.text
    );
}

#[test]
fn moving_in_the_anomalies_moves_the_detail_pane_with_it() {
    let mut s = session_state((120, 40));
    update(&mut s, Action::FocusAnomalies);
    update(&mut s, Action::Move(Dir::Down));
    update(&mut s, Action::Move(Dir::Down));
    let t = s.tab().unwrap();
    let second = t.bottom.selected_anomaly().unwrap();
    assert_eq!(t.bottom.anomaly_sel, 2);
    assert_eq!(
        t.map.cursor,
        Some(second),
        "the cursor follows the anomalies' selection"
    );
    let id = t.dataset.as_ref().unwrap().ids[second].clone();
    let sc = screen(&s);
    assert!(
        sc.contains(&format!("id {id}")),
        "detail does not show {id}:\n{sc}"
    );
    assert_eq!(s.focus, Focus::Bottom, "the anomalies keep the focus");
}

#[test]
fn every_table_sorts_by_any_column_and_keeps_its_selection() {
    use biolens::tui::panes::bottom::BottomView;
    let mut s = session_state((120, 40));
    update(&mut s, Action::FocusAnomalies);
    update(&mut s, Action::Move(Dir::Down));
    update(&mut s, Action::Move(Dir::Down));
    let item = s.tab().unwrap().bottom.selected_anomaly().unwrap();
    command(&mut s, "sort cluster asc");
    let t = s.tab().unwrap();
    assert_eq!(
        t.bottom.selected_anomaly(),
        Some(item),
        "the selected anomaly stays selected"
    );
    assert_eq!(t.map.cursor, Some(item));
    let clusters = t.data.result.clusters.clone().unwrap();
    let shown: Vec<u32> = (0..t.bottom.rank.len())
        .map(|k| clusters[t.bottom.rank[t.bottom.row(BottomView::Anomalies, k)]])
        .collect();
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}");
    assert!(shown.first() < shown.last(), "more than one cluster ranked");
    let sc = screen(&s);
    assert!(sc.contains("cluster↑"), "the header shows the order:\n{sc}");
    assert!(
        s.message
            .as_ref()
            .unwrap()
            .text
            .contains("sorted by cluster"),
        "{:?}",
        s.message
    );
    // O reverses; within a cluster the score order is kept.
    update(&mut s, Action::Sort(SortRequest::Reverse));
    let t = s.tab().unwrap();
    let by: Vec<(u32, usize)> = (0..t.bottom.rank.len())
        .map(|k| {
            let row = t.bottom.row(BottomView::Anomalies, k);
            (clusters[t.bottom.rank[row]], row)
        })
        .collect();
    assert!(
        by.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
        "descending by cluster, ties by rank"
    );
    // o moves to the next column, then back to the table's own order.
    let mut said = Vec::new();
    for _ in 0..8 {
        update(&mut s, Action::Sort(SortRequest::NextColumn));
        said.push(s.message.clone().unwrap().text);
        if said.last().unwrap().contains("own order") {
            break;
        }
    }
    assert!(
        said.len() >= 2 && said[0].contains("sorted by total_counts"),
        "{said:?}"
    );
    let t = s.tab().unwrap();
    assert_eq!(
        (0..5)
            .map(|k| t.bottom.row(BottomView::Anomalies, k))
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "{:?}",
        s.message
    );
    // A name that is not a column says which are.
    command(&mut s, "sort nosuch");
    let m = s.message.clone().unwrap();
    assert!(
        m.error && m.text.contains("rank, id, score, cluster"),
        "{m:?}"
    );

    // Marker genes by adjusted p, smallest first; Enter colours by the selected row's gene.
    update(&mut s, Action::ShowMarkers);
    command(&mut s, "sort padj asc");
    let t = s.tab().unwrap();
    let v = t.view(None);
    let padj: Vec<f64> = biolens::tui::views::findings_column(&v, 4)
        .iter()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(padj.len() > 3);
    let shown: Vec<f64> = (0..padj.len())
        .map(|k| padj[t.bottom.row(BottomView::Findings, k)])
        .collect();
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}");
    let genes = biolens::tui::views::findings_column(&v, 1);
    let top = genes[t.bottom.row(BottomView::Findings, 0)].clone();
    update(&mut s, Action::ListEnd(false));
    update(&mut s, Action::Open);
    let colour = s.tab().unwrap().color.clone();
    assert!(
        matches!(&colour, ColorBy::Genes(l, _) if *l == format!("gene {top}")),
        "Enter colours by the gene shown on the selected row: {colour:?}"
    );

    // The clusters pane by size, largest first; the selected cluster stays selected.
    update(&mut s, Action::FocusNext);
    while s.focus != Focus::Clusters {
        update(&mut s, Action::FocusNext);
    }
    update(&mut s, Action::Move(Dir::Down));
    let chosen = s.tab().unwrap().clusters.selected();
    command(&mut s, "sort size");
    let t = s.tab().unwrap();
    assert_eq!(t.clusters.selected(), chosen);
    let sc = screen(&s);
    assert!(sc.contains("size↓"), "{sc}");
    let sizes: Vec<usize> = {
        let mut c = t.clusters.clone();
        (0..t.clusters.rows.len())
            .map(|k| {
                c.sel = k;
                let id = c.selected().unwrap();
                t.clusters.rows.iter().find(|r| r.id == id).unwrap().size
            })
            .collect()
    };
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
}

#[test]
fn a_saved_clustering_is_written_into_the_session_and_comes_back_on_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, path) = session_app(dir.path());
    let clusters = app.state.tab().unwrap().result.clusters.clone().unwrap();
    app.press(":save-clusters first<Enter>");
    let m = app.state.message.clone().unwrap();
    assert!(!m.error && m.text.contains("also in"), "{m:?}");
    app.press(":save-clusters second<Enter>");
    app.press(":save-clusters first<Enter>");
    assert!(app.state.message.as_ref().unwrap().error, "a taken name");

    let (_, items) = biolens::session::read_for_view(&path).unwrap();
    let ds = &items[0].dataset;
    for name in ["first", "second"] {
        let Some(biolens::core::MetaValues::Text(v)) =
            ds.meta_column(name).map(|c| c.values.clone())
        else {
            panic!("{name} is not a text column of the reopened session");
        };
        assert!(
            v.iter()
                .zip(clusters.iter())
                .all(|(a, b)| *a == b.to_string())
        );
    }

    // A clusterings file naming an item the dataset lacks is refused, naming the file and row.
    biolens::session::save_clustering(&path, &ds.name, "stray", &["nosuch".into()], &[1]).unwrap();
    let e = biolens::session::read_for_view(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("clusterings.parquet") && e.contains("nosuch"),
        "{e}"
    );
}

/// The words shown inside pane `r`, below its title row and above its bottom border, from
/// the pane's row `from` on.
fn pane_words(sc: &str, r: ratatui::layout::Rect, from: usize) -> Vec<String> {
    let lines: Vec<Vec<char>> = sc.lines().map(|l| l.chars().collect()).collect();
    let (x0, x1) = (r.x as usize + 1, (r.x + r.width) as usize - 1);
    let mut words = Vec::new();
    for y in (r.y as usize + 1 + from)..(r.y + r.height) as usize - 1 {
        let row: String = lines[y][x0..x1.min(lines[y].len())].iter().collect();
        words.extend(row.split_whitespace().map(String::from));
    }
    words
}

/// Every word on screen is a whole word of the table's cells, or a cut one ending in `…`
/// whose start is one; a number is never cut.
fn assert_whole_or_cut(words: &[String], cells: &[String], what: &str) {
    let tokens: std::collections::HashSet<&str> =
        cells.iter().flat_map(|c| c.split_whitespace()).collect();
    let is_number = |t: &str| {
        t.trim_matches(|c| "()%+".contains(c))
            .parse::<f64>()
            .is_ok()
    };
    let mut numbers = 0;
    for w in words {
        if tokens.contains(w.as_str()) || w == "■" {
            numbers += usize::from(is_number(w));
            continue;
        }
        let Some(p) = w.strip_suffix('…') else {
            panic!("{what}: '{w}' is in no cell of the table and not marked as cut");
        };
        // A text cut just after a space shows its ellipsis alone.
        if p.is_empty() {
            continue;
        }
        let starts: Vec<&&str> = tokens.iter().filter(|t| t.starts_with(p)).collect();
        assert!(
            !starts.is_empty(),
            "{what}: '{w}' starts no word of the table"
        );
        // Cut text is fine; a cut number (every word it could start is a longer number) not.
        assert!(
            starts.iter().any(|t| !is_number(t) || **t == p),
            "{what}: a number is cut to '{w}' (whole: {starts:?})"
        );
    }
    assert!(numbers > 0, "{what}: no number checked");
}

#[test]
fn every_number_in_the_tables_is_one_of_the_tables_whole_and_every_cut_ends_in_an_ellipsis() {
    use biolens::tui::panes::bottom::BottomView;
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = session_app(dir.path());
    app.press(":select many where n_genes_all > 1000<Enter>");
    app.press(":crosstab bulk_labels<Enter>");
    app.press(":compare 0 1<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)), "compare");
    let mut checked = Vec::new();
    for size in [(80u16, 24u16), (120, 40), (200, 60)] {
        update(&mut app.state, Action::Resize(size.0, size.1));
        for view in [
            BottomView::Anomalies,
            BottomView::Findings,
            BottomView::Selections,
            BottomView::Crosstab,
            BottomView::Comparison,
        ] {
            app.state.tab_mut().unwrap().bottom.view = view;
            // A long message wraps over the panes' last rows; these checks read the panes.
            app.state.message = None;
            app.state.refresh();
            let sc = screen(&app.state);
            let a = app.state.areas();
            let t = app.state.tab().unwrap();
            let v = t.view(None);
            let mut cells = t.bottom.headers(&v);
            if view == BottomView::Crosstab {
                let x = t.crosstab.as_ref().unwrap();
                for (c, row) in x.clusters.iter().zip(&x.counts) {
                    let n: u64 = row.iter().sum();
                    cells.extend([c.to_string(), n.to_string()]);
                    cells.extend(
                        row.iter()
                            .map(|&k| format!("{:.0}%", 100.0 * k as f64 / n.max(1) as f64)),
                    );
                }
                let all: u64 = x.counts.iter().flatten().sum();
                cells.extend(["all".into(), all.to_string(), "·".into()]);
                for j in 0..x.values.len() {
                    let col: u64 = x.counts.iter().map(|r| r[j]).sum();
                    cells.push(format!("{:.0}%", 100.0 * col as f64 / all.max(1) as f64));
                }
            } else {
                for j in 0..cells.len() {
                    cells.extend(t.bottom.column(&v, j));
                }
            }
            let what = format!("{view:?} at {}×{}\n{sc}", size.0, size.1);
            assert_whole_or_cut(&pane_words(&sc, a.bottom, 0), &cells, &what);
            checked.push(what);
        }
        // The clusters pane.
        let sc = screen(&app.state);
        let t = app.state.tab().unwrap();
        let mut cells = t.clusters.headers();
        for r in &t.clusters.rows {
            cells.extend([
                r.id.to_string(),
                r.size.to_string(),
                format!("{:.1}%", r.share * 100.0),
                r.top.clone(),
                r.top_share.clone(),
            ]);
        }
        let what = format!("clusters at {}×{}", size.0, size.1);
        assert_whole_or_cut(
            &pane_words(&sc, app.state.areas().clusters, 0),
            &cells,
            &what,
        );
        checked.push(what);
    }
    println!("checked: {checked:?}");
}

/// An analyst's walk through a session, typed as key strings: group by a predicate, colour by
/// a marker gene, compare the group with the rest, export the comparison, recluster and read
/// the crosstab, sort it, judge the anomalies by their QC columns. (Motifs with the matched
/// logo and tiles are walked in the DNA and images tab tests, which need their own data.)
#[test]
fn walkthrough_group_colour_compare_export_recluster_crosstab_anomalies() {
    use biolens::tui::panes::bottom::BottomView;
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = session_app(dir.path());

    // 1. A group by a predicate, at once the map's colour and a row of the selections table.
    app.press(":select bcells where bulk_labels = 'CD19+ B'<Enter>");
    let n_b = app
        .state
        .tab()
        .unwrap()
        .selections
        .of("bcells")
        .unwrap()
        .len();
    assert_eq!(n_b, 95, "the 95 CD19+ B cells the search also finds");
    assert_eq!(
        app.state.tab().unwrap().color,
        ColorBy::Selection("bcells".into())
    );

    // 2. Markers of the cursor's cluster; Enter on the second colours the map by that gene.
    app.press("mj<Enter>");
    let t = app.state.tab().unwrap();
    let v = t.view(None);
    let second = biolens::tui::views::findings_column(&v, 1)[1].clone();
    assert!(
        matches!(&t.color, ColorBy::Genes(l, _) if *l == format!("gene {second}")),
        "{:?}",
        t.color
    );
    assert!(screen(&app.state).contains(&format!("gene {second}")));

    // 3. The group against the rest: marker genes of the comparison, then its export.
    app.press(":compare bcells rest<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)), "compare");
    let t = app.state.tab().unwrap();
    let c = t.comparison.clone().expect("a comparison");
    assert_eq!((c.n_a, c.n_b), (95, 605));
    assert_eq!(t.bottom.view, BottomView::Findings);
    let top_gene = biolens::tui::views::findings_column(&t.view(None), 1)[0].clone();
    assert!(screen(&app.state).contains(&top_gene));
    let out = dir.path().join("bcells.csv");
    app.press(&format!(":export compare {}<Enter>", out.display()));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().count() > 100, "{}", text.lines().count());
    assert!(text.contains(&top_gene));

    // 4. Recluster; the crosstab of new × previous, sorted by size.
    app.press(":recluster leiden 0.6<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)), "recluster");
    let t = app.state.tab().unwrap();
    assert_eq!(t.bottom.view, BottomView::Crosstab);
    assert!(app.state.message.as_ref().unwrap().text.contains("ARI"));
    app.press(":sort n<Enter>");
    let t = app.state.tab().unwrap();
    let x = t.crosstab.clone().unwrap();
    let sizes: Vec<u64> = (0..x.clusters.len())
        .map(|k| x.counts[t.bottom.row(BottomView::Crosstab, k)].iter().sum())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert!(screen(&app.state).contains("n↓"));

    // 5. The anomalies with their QC columns; walking them walks the detail pane.
    app.press("a");
    let sc = screen(&app.state);
    assert!(sc.contains("total_counts (z)"), "{sc}");
    app.press("jj");
    let t = app.state.tab().unwrap();
    let id = t.dataset.as_ref().unwrap().ids[t.bottom.selected_anomaly().unwrap()].clone();
    assert!(screen(&app.state).contains(&format!("id {id}")));

    app.press("q");
    assert!(app.state.quit);
}

#[test]
fn the_tissue_view_draws_each_item_where_it_lies_and_keeps_the_cursor_on_it() {
    let mut app = input_app(fixture("cells/spatial/spatial_bands.h5ad"));
    app.start();
    // The tissue view may be asked for before the projection lands; its extent stays its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while app.state.tab().unwrap().dataset.is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        app.drain();
    }
    app.press("w");
    assert!(app.wait_for_jobs(Duration::from_secs(300)), "pipeline");
    assert!(app.state.tab().unwrap().data.tissue.is_some());
    let drawn = |app: &App| {
        let sc = screen(&app.state);
        let m = app.state.areas().map_inner();
        sc.lines()
            .skip(m.y as usize)
            .take(m.height as usize)
            .flat_map(|l| l.chars().skip(m.x as usize).take(m.width as usize))
            .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
            .count()
    };
    assert!(
        drawn(&app) > 50,
        "points drawn on the tissue:\n{}",
        screen(&app.state)
    );
    app.press("w");
    let ds = app.state.tab().unwrap().dataset.clone().unwrap();
    let num = |name: &str| match ds.meta_column(name).map(|c| c.values.clone()) {
        Some(biolens::core::MetaValues::Number(v)) => v,
        other => panic!("{name}: {other:?}"),
    };
    let (x, y) = (num("spatial_x"), num("spatial_y"));
    assert_eq!(x.len(), 360, "positions from obsm['spatial']");
    app.press("lll");
    let cursor = app.state.tab().unwrap().map.cursor.unwrap();

    app.press("w:color cell_type<Enter>");
    let t = app.state.tab().unwrap();
    assert_eq!(t.map.cursor, Some(cursor), "the cursor stays on its item");
    let l = t.data.map_layout().unwrap();
    for i in [0, cursor, 359] {
        assert_eq!(l[i], [x[i] as f32, -y[i] as f32]);
    }
    let sc = screen(&app.state);
    assert!(sc.contains("tissue (spatial_x × spatial_y"), "{sc}");
    // The three types lie in three bands: on screen, each type's columns are apart from the
    // next one's.
    let area = app.state.areas().map_inner();
    let view = t.map.view.unwrap();
    let Some(biolens::core::MetaValues::Text(types)) =
        ds.meta_column("cell_type").map(|c| c.values.clone())
    else {
        panic!("cell_type")
    };
    let cols = |band: &str| -> (u16, u16) {
        let c: Vec<u16> = (0..l.len())
            .filter(|&i| types[i] == band)
            .filter_map(|i| view.to_cell(l[i], area.width, area.height).map(|p| p.0))
            .collect();
        (*c.iter().min().unwrap(), *c.iter().max().unwrap())
    };
    let (left, middle, right) = (cols("left"), cols("middle"), cols("right"));
    println!("screen columns: left {left:?}, middle {middle:?}, right {right:?}");
    assert!(
        left.1 < middle.0 && middle.1 < right.0,
        "bands apart on screen"
    );
    // Moving right on the tissue goes to an item further right on the tissue.
    app.press("l");
    let next = app.state.tab().unwrap().map.cursor.unwrap();
    assert!(x[next] >= x[cursor], "{} then {}", x[cursor], x[next]);

    // Moran's I on the tissue: the library against esda 2.9.0 / libpysal 4.14.1 (KNN k = 6)
    // on the same positions and g0's counts, numbers from
    // tests/data/cells/spatial/moran_reference.py.
    let e = ds.expression().unwrap();
    let (cells, counts) = e.gene(e.gene_index("g0").unwrap());
    let mut g0 = vec![0f64; 360];
    for (&i, &c) in cells.iter().zip(counts) {
        g0[i as usize] = c as f64;
    }
    let nb = biolens::analysis::spatial::knn_2d(&l, 6);
    let m = biolens::analysis::spatial::morans_i(&nb, &g0).unwrap();
    let scrambled: Vec<f64> = (0..360).map(|i| g0[(i * 67) % 360]).collect();
    let s = biolens::analysis::spatial::morans_i(&nb, &scrambled).unwrap();
    println!("Moran's I: g0 {m:?}; scrambled {s:?}");
    assert!((m.i - 0.731879552318).abs() < 1e-6 && (m.z - 25.729822107458).abs() < 1e-6);
    assert!((s.i - -0.000025378778).abs() < 1e-6 && (s.z - 0.096666937558).abs() < 1e-6);
    assert!((m.expected - -0.002785515320).abs() < 1e-9);
    // …and in the interface, of the colour as the map shows it.
    app.press(":color gene g0<Enter>:moran<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(60)), "moran");
    let msg = app.state.message.clone().unwrap();
    assert!(
        !msg.error && msg.text.contains("Moran's I of gene g0 on the tissue: 0."),
        "{msg:?}"
    );
    // No shuffle of 999 reaches g0's banded pattern (esda's p_sim is 0.001 as well).
    assert!(msg.text.contains("p 0.001 by 999 permutations"), "{msg:?}");

    // Which types touch which: squidpy 1.8.2's nhood_enrichment on the same positions (6
    // nearest neighbours, 1000 permutations), numbers from
    // tests/data/cells/spatial/nhood_reference.py. Edge counts are exact; z-scores differ by
    // permutation noise (squidpy's own seeds 0 and 1 differ by up to 1.8).
    app.press(":nhood cell_type<Enter>");
    assert!(app.wait_for_jobs(Duration::from_secs(120)), "nhood");
    let t = app.state.tab().unwrap();
    let n = t.data.nhood.clone().expect("nhood result");
    assert_eq!(n.names, vec!["left", "middle", "right"]);
    assert_eq!(n.sizes, vec![120, 120, 120]);
    assert_eq!(
        n.enrichment.counts,
        vec![vec![707, 13, 0], vec![18, 689, 13], vec![0, 10, 710]]
    );
    let squidpy = [
        [32.074973, -17.465256, -18.61923],
        [-17.102365, 29.682719, -17.615762],
        [-18.998348, -17.91801, 30.873324],
    ];
    for (a, row) in squidpy.iter().enumerate() {
        for (b, &want) in row.iter().enumerate() {
            let z = n.enrichment.z[a][b];
            println!("nhood z {a} {b}: {z:.3} (squidpy {want:.3})");
            assert!(
                (z - want).abs() <= 0.1 * want.abs() + 0.5,
                "{a} {b}: {z} vs {want}"
            );
        }
    }
    let sc = screen(&app.state);
    assert!(
        sc.contains("neighbourhood · cell_type × cell_type · z vs 1000 permutations"),
        "{sc}"
    );
    assert!(sc.contains("+3"), "{sc}");
    let msg = app.state.message.clone().unwrap();
    assert!(msg.text.contains("most apart"), "{msg:?}");
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("nhood.csv");
    app.press(&format!(":export nhood {}<Enter>", csv.display()));
    assert!(app.wait_for_jobs(Duration::from_secs(30)));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1 + 9, "{text}");
    assert!(
        text.starts_with(
            "cell_type,neighbour,n_cell_type,n_neighbour,edges,z\nleft,left,120,120,707,"
        ),
        "{text}"
    );
    // By the clusters, the default.
    app.press(":nhood<Enter>");
    assert!(
        app.wait_for_jobs(Duration::from_secs(120)),
        "nhood clusters"
    );
    let n = app.state.tab().unwrap().data.nhood.clone().unwrap();
    assert_eq!(n.by, "cluster");

    // Back to the projection; a tab without positions says what gives them.
    app.press("w");
    assert!(app.state.tab().unwrap().data.tissue.is_none());
    assert!(screen(&app.state).contains(" map · colour: gene g0"));
    app.press(":map tissue cell_type spatial_y<Enter>");
    let m = app.state.message.clone().unwrap();
    assert!(m.error && m.text.contains("not numeric"), "{m:?}");
}
