//! Whole-slide reading by region, against the pixels OpenSlide 4 (JPEG slides) and tifffile
//! (lossless OME-TIFF and LZW strips) read from the same files
//! (`tests/data/images/slides/make_slides.py` made the files and the references).

#![allow(clippy::unwrap_used)]

use biolens::modality::images::slide::{Slide, Vendor};
use std::path::{Path, PathBuf};

mod common;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/images/slides")
}

/// (max |difference|, mean |difference|) over every channel of every pixel.
fn compare(slide: &Slide, reference: &str) -> (u8, f64) {
    let stem = reference.trim_end_matches(".png");
    let parts: Vec<&str> = stem.rsplitn(6, '_').collect();
    let n = |i: usize| parts[i].parse::<i64>().unwrap();
    let (h, w, y, x) = (n(0), n(1), n(2), n(3));
    let level: usize = parts[4].trim_start_matches('L').parse().unwrap();
    let want = image::open(dir().join("ref").join(reference))
        .unwrap()
        .to_rgb8();
    let got = slide
        .read_region(level, x, y, w as u32, h as u32)
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
    assert_eq!(got.dimensions(), want.dimensions(), "{reference}");
    let (mut max, mut sum) = (0u8, 0u64);
    for (a, b) in got.as_raw().iter().zip(want.as_raw()) {
        let d = a.abs_diff(*b);
        max = max.max(d);
        sum += d as u64;
    }
    let mean = sum as f64 / got.as_raw().len() as f64;
    println!("{reference}: max |Δ| {max}, mean |Δ| {mean:.3}");
    (max, mean)
}

#[test]
fn an_aperio_svs_reads_like_openslide() {
    let s = Slide::open(&dir().join("cmu1_small_region.svs")).unwrap();
    println!("{}", s.describe());
    assert_eq!(s.vendor, Vendor::Aperio);
    assert_eq!(s.dimensions(), (2220, 2967));
    // The thumbnail, label and macro pictures are not levels.
    assert_eq!(s.levels.len(), 1);
    assert_eq!(s.mpp.map(|m| m.0), Some(0.499));
    assert_eq!(s.objective, Some(20.0));
    for r in [
        "cmu1_small_region_L0_900_1190_300_200.png",
        "cmu1_small_region_L0_2000_2800_220_167.png",
    ] {
        let (max, mean) = compare(&s, r);
        // Two JPEG decoders (zune here, libjpeg-turbo in OpenSlide): measured max 1, mean
        // 0.012 and 0.000.
        assert!(max <= 2 && mean < 0.1, "{r}: {max} {mean}");
    }
}

#[test]
fn a_generic_jpeg_pyramid_reads_like_openslide_at_every_level() {
    let s = Slide::open(&dir().join("pyramid.tif")).unwrap();
    println!("{}", s.describe());
    assert_eq!(s.vendor, Vendor::Generic);
    let sizes: Vec<(u32, u32)> = s.levels.iter().map(|l| (l.width, l.height)).collect();
    assert_eq!(sizes, vec![(1536, 1280), (768, 640), (384, 320)]);
    assert_eq!(
        s.levels.iter().map(|l| l.downsample).collect::<Vec<_>>(),
        vec![1.0, 2.0, 4.0]
    );
    assert_eq!(s.mpp, None);
    for r in [
        "pyramid_L0_300_200_400_300.png",
        "pyramid_L1_100_100_300_250.png",
        "pyramid_L2_0_0_384_320.png",
    ] {
        let (max, mean) = compare(&s, r);
        // Measured: max 4, 4, 5; mean 0.14, 0.14, 0.20 (chroma upsampling and IDCT rounding).
        assert!(max <= 6 && mean < 0.5, "{r}: {max} {mean}");
    }
    assert_eq!(s.best_level(1.0), 0);
    assert_eq!(s.best_level(3.9), 1);
    assert_eq!(s.best_level(4.0), 2);
    assert_eq!(s.best_level(100.0), 2);
}

