//! Following a training run live: a writer thread plays a training run (five versions of an
//! embedding whose clusters drift, one written in two halves with a pause between, and a
//! growing metrics log) while `watch` follows the folder.

#![allow(clippy::unwrap_used)]

mod common;
use biolens::core::matrix::Matrix;
use biolens::pipeline::{CancelToken, PipelineParams, RunOptions};
use biolens::watch::{WatchEvent, WatchOptions};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Duration;

/// Four Gaussian clusters in 16 dimensions, `extra` more points in a fifth; the centres drift
/// by `drift` × version.
fn embedding(version: usize, n: usize, extra: usize, drift: f32) -> Matrix {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(version as u64);
    let d = 16;
    let mut data = Vec::with_capacity((n + extra) * d);
    for i in 0..n + extra {
        let c = if i >= n { 4 } else { i % 4 };
        for j in 0..d {
            let centre =
                if j == c { 8.0 } else { 0.0 } + drift * version as f32 * (j as f32 / d as f32);
            let noise: f32 = rng.gen_range(-1.0..1.0) + rng.gen_range(-1.0..1.0);
            data.push(centre + noise);
        }
    }
    Matrix::from_vec(n + extra, d, data)
}

fn write_version(dir: &Path, version: usize, m: &Matrix, halves: Option<Duration>) {
    let path = dir.join(format!("emb_epoch_{version}.npy"));
    match halves {
        None => biolens::io::npy::write_npy_f32(&path, m).unwrap(),
        Some(pause) => {
            // Written in place in two halves, as a slow writer would.
            let tmp = dir.join("whole.bin");
            biolens::io::npy::write_npy_f32(&tmp, m).unwrap();
            let bytes = std::fs::read(&tmp).unwrap();
            std::fs::remove_file(&tmp).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            std::thread::sleep(pause);
            std::fs::write(&path, &bytes).unwrap();
        }
    }
}

