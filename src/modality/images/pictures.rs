//! Small pictures of the slides (or images) tiles were cut from, for the tissue view to draw
//! behind the tiles.

/// Pictures of the slides (or images) that tiles were cut from, placed where their tiles lie
/// in the tissue view, so the view can draw the tissue itself behind the tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct SlidePictures {
    pub pictures: Vec<PlacedPicture>,
}

/// One source's picture: pixel (u, v) covers the tissue view's x from `x0 + u·scale` over
/// `scale`, and y from `−v·scale` down over `scale` (the view counts y upwards).
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedPicture {
    pub rgb: image::RgbImage,
    pub x0: f32,
    /// Level-0 pixels per picture pixel.
    pub scale: f32,
}

impl SlidePictures {
    /// The colour at a point of the tissue view, None where no picture lies.
    pub fn at(&self, x: f32, y: f32) -> Option<[u8; 3]> {
        self.pictures.iter().find_map(|p| {
            let u = (x - p.x0) / p.scale;
            let v = -y / p.scale;
            (u >= 0.0 && v >= 0.0 && (u as u32) < p.rgb.width() && (v as u32) < p.rgb.height())
                .then(|| p.rgb.get_pixel(u as u32, v as u32).0)
        })
    }
}

/// The largest side a source's picture is read at: enough for a wide terminal zoomed in a few
/// times, and smaller as sources add up so memory stays a few tens of MB.
fn picture_side(sources: usize) -> u32 {
    ((2048.0 / (sources.max(1) as f64).sqrt()) as u32).max(384)
}

/// Reads a picture of each source in `placed` (its index among `tiles.sources` and the x
/// offset the tissue view gave it): a slide's overview from its pyramid, a picture shrunk.
/// `cancelled` is asked between sources.
pub fn slide_pictures(
    tiles: &super::Tiles,
    placed: &[(usize, f32)],
    cancelled: &dyn Fn() -> bool,
) -> Result<SlidePictures, String> {
    let side = picture_side(placed.len());
    let mut pictures = Vec::with_capacity(placed.len());
    for &(k, x0) in placed {
        if cancelled() {
            return Err("cancelled".into());
        }
        let path = tiles
            .sources
            .get(k)
            .ok_or_else(|| format!("no source {k}"))?;
        let (rgb, scale) = match tiles.slides.get(k) {
            Some(Some((slide, _))) => {
                let (img, d) = slide
                    .overview(side)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                (img, d as f32)
            }
            _ => {
                let img = image::open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .to_rgb8();
                let (w, h) = img.dimensions();
                let f = (w.max(h) as f32 / side as f32).max(1.0);
                if f > 1.0 {
                    let (nw, nh) = (
                        ((w as f32 / f).round() as u32).max(1),
                        ((h as f32 / f).round() as u32).max(1),
                    );
                    let small = image::imageops::resize(
                        &img,
                        nw,
                        nh,
                        image::imageops::FilterType::Triangle,
                    );
                    (small, w as f32 / nw as f32)
                } else {
                    (img, 1.0)
                }
            }
        };
        pictures.push(PlacedPicture { rgb, x0, scale });
    }
    Ok(SlidePictures { pictures })
}