#[test]
fn an_ome_tiff_pyramid_in_subifds_and_lzw_strips_read_exactly() {
    let s = Slide::open(&dir().join("small.ome.tif")).unwrap();
    println!("{}", s.describe());
    assert_eq!(s.vendor, Vendor::Ome);
    assert_eq!(s.levels.len(), 3);
    assert_eq!(s.mpp.map(|m| m.0), Some(0.499));
    for r in [
        "small_L0_60_70_200_150.png",
        "small_L1_0_0_256_256.png",
        "small_L2_30_40_98_88.png",
    ] {
        assert_eq!(compare(&s, r), (0, 0.0), "{r}");
    }
    let s = Slide::open(&dir().join("strips_lzw.tif")).unwrap();
    println!("{}", s.describe());
    assert!(!s.levels[0].tiled);
    // 20040 pixels per centimetre.
    let mpp = s.mpp.unwrap().0;
    assert!((mpp - 10_000.0 / 20_040.0).abs() < 1e-9, "{mpp}");
    assert_eq!(compare(&s, "strips_lzw_L0_0_0_300_200.png"), (0, 0.0));
}

#[test]
fn regions_past_the_edge_are_white_and_scaled_reads_use_the_pyramid() {
    let s = Slide::open(&dir().join("small.ome.tif")).unwrap();
    let full = s.read_region(0, 0, 0, 512, 512).unwrap();
    // Half outside on the left and top: the inside quarter equals the level, the rest white.
    let r = s.read_region(0, -100, -50, 200, 100).unwrap();
    assert_eq!(r.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(r.get_pixel(100, 50), full.get_pixel(0, 0));
    assert_eq!(r.get_pixel(199, 99), full.get_pixel(99, 49));
    // Wholly outside.
    let r = s.read_region(1, 900, 900, 10, 10).unwrap();
    assert!(r.pixels().all(|p| p.0 == [255, 255, 255]));
    // A 256-pixel box of level 0 shown at 64 pixels comes from level 2 (downsample 4),
    // not from level 0 resized.
    let scaled = s.read_scaled(128, 256, 256, 64).unwrap();
    let level2 = s.read_region(2, 32, 64, 64, 64).unwrap();
    assert_eq!(scaled, level2);
    // The overview of the whole slide is level 2 itself.
    let (ov, ds) = s.overview(128).unwrap();
    assert_eq!((ov.dimensions(), ds), ((128, 128), 4.0));
    assert_eq!(ov, s.read_region(2, 0, 0, 128, 128).unwrap());
    // Smaller than any level: pixels averaged in 2 × 2 blocks of level 2.
    let (ov, ds) = s.overview(64).unwrap();
    assert_eq!((ov.dimensions(), ds), ((64, 64), 8.0));
}

#[test]
fn damaged_and_unsupported_slides_are_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let whole = std::fs::read(dir().join("pyramid.tif")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.tif", vec![], "not a TIFF file"),
        (
            "text.tif",
            b"hello, world, not a tiff".to_vec(),
            "not a TIFF file",
        ),
        (
            "cut.tif",
            whole[..4000].to_vec(),
            "past the end of the file",
        ),
    ];
    for (name, bytes, want) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = Slide::open(&p).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    // The directories intact but the first tile's bytes zeroed: opening works, reading the
    // tile says which level and chunk failed, and a region elsewhere still reads.
    let s0 = Slide::open(&dir().join("pyramid.tif")).unwrap();
    let (off, len) = s0.levels[0].chunk_location(0).unwrap();
    let mut cut = whole.clone();
    cut[off as usize..(off + len) as usize].fill(0);
    let p = d.path().join("zeroed.tif");
    std::fs::write(&p, &cut).unwrap();
    let s = Slide::open(&p).unwrap();
    let e = s.read_region(0, 10, 10, 20, 20).unwrap_err();
    assert!(e.contains("level 0 chunk 0") && e.contains("JPEG"), "{e}");
    assert!(s.read_region(0, 600, 600, 20, 20).is_ok());
}