#[test]
fn a_live_run_is_followed_version_by_version_with_a_stable_picture() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let metrics = dir.join("metrics.csv");
    std::fs::write(&metrics, "epoch,step,train_loss\n").unwrap();
    let settle = Duration::from_millis(250);
    let writer = {
        let dir = dir.clone();
        let metrics = metrics.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            for v in 1..=5 {
                // Version 4 brings 40 items the earlier ones did not have.
                let extra = if v >= 4 { 40 } else { 0 };
                let m = embedding(v, 600, extra, 0.3);
                let halves = (v == 3).then_some(Duration::from_millis(1500));
                write_version(&dir, v, &m, halves);
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&metrics)
                    .unwrap();
                for s in 0..10 {
                    writeln!(f, "{v},{},{}", v * 10 + s, 2.0 / (v * 10 + s) as f64).unwrap();
                }
                std::thread::sleep(Duration::from_millis(2500));
            }
        })
    };
    let w = WatchOptions {
        targets: vec![dir.join("emb_epoch_*.npy")],
        metrics: Some(metrics.clone()),
        settle,
        idle_exit: Some(Duration::from_secs(6)),
        threads: 2,
    };
    let stop = CancelToken::default();
    let mut events = Vec::new();
    // A hung watch would hang CI: the writer's end plus the idle time is the deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let versions = biolens::watch::watch(
        &w,
        &PipelineParams::default(),
        &RunOptions::default(),
        &stop,
        &mut |ev| {
            if std::time::Instant::now() > deadline {
                stop.cancel();
            }
            events.push(ev)
        },
    )
    .unwrap();
    writer.join().unwrap();

    // Every complete version landed exactly once, the half-written one only whole.
    let landed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Landed(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let names: Vec<String> = landed
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    println!(
        "landed: {names:?} sizes {:?}",
        landed.iter().map(|s| s.size).collect::<Vec<_>>()
    );
    assert_eq!(
        names,
        (1..=5)
            .map(|v| format!("emb_epoch_{v}.npy"))
            .collect::<Vec<_>>()
    );
    let whole = std::fs::metadata(dir.join("emb_epoch_3.npy"))
        .unwrap()
        .len();
    assert_eq!(
        landed[2].size, whole,
        "the half-written version is read only whole"
    );
    let waited = events.iter().any(|e| match e {
        WatchEvent::Waiting(ws) => ws
            .iter()
            .any(|w| w.path.ends_with("emb_epoch_3.npy") && w.why.contains("header promises")),
        _ => false,
    });
    assert!(waited, "the watch said it waited for the half-written file");
    assert!(
        !events.iter().any(|e| matches!(e, WatchEvent::Failed(..))),
        "no version failed"
    );

    // Each version computed (or skipped for a newer one), the last always computed.
    let computed: Vec<_> = versions.iter().map(|v| v.change.file.clone()).collect();
    println!("computed: {computed:?}");
    for v in &versions {
        println!("{}", v.change.line());
    }
    assert_eq!(computed.last().unwrap(), "emb_epoch_5.npy");
    assert!(versions.len() >= 3, "{computed:?}");

    // A stable picture: cluster numbers stay matched (the same items keep their number) and
    // the map moves little between versions whose data moved little.
    for pair in versions.windows(2) {
        let (a, b) = (&pair[0].item, &pair[1].item);
        let same = (0..600)
            .filter(|&i| a.analysis.clusters[i] == b.analysis.clusters[i])
            .count();
        let c = &pair[1].change;
        println!(
            "{} → {}: {same}/600 keep their cluster number, ARI {:.3}, median move {:.3} of diagonal {:.2}",
            pair[0].change.file,
            c.file,
            c.ari.unwrap(),
            c.median_move.unwrap(),
            c.diagonal
        );
        assert!(same >= 570, "cluster numbers matched: {same}/600");
        assert!(c.ari.unwrap() > 0.9);
        assert!(
            c.median_move.unwrap() < 0.1 * c.diagonal,
            "the picture stays put"
        );
    }
    // Started afresh, the same version's map would have moved many times more.
    let (v1, v2) = (&versions[0].item, &versions[1].item);
    let fresh = biolens::pipeline::analyse(
        &v2.dataset,
        &v2.embedding,
        &PipelineParams::default(),
        &|_| {},
        &CancelToken::default(),
    )
    .unwrap();
    let mut d: Vec<f32> = (0..600)
        .map(|i| {
            let (p, q) = (fresh.layout[i], v1.analysis.layout[i]);
            ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
        })
        .collect();
    d.sort_by(f32::total_cmp);
    let (fresh_move, kept_move) = (d[300] as f64, versions[1].change.median_move.unwrap());
    println!("v1 → v2 median move: {kept_move:.3} started from v1, {fresh_move:.3} afresh");
    assert!(fresh_move > 3.0 * kept_move);
    assert_eq!(versions.last().unwrap().item.dataset.len(), 640);
    // Each item's move is a column (ranking and colouring like any other); the 40 items new
    // in version 4 have none (in whichever version first has them, should 4 be skipped).
    let v4 = versions
        .iter()
        .find(|v| v.item.dataset.len() == 640 && v.change.shared == 600)
        .unwrap();
    let Some(biolens::core::MetaValues::Number(moved)) = v4
        .item
        .dataset
        .meta_column("moved")
        .map(|c| c.values.clone())
    else {
        panic!("no moved column")
    };
    assert!(moved[..600].iter().all(|d| d.is_finite()));
    assert!(moved[600..].iter().all(|d| d.is_nan()));
    let top = v4.change.moved[0];
    assert_eq!(moved[top.0], top.1 as f64);

    // The metrics series has every row written before the watch stopped.
    let m = events
        .iter()
        .rev()
        .find_map(|e| match e {
            WatchEvent::Metrics(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(m.rows(), 50);
    assert_eq!(m.steps().1.last().copied(), Some(59.0));
    assert_eq!(m.series(), vec!["train_loss"]);
}

#[test]
fn headless_watch_prints_a_line_per_version_and_keeps_them_in_a_session() {
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    let runs = d.path().join("run");
    std::fs::create_dir(&runs).unwrap();
    let out = d.path().join("live.biolens");
    write_version(&runs, 1, &embedding(1, 400, 0, 0.3), None);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_biolens"))
        .arg("watch")
        .arg(&runs)
        .args(["--headless", "--settle-ms", "200", "--idle-exit", "4", "-o"])
        .arg(&out)
        .args(["--threads", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    // Every wait has a deadline: a hung watch fails the test, it does not hang CI.
    let wait_for = |lines: &mut Vec<String>, what: &str| {
        let end = std::time::Instant::now() + Duration::from_secs(120);
        while !lines.iter().any(|l| l.contains(what)) {
            let left = end.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "no '{what}' in {lines:#?}");
            if let Ok(l) = rx.recv_timeout(left) {
                lines.push(l);
            }
        }
    };
    wait_for(&mut lines, "(1 version)");
    write_version(&runs, 2, &embedding(2, 400, 0, 0.3), None);
    wait_for(&mut lines, "(2 versions)");
    let end = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("watch did not stop after --idle-exit: {lines:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    lines.extend(rx.try_iter());
    println!("{}", lines.join("\n"));
    assert!(status.success(), "{lines:#?}");
    let v2 = lines.iter().find(|l| l.starts_with("v2 ")).unwrap();
    assert!(v2.contains("vs v1: ARI 1.000"), "{v2}");
    let m = biolens::session::read_manifest(&out).unwrap();
    let names: Vec<&str> = m.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["v1 emb_epoch_1.npy", "v2 emb_epoch_2.npy"]);
    // The session opens as any other, each version a dataset of its own.
    let (_, items) = biolens::session::read(&out).unwrap();
    assert_eq!(items[1].analysis.layout.len(), 400);
}

/// The interface (120 × 40, 2 threads) with one tab following `target`, started.
fn interface_watching(
    title: &str,
    target: std::path::PathBuf,
    metrics: Option<std::path::PathBuf>,
) -> biolens::tui::app::App {
    use biolens::tui::state::{Tab, TabSource};
    let w = WatchOptions {
        targets: vec![target],
        metrics,
        settle: Duration::from_millis(150),
        idle_exit: None,
        threads: 2,
    };
    let mut app = biolens::tui::app::App::new(
        vec![Tab::new(title.into(), TabSource::Watch(w))],
        PipelineParams {
            threads: 2,
            ..Default::default()
        },
        (120, 40),
    );
    app.start();
    app
}

#[test]
fn the_interface_follows_a_live_run_keeping_the_cursor_view_and_steps_between_versions() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let metrics = dir.join("metrics.jsonl");
    let grow = |v: usize| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics)
            .unwrap();
        for s in 0..5 {
            writeln!(
                f,
                "{{\"epoch\": {v}, \"loss\": {}}}",
                1.0 / (v * 5 + s) as f64
            )
            .unwrap();
        }
    };
    write_version(&dir, 1, &embedding(1, 300, 0, 0.3), None);
    grow(1);
    let mut app = interface_watching("watch", dir.join("emb_epoch_*.npy"), Some(metrics.clone()));
    let wait_versions = |app: &mut biolens::tui::app::App, n: usize| {
        let end = std::time::Instant::now() + Duration::from_secs(120);
        while app.state.tab().unwrap().data.versions.len() < n {
            assert!(std::time::Instant::now() < end, "version {n} never came");
            std::thread::sleep(Duration::from_millis(20));
            app.drain();
        }
    };
    wait_versions(&mut app, 1);
    app.press("lll++");
    let t = app.state.tab().unwrap();
    let (cursor, view) = (t.map.cursor.unwrap(), t.map.view.unwrap());
    let id = t.dataset.as_ref().unwrap().ids[cursor].clone();

    write_version(&dir, 2, &embedding(2, 300, 0, 0.3), None);
    grow(2);
    wait_versions(&mut app, 2);
    let t = app.state.tab().unwrap();
    assert_eq!(t.data.shown_version, Some(1), "following the run");
    let c = t.map.cursor.unwrap();
    assert_eq!(
        t.dataset.as_ref().unwrap().ids[c],
        id,
        "the cursor stays on its id"
    );
    // The zoom is kept, and the cursor's item is in view (the view pans only if it left).
    let now = t.map.view.unwrap();
    assert_eq!((now.hw, now.hh), (view.hw, view.hh), "zoom kept");
    let l = t.data.map_layout().unwrap();
    assert_eq!(now.outside(&[l[c]]), 0, "the cursor's item in view");
    let m = app.state.areas().map_inner();
    let drawn = common::screen(&app.state)
        .lines()
        .skip(m.y as usize)
        .take(m.height as usize)
        .flat_map(|r| {
            r.chars()
                .skip(m.x as usize)
                .take(m.width as usize)
                .collect::<Vec<_>>()
        })
        .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
        .count();
    assert!(drawn > 10, "points on the map: {drawn}");
    let sc = common::screen(&app.state);
    assert!(sc.contains("history · 2 versions"), "{sc}");
    assert!(sc.contains("▶ v2"), "{sc}");
    let said = app.state.message.clone().unwrap().text;
    assert!(said.contains("vs v1: ARI"), "{said}");

    // `[` steps back; a version landing then does not take the user away from it.
    app.press("[");
    assert_eq!(app.state.tab().unwrap().data.shown_version, Some(0));
    let title = &app.state.tab().unwrap().data.title;
    assert!(title.ends_with(" v1"), "{title}");
    assert!(common::screen(&app.state).contains(title.as_str()));
    write_version(&dir, 3, &embedding(3, 300, 0, 0.3), None);
    grow(3);
    wait_versions(&mut app, 3);
    assert_eq!(app.state.tab().unwrap().data.shown_version, Some(0));
    app.press("]]");
    assert_eq!(app.state.tab().unwrap().data.shown_version, Some(2));

    // The loss curve, with every row read.
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while app
        .state
        .tab()
        .unwrap()
        .data
        .metrics
        .as_ref()
        .is_none_or(|m| m.rows() < 15)
    {
        assert!(std::time::Instant::now() < end, "metrics rows");
        std::thread::sleep(Duration::from_millis(20));
        app.drain();
    }
    app.press(":metrics<Enter>");
    let sc = common::screen(&app.state);
    assert!(sc.contains("metrics · loss (cyan)"), "{sc}");
    assert!(sc.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)));
    // Stop watching: the job ends.
    app.press("x");
    assert!(
        app.wait_for_jobs(Duration::from_secs(30)),
        "the watch stops"
    );
}