mod cutting {
    use super::dir;
    use biolens::core::MetaValues;
    use biolens::modality::images::slide::Slide;
    use biolens::modality::images::tiles::{TileParams, read_images, tiles_from_meta};

    fn column<'a>(r: &'a [biolens::core::meta::MetaColumn], name: &str) -> &'a MetaValues {
        &r.iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .values
    }

    #[test]
    fn a_slide_is_cut_over_its_tissue_at_the_asked_magnification_and_previews_come_back() {
        let p = TileParams::default();
        let path = dir().join("cmu1_small_region.svs");
        let r = read_images(&path, &p, &|_| {}).unwrap();
        for n in &r.notes {
            println!("{n}");
        }
        // 2220 × 2967 at 0.499 µm/px: 224-pixel tiles at 0.5 µm/px are 224 level-0 pixels,
        // a 9 × 13 grid; the background ones are dropped, 68 kept (tissue on 36 % of the
        // slide; measured, deterministic for this file and decoder).
        let n = r.ids.len();
        assert_eq!(n, 68, "{n} tiles");
        assert_eq!(r.tiles.pixels.len(), n);
        assert_eq!(r.tiles.features.len(), n);
        // Kept small in memory; read again at 224 for a model that wants them whole.
        assert!(r.tiles.pixels.iter().all(|t| t.dimensions() == (64, 64)));
        assert_eq!(r.tiles.full(0).unwrap().dimensions(), (224, 224));
        assert!(r.ids[0].starts_with("cmu1_small_region:"), "{}", r.ids[0]);
        let MetaValues::Text(slide) = column(&r.meta, "slide") else {
            panic!()
        };
        assert!(slide.iter().all(|s| s == "cmu1_small_region"));
        let MetaValues::Number(side) = column(&r.meta, "tile_w") else {
            panic!()
        };
        assert!(side.iter().all(|&s| s == 224.0));
        let MetaValues::Number(fg) = column(&r.meta, "foreground") else {
            panic!()
        };
        assert!(fg.iter().all(|&f| f >= p.min_foreground));
        // Every kept tile is the slide's own pixels at its box, and its features are those of
        // the full-size tile.
        let s = Slide::open(&path).unwrap();
        for k in [0, n / 2, n - 1] {
            let (_, x, y, w, h) = r.tiles.boxes[k];
            let whole = s.read_region(0, x as i64, y as i64, w, h).unwrap();
            assert_eq!(r.tiles.full(k).unwrap(), whole);
            assert_eq!(
                r.tiles.features[k],
                biolens::modality::images::features::tile_features(&whole, true)
            );
        }
        // A session keeps the boxes; the previews are read back equal.
        let back = tiles_from_meta(&r.meta).expect("previews re-read");
        assert_eq!(back.pixels, r.tiles.pixels);
        // Keeping the background gives the whole grid.
        let all = read_images(
            &path,
            &TileParams {
                keep_background: true,
                ..p.clone()
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(all.ids.len(), 9 * 13);
    }

    #[test]
    fn a_coarser_magnification_reads_the_matching_pyramid_level() {
        // pyramid.tif says nothing of its resolution: --mpp 0.25 makes level 2 (downsample 4)
        // exactly 1 µm/px, what 10x asks for, so tiles are level 2's pixels, not resized.
        let p = TileParams {
            slide_tile: 64,
            slide_mpp: 1.0,
            mpp: Some(0.25),
            keep_background: true,
            ..Default::default()
        };
        let path = dir().join("pyramid.tif");
        let r = read_images(&path, &p, &|_| {}).unwrap();
        // 1536 × 1280 level-0 pixels in 256-pixel boxes.
        assert_eq!(r.ids.len(), 6 * 5);
        let s = Slide::open(&path).unwrap();
        let (_, x, y, w, _) = r.tiles.boxes[7];
        assert_eq!(w, 256);
        assert_eq!(
            r.tiles.full(7).unwrap(),
            s.read_region(2, x as i64 / 4, y as i64 / 4, 64, 64)
                .unwrap()
        );
        // Without --mpp the file gives no resolution: tiles are level-0 pixels, and a note says so.
        let r = read_images(
            &path,
            &TileParams {
                mpp: None,
                ..p.clone()
            },
            &|_| {},
        )
        .unwrap();
        assert_eq!(r.ids.len(), 24 * 20);
        assert!(
            r.notes.iter().any(|n| n.contains("no microns per pixel")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn a_folder_of_slides_is_one_dataset_with_the_slide_as_metadata() {
        let d = tempfile::tempdir().unwrap();
        for f in ["small.ome.tif", "pyramid.tif"] {
            std::fs::copy(dir().join(f), d.path().join(f)).unwrap();
        }
        // A picture beside them is tiled as before.
        image::RgbImage::from_fn(128, 128, |x, y| image::Rgb([200, (x + y) as u8, 150]))
            .save(d.path().join("picture.png"))
            .unwrap();
        let p = TileParams {
            slide_tile: 64,
            mpp: Some(0.5),
            keep_background: true,
            ..Default::default()
        };
        let r = read_images(d.path(), &p, &|_| {}).unwrap();
        let MetaValues::Text(slide) = column(&r.meta, "slide") else {
            panic!()
        };
        let count = |n: &str| slide.iter().filter(|s| *s == n).count();
        // small.ome.tif is 512 a side, pyramid.tif 1536 × 1280, in 64-pixel tiles; the
        // picture in 64-pixel tiles too.
        assert_eq!(count("small"), 8 * 8);
        assert_eq!(count("pyramid"), 24 * 20);
        assert_eq!(count("picture"), 4);
        let MetaValues::Number(px) = column(&r.meta, "tile_px") else {
            panic!()
        };
        assert!(px.iter().all(|&v| v == 64.0));
        assert_eq!(tiles_from_meta(&r.meta).unwrap().pixels, r.tiles.pixels);
    }
}

#[test]
fn several_slides_lie_side_by_side_in_the_tissue_view() {
    use biolens::core::MetaValues;
    let (_d, ds) = two_slides(true);
    let t = biolens::tui::tissue::Tissue::from_columns(&ds, None).unwrap();
    assert_eq!(t.slides(), 2);
    let Some(MetaValues::Text(slide)) = ds.meta_column("slide").map(|c| c.values.clone()) else {
        panic!()
    };
    let range = |name: &str| {
        let xs: Vec<f32> = (0..slide.len())
            .filter(|&i| slide[i] == name)
            .map(|i| t.layout[i][0])
            .collect();
        (
            xs.iter().copied().fold(f32::MAX, f32::min),
            xs.iter().copied().fold(f32::MIN, f32::max),
        )
    };
    // Read in name order: pyramid (1536 wide) first, then small, to its right past a gap.
    let (p, s) = (range("pyramid"), range("small"));
    println!("pyramid x {p:?}, small x {s:?}");
    assert_eq!(p.0, 0.0);
    assert!(s.0 > 1536.0, "{s:?}");
    // Each tile is drawn as its footprint.
    assert_eq!(t.extent.as_ref().unwrap()[0], [64.0, 64.0]);
}

#[test]
fn spatial_names_the_two_columns_that_hold_positions() {
    use biolens::core::MetaValues;
    let h5ad =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cells/spatial/spatial_bands.h5ad");
    let num = |ds: &biolens::modality::Dataset, n: &str| match ds
        .meta_column(n)
        .map(|c| c.values.clone())
    {
        Some(MetaValues::Number(v)) => v,
        other => panic!("{n}: {other:?}"),
    };
    let plain = biolens::modality::read(&h5ad, &Default::default()).unwrap();
    // Swapped on purpose: spatial_x now holds what obsm['spatial'] has as y.
    let opts = biolens::modality::Options {
        spatial: Some(("spatial_y".into(), "spatial_x".into())),
        ..Default::default()
    };
    let ds = biolens::modality::read(&h5ad, &opts).unwrap();
    assert_eq!(num(&ds, "spatial_x"), num(&plain, "spatial_y"));
    assert_eq!(num(&ds, "spatial_y"), num(&plain, "spatial_x"));
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("positions on the tissue from columns spatial_y, spatial_x"))
    );
    for (x, want) in [
        ("nowhere", "no column 'nowhere'"),
        ("cell_type", "'cell_type' is not numeric"),
    ] {
        let opts = biolens::modality::Options {
            spatial: Some((x.into(), "spatial_y".into())),
            ..Default::default()
        };
        let e = biolens::modality::read(&h5ad, &opts)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("spatial_bands.h5ad") && e.contains("--spatial") && e.contains(want),
            "{e}"
        );
    }
}

/// The map area's cells as drawn on a TestBackend.
fn map_cells(s: &biolens::tui::state::State) -> Vec<ratatui::buffer::Cell> {
    let buf = common::drawn(s);
    let m = s.areas().map_inner();
    let mut out = Vec::new();
    for y in m.y..m.y + m.height {
        for x in m.x..m.x + m.width {
            out.push(buf[(x, y)].clone());
        }
    }
    out
}

/// Whether a cell holds map dots.
fn is_braille(c: &ratatui::buffer::Cell) -> bool {
    c.symbol()
        .chars()
        .next()
        .is_some_and(|ch| ('\u{2801}'..='\u{28ff}').contains(&ch))
}

/// A folder holding two of the slides, read with 64-px tiles at 0.5 µm/px.
fn two_slides(keep_background: bool) -> (tempfile::TempDir, biolens::modality::Dataset) {
    let d = tempfile::tempdir().unwrap();
    for f in ["small.ome.tif", "pyramid.tif"] {
        std::fs::copy(dir().join(f), d.path().join(f)).unwrap();
    }
    let mut opts = biolens::modality::Options::default();
    opts.images.tiles.slide_tile = 64;
    opts.images.tiles.mpp = Some(0.5);
    opts.images.tiles.keep_background = keep_background;
    let ds = biolens::modality::read(d.path(), &opts).unwrap();
    (d, ds)
}

#[test]
fn the_tissue_view_lays_the_slides_picture_behind_its_tiles_and_shows_one_slide_at_a_time() {
    use biolens::tui::tissue::PictureMode;
    use ratatui::style::Color;
    use std::sync::Arc;
    use std::time::Duration;
    let (d, ds) = two_slides(false);
    let ds = Arc::new(ds);
    let tab = biolens::tui::state::Tab::new(
        "slides".into(),
        biolens::tui::state::TabSource::Input {
            path: d.path().to_path_buf(),
        },
    );
    let mut app = biolens::tui::app::App::new(
        vec![tab],
        biolens::pipeline::PipelineParams {
            threads: 2,
            ..Default::default()
        },
        (120, 40),
    );
    app.state.palette = biolens::tui::theme::Palette::Rgb;
    app.state.tabs[0].data.dataset = Some(ds.clone());
    app.press("w");
    assert!(app.wait_for_jobs(Duration::from_secs(60)), "pictures read");
    println!("{:?}", app.state.message);
    let ts = app.state.tab().unwrap().data.tissue.clone().unwrap();
    let pictures = ts.pictures.clone().expect("the slides' pictures");
    assert_eq!(pictures.pictures.len(), 2);
    assert_eq!(ts.picture, PictureMode::Behind);

    // The picture under each tile has the tile's colour: the mean over the tile's box of the
    // placed picture against the mean of the tile's own pixels.
    let tiles = ds.tiles().unwrap();
    let extent = ts.extent.clone().unwrap();
    let mut worst = 0f64;
    let mut total = 0f64;
    for i in 0..ds.len() {
        let (p, e) = (ts.layout[i], extent[i]);
        let (mut sum, mut n) = ([0f64; 3], 0f64);
        for a in 0..8 {
            for b in 0..8 {
                let x = p[0] + (a as f32 + 0.5) / 8.0 * e[0];
                let y = p[1] - (b as f32 + 0.5) / 8.0 * e[1];
                if let Some(c) = pictures.at(x, y) {
                    for (s, v) in sum.iter_mut().zip(c) {
                        *s += v as f64;
                    }
                    n += 1.0;
                }
            }
        }
        assert!(n > 0.0, "tile {i} lies on its slide's picture");
        let px = &tiles.pixels[i];
        let mut own = [0f64; 3];
        for q in px.pixels() {
            for (o, v) in own.iter_mut().zip(q.0) {
                *o += v as f64;
            }
        }
        let m = px.pixels().len() as f64;
        let diff = (0..3)
            .map(|k| (sum[k] / n - own[k] / m).abs())
            .fold(0.0, f64::max);
        worst = worst.max(diff);
        total += diff;
    }
    let mean = total / ds.len() as f64;
    println!(
        "{} tiles: picture under each tile against the tile's own mean colour: mean {mean:.2}, worst {worst:.2} levels",
        ds.len()
    );
    assert!(mean < 6.0 && worst < 25.0, "mean {mean}, worst {worst}");

    // Behind: half blocks in the slide's colours around the tiles, and the tiles' braille
    // dots over a dimmed picture.
    let cells = map_cells(&app.state);
    let halves = cells
        .iter()
        .filter(|c| c.symbol() == "▀" && matches!(c.fg, Color::Rgb(..)))
        .count();
    let over = cells
        .iter()
        .filter(|c| is_braille(c) && matches!(c.bg, Color::Rgb(..)))
        .count();
    println!("behind: {halves} picture cells, {over} tile cells over the picture");
    assert!(halves > 100 && over > 20, "{halves} {over}");

    // One slide at a time: `]` shows the first alone, nothing of the second is drawn.
    app.press("]");
    let t = app.state.tab().unwrap();
    let ts = t.data.tissue.as_ref().unwrap();
    assert_eq!(ts.shown, Some(0));
    let (x0, x1) = ts.shown_range().unwrap();
    let view = t.map.view.unwrap();
    let m = app.state.areas().map_inner();
    let sc = common::screen(&app.state);
    assert!(
        sc.contains(&format!("slide 1/2 {}", ts.sources[0].name)),
        "{sc}"
    );
    let cw = 2.0 * view.hw / m.width as f32;
    for (k, c) in map_cells(&app.state).iter().enumerate() {
        let x = view.cx - view.hw + (k % m.width as usize) as f32 * cw;
        if x > x1 + cw || x + 2.0 * cw < x0 {
            assert_eq!(c.symbol(), " ", "cell {k} beyond the shown slide");
        }
    }
    // Past the last slide, all of them again; backwards from all, the last alone.
    app.press("]]");
    assert_eq!(
        app.state.tab().unwrap().data.tissue.as_ref().unwrap().shown,
        None
    );
    app.press("[");
    assert_eq!(
        app.state.tab().unwrap().data.tissue.as_ref().unwrap().shown,
        Some(1)
    );
    app.press(":slide all<Enter>");
    assert_eq!(
        app.state.tab().unwrap().data.tissue.as_ref().unwrap().shown,
        None
    );
    app.press(":slide pyramid<Enter>");
    let ts = app.state.tab().unwrap().data.tissue.clone().unwrap();
    assert_eq!(ts.sources[ts.shown.unwrap()].name, "pyramid.tif");
    app.press(":slide 3<Enter>");
    assert!(app.state.message.as_ref().unwrap().text.contains("1 to 2"));

    // `b`: the picture alone (no tile dots), then off (no picture).
    app.press("b");
    let cells = map_cells(&app.state);
    let dots = |cells: &[ratatui::buffer::Cell]| cells.iter().filter(|c| is_braille(c)).count();
    let halves = |cells: &[ratatui::buffer::Cell]| {
        cells
            .iter()
            .filter(|c| c.symbol() == "▀" || c.symbol() == "▄")
            .count()
    };
    assert_eq!(dots(&cells), 0, "alone: the picture only");
    assert!(halves(&cells) > 100);
    app.press("b");
    let cells = map_cells(&app.state);
    assert_eq!(halves(&cells), 0, "off: the tiles only");
    assert!(dots(&cells) > 20);
}