#[test]
fn watch_in_the_interface_opens_a_tab_that_follows_the_run() {
    let quiet = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("exp3");
    std::fs::create_dir(&run).unwrap();
    write_version(&run, 1, &embedding(1, 200, 0, 0.3), None);
    std::fs::write(run.join("metrics.csv"), "epoch,loss\n1,0.5\n2,0.25\n").unwrap();
    let mut app = interface_watching("first", quiet.path().to_path_buf(), None);
    app.press(&format!(
        ":watch {}/nowhere/emb_*.npy<Enter>",
        d.path().display()
    ));
    let said = app.state.message.clone().unwrap();
    assert!(
        said.error && said.text.contains("no such folder"),
        "{said:?}"
    );
    assert_eq!(app.state.tabs.len(), 1);
    app.press(&format!(
        ":watch {}/emb_epoch_*.npy --metrics {}/metrics.csv<Enter>",
        run.display(),
        run.display()
    ));
    assert_eq!(app.state.tabs.len(), 2);
    assert_eq!(app.state.active, 1);
    assert_eq!(app.state.tab().unwrap().data.title, "watch exp3");
    assert!(common::screen(&app.state).contains("2 watch exp3"));
    let end = std::time::Instant::now() + Duration::from_secs(120);
    while app.state.tab().unwrap().data.versions.is_empty()
        || app.state.tab().unwrap().data.metrics.is_none()
    {
        assert!(std::time::Instant::now() < end, "the version never came");
        std::thread::sleep(Duration::from_millis(20));
        app.drain();
    }
    let t = app.state.tab().unwrap();
    assert_eq!(t.dataset.as_ref().unwrap().ids.len(), 200);
    assert_eq!(t.data.metrics.as_ref().unwrap().rows(), 2);
    let sc = common::screen(&app.state);
    assert!(sc.contains("2 exp3 v1"), "{sc}");
    assert!(sc.contains("history · 1 version"), "{sc}");
    // `x` stops the focused tab's run; the other tab's goes on.
    let job = |app: &biolens::tui::app::App, tab: usize| {
        let id = app.state.tabs[tab].data.pipeline_job;
        app.state.jobs.iter().find(|j| Some(j.id) == id).cloned()
    };
    let running = biolens::tui::panes::jobs::JobState::Running;
    assert_eq!(job(&app, 1).unwrap().state, running);
    app.press("x");
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while job(&app, 1).is_some_and(|j| j.state == running) {
        assert!(std::time::Instant::now() < end, "the watch never stopped");
        std::thread::sleep(Duration::from_millis(20));
        app.drain();
    }
    assert_eq!(job(&app, 0).unwrap().state, running);
}
