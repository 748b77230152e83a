//! QR codes: the scan entry `/q/{slug}`, the images `/q/{slug}.png|.svg` (decoded with rqrr,
//! the SVG rasterised with resvg first), per-variant counts in `/api/campaigns/{slug}/qr` and
//! `/api/roi`, and the printable sheet `/admin/campaigns/{slug}/qr`.

use std::collections::{BTreeMap, BTreeSet};

use proptest::test_runner::{
    Config as ProptestConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, content_type, controls, encode, json_body, roi_row, spawn_app, utm,
    visible_text,
};

// ---------------------------------------------------------------------------------------------
// Reading images back

/// A decoded image as RGB pixels, row by row.
struct Raster {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

/// One QR code found in an image: its version, rqrr's ECC level number and its text.
#[derive(Debug)]
struct Decoded {
    version: usize,
    /// The format bits of the level: M = 0, L = 1, H = 2, Q = 3.
    ecc_level: u16,
    text: String,
}

/// rqrr's number for an ECC level (the level's two format bits).
fn rqrr_ecc(level: &str) -> u16 {
    match level {
        "M" => 0,
        "L" => 1,
        "H" => 2,
        "Q" => 3,
        _ => panic!("no ECC level {level}"),
    }
}

fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
}

fn hex_rgb(hex: &str) -> [u8; 3] {
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    [channel(0), channel(2), channel(4)]
}

impl Raster {
    fn from_png(bytes: &[u8]) -> Raster {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("PNG buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "expanded PNG depth");
        let (width, height) = (info.width as usize, info.height as usize);
        let channels = info.line_size / width;
        let mut rgb = Vec::with_capacity(width * height);
        for y in 0..height {
            let line = &buf[y * info.line_size..(y + 1) * info.line_size];
            for x in 0..width {
                let px = &line[x * channels..(x + 1) * channels];
                rgb.push(match channels {
                    1 | 2 => [px[0]; 3],
                    3 | 4 => [px[0], px[1], px[2]],
                    n => panic!("{n} channels per pixel"),
                });
            }
        }
        Raster { width, height, rgb }
    }

    /// Renders `svg` on white so that its width becomes `edge` pixels.
    fn from_svg(svg: &str, edge: u32) -> Raster {
        let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default())
            .unwrap_or_else(|e| panic!("SVG does not parse: {e}: {svg}"));
        let size = tree.size();
        let scale = edge as f32 / size.width();
        let height = (size.height() * scale).round() as u32;
        let mut pixmap = resvg::tiny_skia::Pixmap::new(edge, height).expect("pixmap");
        pixmap.fill(resvg::tiny_skia::Color::WHITE);
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::from_scale(scale, scale),
            &mut pixmap.as_mut(),
        );
        // Premultiplied RGBA; over an opaque white background alpha is 255, so it is plain RGB.
        let rgb = pixmap
            .data()
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Raster {
            width: edge as usize,
            height: height as usize,
            rgb,
        }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }

    /// Every QR code rqrr finds, decoded (a grid that does not decode fails the test).
    fn decode_all(&self) -> Vec<Decoded> {
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(self.width, self.height, |x, y| {
                luma(self.at(x, y))
            });
        image
            .detect_grids()
            .iter()
            .map(|grid| {
                let (meta, text) = grid
                    .decode()
                    .unwrap_or_else(|e| panic!("QR grid found but not decodable: {e:?}"));
                Decoded {
                    version: meta.version.0,
                    ecc_level: meta.ecc_level,
                    text,
                }
            })
            .collect()
    }

    /// The one QR code of the image.
    fn decode(&self) -> Decoded {
        let mut found = self.decode_all();
        assert_eq!(
            found.len(),
            1,
            "expected exactly one QR code, found {found:?}"
        );
        found.pop().unwrap()
    }

    /// `(left, top, right, bottom)` of the dark pixels, inclusive.
    fn dark_bounds(&self) -> (usize, usize, usize, usize) {
        let (mut left, mut top, mut right, mut bottom) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if luma(self.at(x, y)) < 128 {
                    left = left.min(x);
                    top = top.min(y);
                    right = right.max(x);
                    bottom = bottom.max(y);
                }
            }
        }
        assert!(left <= right, "no dark pixel in the image");
        (left, top, right, bottom)
    }

    /// The quiet zone on each side (left, top, right, bottom) in modules of a code of `version`.
    fn quiet_zone(&self, version: usize) -> [f64; 4] {
        let modules = 17 + 4 * version;
        let (left, top, right, bottom) = self.dark_bounds();
        let module = (right - left + 1) as f64 / modules as f64;
        [
            left as f64 / module,
            top as f64 / module,
            (self.width - 1 - right) as f64 / module,
            (self.height - 1 - bottom) as f64 / module,
        ]
    }

    fn count(&self, colour: [u8; 3]) -> usize {
        self.rgb.iter().filter(|&&p| p == colour).count()
    }
}

/// GET an image, asserting 200 and its content type; returns the body.
async fn image(app: &TestApp, path: &str) -> Vec<u8> {
    let resp = app.get(path).await;
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    let body = resp.bytes().await.expect("image body").to_vec();
    assert_eq!(
        status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    let want = if path.contains(".png") {
        "image/png"
    } else {
        "image/svg+xml"
    };
    assert!(ct.starts_with(want), "GET {path}: content type {ct:?}");
    body
}

async fn png_raster(app: &TestApp, path: &str) -> Raster {
    Raster::from_png(&image(app, path).await)
}

async fn svg_raster(app: &TestApp, path: &str, edge: u32) -> Raster {
    let body = image(app, path).await;
    let svg = String::from_utf8(body).expect("SVG is UTF-8");
    assert!(svg.contains("<svg"), "not an SVG document: {svg}");
    Raster::from_svg(&svg, edge)
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// An app with a campaign `expo` whose configured placements are `variants`.
async fn app_with_variants(variants: &[&str]) -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({"qr_variants": variants}))
        .await;
    app
}

fn location(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location header on {}", resp.status()))
        .to_owned()
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The redirect a scan of `slug` with variant `v` must answer with.
fn scan_target(slug: &str, v: Option<&str>) -> String {
    let mut path = format!("/f/{slug}?utm_source=qr&utm_medium=offline&utm_campaign={slug}");
    if let Some(v) = v {
        path.push_str("&utm_content=");
        path.push_str(v);
    }
    path
}

/// `GET /q/{slug}[?v=]`, asserting the 302 and its headers; returns the `Location` as a path.
async fn scan(app: &TestApp, slug: &str, v: Option<&str>) -> String {
    let path = match v {
        Some(v) => format!("/q/{slug}?v={v}"),
        None => format!("/q/{slug}"),
    };
    // Each scan from another phone: a repeat of the same visitor within 30 s counts once.
    static VISITOR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = VISITOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let resp = app
        .client
        .get(app.url(&path))
        .header("user-agent", format!("Mozilla/5.0 (iPhone) visitor-{n}"))
        .send()
        .await
        .expect("scan");
    assert_eq!(resp.status(), 302, "GET {path}");
    let loc = location(&resp);
    let want = scan_target(slug, v);
    assert!(
        loc == want || loc == app.url(&want),
        "GET {path}: Location {loc:?}, want {want:?}"
    );
    assert_eq!(
        header(&resp, "cache-control").as_deref(),
        Some("no-store"),
        "GET {path}: Cache-Control"
    );
    want
}

/// `GET /api/campaigns/{slug}/qr`, asserting 200; the rows keyed by variant (`None` for
/// scans without one).
async fn qr_stats(app: &TestApp, slug: &str) -> BTreeMap<Option<String>, Value> {
    let (status, body) = json_body(app.admin_get(&format!("/api/campaigns/{slug}/qr")).await).await;
    assert_eq!(status, 200, "GET /api/campaigns/{slug}/qr: {body}");
    assert_eq!(body["campaign"], json!(slug), "campaign of {body}");
    let rows = body["variants"]
        .as_array()
        .unwrap_or_else(|| panic!("variants array: {body}"));
    let mut by_variant = BTreeMap::new();
    for row in rows {
        let variant = match &row["variant"] {
            Value::Null => None,
            Value::String(v) => Some(v.clone()),
            other => panic!("variant is neither a string nor null: {other} in {body}"),
        };
        assert!(
            by_variant.insert(variant, row.clone()).is_none(),
            "variant listed twice: {body}"
        );
    }
    by_variant
}

fn stats_row<'a>(stats: &'a BTreeMap<Option<String>, Value>, variant: Option<&str>) -> &'a Value {
    stats
        .get(&variant.map(str::to_owned))
        .unwrap_or_else(|| panic!("no row for variant {variant:?} in {stats:?}"))
}

/// Asserts a stats row: counts, rate (`None` = null) and scan URL.
fn assert_stats(
    app: &TestApp,
    row: &Value,
    variant: Option<&str>,
    [scans, views, leads]: [u64; 3],
    pct: Option<f64>,
) {
    assert_eq!(row["scans"], json!(scans), "scans of {variant:?}: {row}");
    assert_eq!(
        row["form_views"],
        json!(views),
        "form_views of {variant:?}: {row}"
    );
    assert_eq!(row["leads"], json!(leads), "leads of {variant:?}: {row}");
    match pct {
        Some(pct) => assert_eq!(
            row["scan_to_lead_pct"].as_f64(),
            Some(pct),
            "scan_to_lead_pct of {variant:?}: {row}"
        ),
        None => assert!(
            row["scan_to_lead_pct"].is_null(),
            "scan_to_lead_pct of {variant:?} should be null: {row}"
        ),
    }
    let url = match variant {
        Some(v) => app.url(&format!("/q/expo?v={v}")),
        None => app.url("/q/expo"),
    };
    assert_eq!(
        row["scan_url"],
        json!(url),
        "scan_url of {variant:?}: {row}"
    );
}

/// Asserts a 422 colour rejection with `code` on `fg` or `bg`.
async fn assert_colour_error(resp: Response, code: &str, what: &str) {
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["error"]["code"], json!(code), "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: error.message missing: {body}"
    );
    let field = body["error"]["field"].as_str();
    assert!(
        matches!(field, Some("fg" | "bg")),
        "{what}: error.field should name fg or bg: {body}"
    );
}

/// Today's date in the reporting time zone, with a day either side (so a scan made just
/// before midnight still falls in the range when the report is read after it).
fn around_today() -> (String, String) {
    let today = jiff::Timestamp::now()
        .in_tz("Asia/Shanghai")
        .expect("Asia/Shanghai")
        .date();
    (
        today.yesterday().unwrap().to_string(),
        today.tomorrow().unwrap().to_string(),
    )
}

/// The hidden inputs of a form page, name → value.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    controls(html)
        .into_iter()
        .filter(|t| t.is_hidden())
        .filter_map(|t| {
            let name = t.attr("name")?.to_owned();
            Some((name, t.attr("value").unwrap_or("").to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// GET /q/{slug}.png and .svg: what they encode

#[tokio::test]
async fn png_of_a_variant_decodes_to_its_scan_url() {
    let app = app_with_variants(&[]).await;
    let raster = png_raster(&app, "/q/expo.png?v=booth-a").await;
    assert_eq!((raster.width, raster.height), (512, 512), "default size");
    let code = raster.decode();
    assert_eq!(code.text, app.url("/q/expo?v=booth-a"));
    assert_eq!(code.ecc_level, rqrr_ecc("M"), "default ECC level is M");
}

#[tokio::test]
async fn svg_of_a_variant_rasterises_and_decodes_to_its_scan_url() {
    let app = app_with_variants(&[]).await;
    let raster = svg_raster(&app, "/q/expo.svg?v=booth-a", 600).await;
    let code = raster.decode();
    assert_eq!(code.text, app.url("/q/expo?v=booth-a"));
    assert_eq!(code.ecc_level, rqrr_ecc("M"), "default ECC level is M");
}

#[tokio::test]
async fn images_without_a_variant_encode_the_bare_scan_url() {
    let app = app_with_variants(&[]).await;
    let png = png_raster(&app, "/q/expo.png").await.decode();
    assert_eq!(png.text, app.url("/q/expo"));
    let svg = svg_raster(&app, "/q/expo.svg", 600).await.decode();
    assert_eq!(svg.text, app.url("/q/expo"));
}

#[tokio::test]
async fn coloured_code_is_drawn_in_its_colours_and_decodes() {
    let app = app_with_variants(&[]).await;
    let (fg, bg) = (hex_rgb("1f3a93"), hex_rgb("fffbe6"));
    let url = app.url("/q/expo?v=booth-a");

    // `#` url-encoded on fg, bare hex on bg: both spellings are accepted.
    let png = png_raster(&app, "/q/expo.png?v=booth-a&fg=%231f3a93&bg=fffbe6").await;
    assert_eq!(png.at(0, 0), bg, "the quiet zone is bg");
    assert_eq!(
        png.count(fg) + png.count(bg),
        png.rgb.len(),
        "every pixel of the PNG is fg or bg"
    );
    assert!(png.count(fg) > png.rgb.len() / 20, "fg modules drawn");
    assert_eq!(png.decode().text, url);

    let svg = svg_raster(&app, "/q/expo.svg?v=booth-a&fg=1f3a93&bg=%23fffbe6", 600).await;
    assert_eq!(svg.at(0, 0), bg, "the quiet zone is bg");
    assert!(svg.count(fg) > svg.rgb.len() / 20, "fg modules drawn");
    assert_eq!(svg.decode().text, url);
}

#[tokio::test]
async fn three_digit_colours_are_expanded() {
    let app = app_with_variants(&[]).await;
    let png = png_raster(&app, "/q/expo.png?fg=%23123&bg=ffe").await;
    let (fg, bg) = (hex_rgb("112233"), hex_rgb("ffffee"));
    assert_eq!(png.at(0, 0), bg);
    assert_eq!(png.count(fg) + png.count(bg), png.rgb.len());
    assert!(png.count(fg) > 0, "fg #123 is #112233");
    assert_eq!(png.decode().text, app.url("/q/expo"));
}

#[tokio::test]
async fn ecc_h_at_size_200_decodes() {
    let app = app_with_variants(&[]).await;
    let raster = png_raster(&app, "/q/expo.png?v=booth-a&ecc=H&size=200").await;
    assert_eq!((raster.width, raster.height), (200, 200));
    let code = raster.decode();
    assert_eq!(code.text, app.url("/q/expo?v=booth-a"));
    assert_eq!(code.ecc_level, rqrr_ecc("H"));
}

#[tokio::test]
async fn every_ecc_level_is_encoded_as_asked() {
    let app = app_with_variants(&[]).await;
    let url = app.url("/q/expo?v=poster");
    let mut versions = Vec::new();
    for level in ["L", "M", "Q", "H"] {
        let png = png_raster(&app, &format!("/q/expo.png?v=poster&ecc={level}"))
            .await
            .decode();
        assert_eq!(png.text, url, "PNG ecc={level}");
        assert_eq!(png.ecc_level, rqrr_ecc(level), "PNG ecc={level}");
        let svg = svg_raster(&app, &format!("/q/expo.svg?v=poster&ecc={level}"), 600)
            .await
            .decode();
        assert_eq!(svg.text, url, "SVG ecc={level}");
        assert_eq!(svg.ecc_level, rqrr_ecc(level), "SVG ecc={level}");
        versions.push(png.version);
    }
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "more error correction never needs a smaller code: versions {versions:?} for L, M, Q, H"
    );
}

#[tokio::test]
async fn png_edge_is_exactly_the_size_asked_for() {
    let app = app_with_variants(&[]).await;
    for size in [64, 100, 333, 512, 1000, 4096] {
        let body = image(&app, &format!("/q/expo.png?v=booth-a&size={size}")).await;
        let reader = png::Decoder::new(std::io::Cursor::new(&body))
            .read_info()
            .expect("PNG header");
        let info = reader.info();
        assert_eq!((info.width, info.height), (size, size), "size={size}");
    }
    // Small but still readable.
    let raster = png_raster(&app, "/q/expo.png?v=booth-a&size=150").await;
    assert_eq!(raster.decode().text, app.url("/q/expo?v=booth-a"));
}

#[tokio::test]
async fn margin_is_the_quiet_zone_in_modules() {
    let app = app_with_variants(&[]).await;
    let url = app.url("/q/expo?v=booth-a");

    // PNG: whole pixels per module, the code centred, so the quiet zone is at least `margin`.
    for (query, margin) in [
        ("", 4.0),
        ("&margin=1", 1.0),
        ("&margin=4", 4.0),
        ("&margin=16&size=1024", 16.0),
    ] {
        let raster = png_raster(&app, &format!("/q/expo.png?v=booth-a{query}")).await;
        let code = raster.decode();
        assert_eq!(code.text, url, "PNG {query}");
        for (side, zone) in raster.quiet_zone(code.version).into_iter().enumerate() {
            assert!(
                zone >= margin - 0.01,
                "PNG {query}: quiet zone on side {side} is {zone:.2} modules, want ≥ {margin}"
            );
        }
    }

    // SVG: drawn in module units, so the quiet zone is the margin itself.
    for margin in [0u32, 2, 4, 16] {
        let query = format!("/q/expo.svg?v=booth-a&margin={margin}");
        let raster = svg_raster(&app, &query, 800).await;
        // rqrr needs a little quiet zone of its own; the version is the same at every margin.
        let version = if margin == 0 {
            svg_raster(&app, "/q/expo.svg?v=booth-a", 800)
                .await
                .decode()
                .version
        } else {
            let code = raster.decode();
            assert_eq!(code.text, url, "{query}");
            code.version
        };
        for (side, zone) in raster.quiet_zone(version).into_iter().enumerate() {
            assert!(
                (zone - f64::from(margin)).abs() < 0.5,
                "{query}: quiet zone on side {side} is {zone:.2} modules"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GET /q/{slug}.png and .svg: rejections, caching

#[tokio::test]
async fn bad_image_parameters_are_422_naming_the_field() {
    let app = app_with_variants(&[]).await;
    let long_variant = "a".repeat(33);
    let cases: Vec<(String, &str)> = vec![
        ("size=63".into(), "size"),
        ("size=4097".into(), "size"),
        ("size=0".into(), "size"),
        ("size=-512".into(), "size"),
        ("size=abc".into(), "size"),
        ("size=512.5".into(), "size"),
        ("ecc=X".into(), "ecc"),
        ("ecc=LM".into(), "ecc"),
        ("fg=red".into(), "fg"),
        ("fg=12345".into(), "fg"),
        ("fg=%2312345g".into(), "fg"),
        ("bg=ggg".into(), "bg"),
        ("bg=1234567".into(), "bg"),
        ("margin=17".into(), "margin"),
        ("margin=-1".into(), "margin"),
        ("margin=x".into(), "margin"),
        ("v=Booth-A".into(), "v"),
        (format!("v={long_variant}"), "v"),
        ("v=a%20b".into(), "v"),
        (format!("v={}", encode("展位")), "v"),
        ("v=a.b".into(), "v"),
    ];
    for ext in ["png", "svg"] {
        for (query, field) in &cases {
            let path = format!("/q/expo.{ext}?{query}");
            let resp = app.get(&path).await;
            let (status, body) = json_body(resp).await;
            assert_eq!(status, 422, "GET {path}: {body}");
            assert_eq!(body["error"]["field"], json!(field), "GET {path}: {body}");
            assert!(
                body["error"]["code"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty()),
                "GET {path}: error.code: {body}"
            );
        }
    }
}

#[tokio::test]
async fn codes_that_would_not_scan_are_refused() {
    let app = app_with_variants(&[]).await;
    for ext in ["png", "svg"] {
        for (query, code) in [
            ("fg=ffffff&bg=000000", "inverted_colours"),
            ("fg=fff&bg=000", "inverted_colours"),
            ("fg=fffbe6&bg=1f3a93", "inverted_colours"),
            ("fg=999999&bg=ffffff", "low_contrast"),
            ("fg=999&bg=fff", "low_contrast"),
            ("fg=aaaaaa", "low_contrast"),
            ("bg=555555", "low_contrast"),
            ("fg=123456&bg=123456", "low_contrast"),
        ] {
            let path = format!("/q/expo.{ext}?{query}");
            assert_colour_error(app.get(&path).await, code, &format!("GET {path}")).await;
        }
        // Enough contrast, fg darker: fine.
        image(&app, &format!("/q/expo.{ext}?fg=595959&bg=ffffff")).await;
    }
}

#[tokio::test]
async fn image_of_unknown_campaign_is_404() {
    let app = app_with_variants(&[]).await;
    for path in ["/q/nope.png", "/q/nope.svg", "/q/nope.png?v=booth-a"] {
        let (status, body) = json_body(app.get(path).await).await;
        assert_eq!(status, 404, "GET {path}: {body}");
        assert!(
            body["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "GET {path}: JSON error expected: {body}"
        );
    }
}

#[tokio::test]
async fn images_have_etags_and_revalidate_with_304() {
    let app = app_with_variants(&[]).await;
    for ext in ["png", "svg"] {
        let base = format!("/q/expo.{ext}?v=booth-a&size=300");
        let first = app.get(&base).await;
        assert_eq!(first.status(), 200, "GET {base}");
        assert_eq!(
            header(&first, "cache-control").as_deref(),
            Some("public, max-age=86400"),
            "GET {base}: Cache-Control"
        );
        let etag = header(&first, "etag").unwrap_or_else(|| panic!("GET {base}: no ETag"));
        assert!(!etag.is_empty());
        let second = app.get(&base).await;
        assert_eq!(
            header(&second, "etag").as_deref(),
            Some(etag.as_str()),
            "GET {base}: ETag is stable"
        );

        let mut seen = BTreeSet::from([etag.clone()]);
        for other in [
            format!("/q/expo.{ext}?v=poster&size=300"),
            format!("/q/expo.{ext}?size=300"),
            format!("/q/expo.{ext}?v=booth-a&size=301"),
            format!("/q/expo.{ext}?v=booth-a&size=300&ecc=H"),
            format!("/q/expo.{ext}?v=booth-a&size=300&fg=1f3a93"),
            format!("/q/expo.{ext}?v=booth-a&size=300&bg=fffbe6"),
            format!("/q/expo.{ext}?v=booth-a&size=300&margin=2"),
        ] {
            let resp = app.get(&other).await;
            assert_eq!(resp.status(), 200, "GET {other}");
            let tag = header(&resp, "etag").unwrap_or_else(|| panic!("GET {other}: no ETag"));
            assert!(
                seen.insert(tag.clone()),
                "GET {other}: ETag {tag} repeats another query's"
            );
        }

        let revalidated = app
            .client
            .get(app.url(&base))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 304, "GET {base} If-None-Match {etag}");
        assert!(
            revalidated.bytes().await.unwrap().is_empty(),
            "304 has no body"
        );

        let stale = app
            .client
            .get(app.url(&base))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "GET {base} with a stale ETag");
        assert!(!stale.bytes().await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// GET /q/{slug}: the scan entry

#[tokio::test]
async fn scan_redirects_to_the_form_with_qr_tags() {
    let app = app_with_variants(&[]).await;
    scan(&app, "expo", Some("booth-a")).await;
    scan(&app, "expo", Some("poster_2")).await;
    scan(&app, "expo", None).await;
}

#[tokio::test]
async fn scan_of_unknown_campaign_is_404() {
    let app = app_with_variants(&[]).await;
    for path in ["/q/nope", "/q/nope?v=booth-a"] {
        assert_eq!(app.get(path).await.status(), 404, "GET {path}");
    }
}

#[tokio::test]
async fn scan_with_a_bad_variant_is_422_and_not_counted() {
    let app = app_with_variants(&[]).await;
    let long_variant = "a".repeat(33);
    for v in [
        "Booth-A".to_owned(),
        long_variant,
        "a%20b".to_owned(),
        encode("展位"),
        "a.b".to_owned(),
        "a%2Fb".to_owned(),
    ] {
        let path = format!("/q/expo?v={v}");
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), 422, "GET {path}");
        assert!(
            resp.headers().get("location").is_none(),
            "GET {path}: a rejected scan does not redirect"
        );
    }
    let stats = qr_stats(&app, "expo").await;
    for (variant, row) in &stats {
        assert_eq!(
            row["scans"],
            json!(0),
            "{variant:?} counted a rejected scan"
        );
    }
    let row = app.roi("").await;
    assert_eq!(roi_row(&row, "expo")["scans"], json!(0), "ROI scans");
    // The longest valid variant is fine.
    scan(&app, "expo", Some(&"a".repeat(32))).await;
}

/// Issue 5, must show: a scan followed end to end into a lead, counted once per request.
#[tokio::test]
async fn scan_followed_to_a_lead_is_counted_once_per_request() {
    let app = app_with_variants(&["booth-a"]).await;
    let before = qr_stats(&app, "expo").await;
    assert_stats(
        &app,
        stats_row(&before, Some("booth-a")),
        Some("booth-a"),
        [0, 0, 0],
        None,
    );

    // Scan → 302 → the form (one form view) → submit as a browser does.
    let target = scan(&app, "expo", Some("booth-a")).await;
    let resp = app.get(&target).await;
    assert_eq!(resp.status(), 200, "GET {target}");
    let html = resp.text().await.unwrap();
    let hidden = hidden_fields(&html);
    let hidden_value = |name: &str| {
        hidden
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(hidden_value("utm_source"), Some("qr"), "hidden: {hidden:?}");
    assert_eq!(hidden_value("utm_medium"), Some("offline"));
    assert_eq!(hidden_value("utm_campaign"), Some("expo"));
    assert_eq!(hidden_value("utm_content"), Some("booth-a"));
    let mut fields: Vec<(&str, &str)> = hidden
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    fields.extend([
        ("name", "扫码访客"),
        ("phone", "13800138000"),
        ("consent", "on"),
    ]);
    let resp = app.submit_form("expo", &fields).await;
    assert_eq!(resp.status(), 303, "browser submission after a scan");

    let lead = app.single_lead("expo").await;
    assert_eq!(lead["source"], "qr", "lead: {lead}");
    assert_eq!(lead["phone"], "+8613800138000", "lead: {lead}");
    assert_eq!(utm(&lead, "utm_source"), Some("qr"), "lead: {lead}");
    assert_eq!(utm(&lead, "utm_medium"), Some("offline"), "lead: {lead}");
    assert_eq!(utm(&lead, "utm_campaign"), Some("expo"), "lead: {lead}");
    assert_eq!(utm(&lead, "utm_content"), Some("booth-a"), "lead: {lead}");

    let stats = qr_stats(&app, "expo").await;
    assert_stats(
        &app,
        stats_row(&stats, Some("booth-a")),
        Some("booth-a"),
        [1, 1, 1],
        Some(100.0),
    );
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], json!(1));

    // Two more scans, not followed: exactly one count each.
    scan(&app, "expo", Some("booth-a")).await;
    scan(&app, "expo", Some("booth-a")).await;
    let stats = qr_stats(&app, "expo").await;
    assert_stats(
        &app,
        stats_row(&stats, Some("booth-a")),
        Some("booth-a"),
        [3, 1, 1],
        Some(33.33),
    );
    let (from, to) = around_today();
    let report = app.roi(&format!("from={from}&to={to}")).await;
    let row = roi_row(&report, "expo");
    assert_eq!(row["scans"], json!(3), "ROI row: {row}");
    assert_eq!(row["leads"], json!(1), "ROI row: {row}");
}

#[tokio::test]
async fn concurrent_scans_are_each_counted() {
    let app = app_with_variants(&[]).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let client = app.client.clone();
        let v = if i % 2 == 0 { "booth-a" } else { "poster" };
        let url = app.url(&format!("/q/expo?v={v}"));
        tasks.push(tokio::spawn(async move {
            client
                .get(url)
                .header("user-agent", format!("Mozilla/5.0 (Android) phone-{i}"))
                .send()
                .await
                .expect("scan")
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 302);
    }
    let stats = qr_stats(&app, "expo").await;
    assert_eq!(stats_row(&stats, Some("booth-a"))["scans"], json!(12));
    assert_eq!(stats_row(&stats, Some("poster"))["scans"], json!(12));
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], json!(24));
}

#[tokio::test]
async fn replayed_submission_after_a_scan_counts_one_lead() {
    let app = app_with_variants(&[]).await;
    let target = scan(&app, "expo", Some("booth-a")).await;
    let html = app.get(&target).await.text().await.unwrap();
    let mut body = json!({"phone": "13800138005", "consent": true});
    for (name, value) in hidden_fields(&html) {
        body[name] = json!(value);
    }
    assert!(body["_token"].is_string(), "form token on the page: {body}");
    let first = app.submit_json_ok("expo", &body).await;
    let (status, replay) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(status, 200, "replay of the same _token: {replay}");
    assert_eq!(replay["lead_id"], json!(first));
    let lead = app.single_lead("expo").await;
    assert_eq!(lead["source"], "qr", "lead: {lead}");
    let stats = qr_stats(&app, "expo").await;
    assert_stats(
        &app,
        stats_row(&stats, Some("booth-a")),
        Some("booth-a"),
        [1, 1, 1],
        Some(100.0),
    );
}

#[tokio::test]
async fn json_submission_with_qr_tags_is_a_qr_lead_of_its_variant() {
    let app = app_with_variants(&[]).await;
    scan(&app, "expo", Some("poster")).await;
    let body = json!({
        "phone": "13800138001",
        "consent": true,
        "utm_source": "qr",
        "utm_medium": "offline",
        "utm_campaign": "expo",
        "utm_content": "poster",
    });
    app.submit_json_ok("expo", &body).await;
    let lead = app.single_lead("expo").await;
    assert_eq!(lead["source"], "qr", "lead: {lead}");
    assert_eq!(utm(&lead, "utm_content"), Some("poster"), "lead: {lead}");
    let stats = qr_stats(&app, "expo").await;
    assert_stats(
        &app,
        stats_row(&stats, Some("poster")),
        Some("poster"),
        [1, 0, 1],
        Some(100.0),
    );
}

#[tokio::test]
async fn qr_stats_list_configured_and_scanned_variants() {
    let app = app_with_variants(&["booth-a", "poster", "brochure"]).await;
    for v in [
        Some("booth-a"),
        Some("booth-a"),
        Some("poster"),
        None,
        Some("flyer"),
        Some("flyer"),
        Some("flyer"),
    ] {
        scan(&app, "expo", v).await;
    }
    // Two flyer leads (3 scans → 66.67 %), and traffic that is not from a QR code.
    for phone in ["13800138002", "13800138003"] {
        let body = json!({
            "phone": phone, "consent": true, "utm_source": "qr", "utm_medium": "offline",
            "utm_campaign": "expo", "utm_content": "flyer",
        });
        app.submit_json_ok("expo", &body).await;
    }
    app.form_page("expo").await;
    app.get("/f/expo?utm_source=baidu&utm_content=booth-a")
        .await
        .text()
        .await
        .unwrap();
    let body = json!({"phone": "13800138004", "consent": true, "utm_source": "baidu",
        "utm_content": "booth-a"});
    app.submit_json_ok("expo", &body).await;

    let stats = qr_stats(&app, "expo").await;
    let variants: BTreeSet<Option<&str>> = stats.keys().map(Option::as_deref).collect();
    let want: BTreeSet<Option<&str>> = [
        Some("booth-a"),
        Some("poster"),
        Some("brochure"),
        Some("flyer"),
        None,
    ]
    .into();
    assert_eq!(variants, want, "variants of {stats:?}");
    let row = |v| stats_row(&stats, v);
    assert_stats(
        &app,
        row(Some("booth-a")),
        Some("booth-a"),
        [2, 0, 0],
        Some(0.0),
    );
    assert_stats(
        &app,
        row(Some("poster")),
        Some("poster"),
        [1, 0, 0],
        Some(0.0),
    );
    assert_stats(
        &app,
        row(Some("brochure")),
        Some("brochure"),
        [0, 0, 0],
        None,
    );
    assert_stats(
        &app,
        row(Some("flyer")),
        Some("flyer"),
        [3, 0, 2],
        Some(66.67),
    );
    assert_stats(&app, row(None), None, [1, 0, 0], Some(0.0));
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], json!(7));
}

#[tokio::test]
async fn qr_stats_need_the_token_and_a_known_campaign() {
    let app = app_with_variants(&["booth-a"]).await;
    let resp = app.get("/api/campaigns/expo/qr").await;
    assert_error(resp, 401, None).await;
    let resp = app
        .client
        .get(app.url("/api/campaigns/expo/qr"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, body) = json_body(app.admin_get("/api/campaigns/nope/qr").await).await;
    assert_eq!(status, 404, "unknown campaign: {body}");
}

#[tokio::test]
async fn roi_scans_count_in_their_date_range_and_campaign() {
    let app = app_with_variants(&[]).await;
    app.create_campaign("other", json!({})).await;
    for v in [Some("booth-a"), None, Some("poster")] {
        scan(&app, "expo", v).await;
    }
    let (from, to) = around_today();
    let report = app.roi(&format!("from={from}&to={to}")).await;
    assert_eq!(roi_row(&report, "expo")["scans"], json!(3));
    assert_eq!(roi_row(&report, "other")["scans"], json!(0));
    let past = app.roi("from=2000-01-01&to=2000-01-31").await;
    assert_eq!(roi_row(&past, "expo")["scans"], json!(0), "{past}");
}

// ---------------------------------------------------------------------------------------------
// GET /admin/campaigns/{slug}/qr: the printable sheet

#[tokio::test]
async fn print_sheet_needs_basic_auth() {
    let app = app_with_variants(&["booth-a"]).await;
    let resp = app.get("/admin/campaigns/expo/qr").await;
    assert_eq!(resp.status(), 401);
    let challenge = header(&resp, "www-authenticate").expect("WWW-Authenticate header");
    assert!(
        challenge.to_ascii_lowercase().starts_with("basic"),
        "WWW-Authenticate: {challenge}"
    );
    let resp = app
        .client
        .get(app.url("/admin/campaigns/expo/qr"))
        .basic_auth("admin", Some("wrong-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "wrong password");
}

#[tokio::test]
async fn print_sheet_has_a_scannable_card_per_variant() {
    let app = app_with_variants(&["booth-a", "poster"]).await;
    scan(&app, "expo", Some("flyer")).await;
    scan(&app, "expo", Some("booth-a")).await;
    let resp = app
        .client
        .get(app.url("/admin/campaigns/expo/qr"))
        .basic_auth("any-user", Some(&app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("text/html"));
    let html = resp.text().await.unwrap();

    let svgs: Vec<&str> = html
        .match_indices("<svg")
        .map(|(start, _)| {
            let end = html[start..].find("</svg>").expect("closed <svg>") + "</svg>".len();
            &html[start..start + end]
        })
        .collect();
    assert_eq!(svgs.len(), 3, "one card each for booth-a, poster and flyer");

    let urls: BTreeSet<String> = ["booth-a", "poster", "flyer"]
        .iter()
        .map(|v| app.url(&format!("/q/expo?v={v}")))
        .collect();
    let text = visible_text(&html);
    assert!(text.contains("活动 expo"), "campaign name on the sheet");
    for url in &urls {
        assert!(text.contains(url.as_str()), "{url} printed on the sheet");
    }
    let decoded: BTreeSet<String> = svgs
        .iter()
        .map(|svg| Raster::from_svg(svg, 600).decode().text)
        .collect();
    assert_eq!(decoded, urls, "each card's code scans to its variant");

    let resp = app
        .client
        .get(app.url("/admin/campaigns/nope/qr"))
        .basic_auth("any-user", Some(&app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn print_sheet_escapes_the_campaign_name() {
    let app = spawn_app().await;
    let name = "<script>alert(1)</script> & 展会";
    app.create_campaign("expo", json!({"name": name, "qr_variants": ["booth-a"]}))
        .await;
    let resp = app
        .client
        .get(app.url("/admin/campaigns/expo/qr"))
        .basic_auth("any-user", Some(&app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("<script>alert(1)"),
        "campaign name reflected raw"
    );
    assert!(visible_text(&html).contains(name), "campaign name shown");
}

// ---------------------------------------------------------------------------------------------
// Properties

fn deterministic_runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// Any valid variant reaches the form's `utm_content` and is what its code encodes; anything
/// else is a 422.
#[test]
fn any_valid_variant_round_trips_and_any_other_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(app_with_variants(&[]));

    deterministic_runner(24)
        .run(&"[a-z0-9_-]{1,32}", |v| {
            rt.block_on(async {
                scan(&app, "expo", Some(&v)).await;
                let raster = png_raster(&app, &format!("/q/expo.png?v={v}&size=300&ecc=L")).await;
                let text = raster.decode().text;
                let want = app.url(&format!("/q/expo?v={v}"));
                if text != want {
                    return Err(TestCaseError::fail(format!("decoded {text}, want {want}")));
                }
                Ok(())
            })
        })
        .unwrap();

    deterministic_runner(24)
        .run(
            &"([a-z0-9_-]{0,8}[A-Z .~!/?&#%+=:@\u{e9}\u{5c55}][a-z0-9_-]{0,8}|[a-z0-9_-]{33,40})",
            |v| {
                rt.block_on(async {
                    for path in [
                        format!("/q/expo?v={}", encode(&v)),
                        format!("/q/expo.png?v={}", encode(&v)),
                    ] {
                        let status = app.get(&path).await.status();
                        if status != 422 {
                            return Err(TestCaseError::fail(format!("GET {path}: {status}")));
                        }
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

const WECHAT_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN";
const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

/// A scan as a phone sends it: `method` with `user_agent` (none: no header); asserts 302.
async fn scan_as(app: &TestApp, method: reqwest::Method, path: &str, user_agent: Option<&str>) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(agent) = user_agent {
        request = request.header("user-agent", agent);
    }
    let resp = request.send().await.expect("scan");
    assert_eq!(resp.status(), 302, "{path} as {user_agent:?}");
}

#[tokio::test]
async fn scans_are_told_by_app_os_hour_day_and_placement_without_repeats_or_crawlers() {
    // 01:30 UTC is 09:30 in Shanghai, the reporting zone.
    let at: jiff::Timestamp = "2026-03-12T01:30:00Z".parse().unwrap();
    let app = crate::helpers::spawn_app_with(move |c| {
        c.tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        c.clock = leadgate::clock::Clock::new(move || at);
    })
    .await;
    app.create_campaign("expo", json!({"qr_variants": ["booth-a"]}))
        .await;
    let before = crate::console::page(&app, "/admin/campaigns/expo").await;
    assert!(
        !before.contains("扫码所用 App"),
        "no chart before the first scan"
    );
    let get = reqwest::Method::GET;
    scan_as(&app, get.clone(), "/q/expo?v=booth-a", Some(WECHAT_IPHONE)).await;
    // WeChat fetches the link twice: one scan. The same phone at another placement is one more.
    scan_as(&app, get.clone(), "/q/expo?v=booth-a", Some(WECHAT_IPHONE)).await;
    scan_as(&app, get.clone(), "/q/expo?v=poster", Some(WECHAT_IPHONE)).await;
    scan_as(&app, get.clone(), "/q/expo", Some(SAFARI_MAC)).await;
    scan_as(&app, get.clone(), "/q/expo", None).await;
    // Redirected, not counted: a HEAD, crawlers and scripts.
    scan_as(
        &app,
        reqwest::Method::HEAD,
        "/q/expo?v=booth-a",
        Some(SAFARI_MAC),
    )
    .await;
    for bot in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "curl/8.5.0",
        "python-requests/2.31.0",
    ] {
        scan_as(&app, get.clone(), "/q/expo?v=booth-a", Some(bot)).await;
    }

    let (status, shown) = json_body(app.admin_get("/api/campaigns/expo/scans").await).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["scans"], 4, "{shown}");
    assert_eq!(
        shown["by_app"],
        json!({"wecom": 0, "wechat": 2, "dingtalk": 0, "feishu": 0, "alipay": 0, "douyin": 0,
            "qq": 0, "weibo": 0, "baidu": 0, "browser": 1, "other": 1})
    );
    assert_eq!(
        shown["by_os"],
        json!({"ios": 2, "android": 0, "harmonyos": 0, "windows": 0, "macos": 1, "linux": 0,
            "other": 1})
    );
    let mut hours = vec![0; 24];
    hours[9] = 4;
    assert_eq!(shown["by_hour"], json!(hours));
    assert_eq!(shown["by_day"], json!([{"day": "2026-03-12", "scans": 4}]));
    assert_eq!(
        shown["by_variant"],
        json!({"": 2, "booth-a": 1, "poster": 1})
    );
    // The ROI summary counts the same scans, and the campaign's console page charts them.
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], 4);
    let html = crate::console::page(&app, "/admin/campaigns/expo").await;
    for shown in [
        "扫码所用 App",
        "微信",
        "浏览器",
        "扫码时段（报表时区）",
        "09:00",
    ] {
        assert!(html.contains(shown), "{shown} on the campaign page");
    }
    let english = crate::console::page(&app, "/admin/campaigns/expo?lang=en").await;
    assert!(english.contains("Scans by app") && english.contains("WeChat"));

    let (_, later) = json_body(
        app.admin_get("/api/campaigns/expo/scans?from=2026-03-13")
            .await,
    )
    .await;
    assert_eq!(
        (later["scans"].clone(), later["by_day"].clone()),
        (json!(0), json!([]))
    );
    let (_, within) = json_body(
        app.admin_get("/api/campaigns/expo/scans?from=2026-03-12&to=2026-03-12")
            .await,
    )
    .await;
    assert_eq!(within["scans"], 4);
    let backwards = app
        .admin_get("/api/campaigns/expo/scans?from=2026-03-12&to=2026-03-11")
        .await;
    assert_error(backwards, 422, Some("to")).await;
    assert_error(
        app.admin_get("/api/campaigns/expo/scans?from=yesterday")
            .await,
        422,
        Some("from"),
    )
    .await;
    assert_eq!(
        app.admin_get("/api/campaigns/expo/scans?model=linear")
            .await
            .status(),
        422,
        "an unknown parameter"
    );
    assert_eq!(
        app.admin_get("/api/campaigns/nope/scans").await.status(),
        404
    );
    assert_eq!(app.get("/api/campaigns/expo/scans").await.status(), 401);
}

impl TestApp {
    async fn admin_put(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(crate::helpers::TOKEN)
            .json(body)
            .send()
            .await
            .expect("PUT request")
    }
}

/// Scans the code as a new phone; returns the redirect's `Location`.
async fn scan_location(app: &TestApp, path: &str, phone: usize) -> String {
    let resp = app
        .client
        .get(app.url(path))
        .header(
            "user-agent",
            format!("Mozilla/5.0 (iPhone) MicroMessenger/8.0 phone-{phone}"),
        )
        .send()
        .await
        .expect("scan");
    assert_eq!(resp.status(), 302, "{path}");
    location(&resp)
}

#[tokio::test]
async fn a_printed_code_can_be_pointed_elsewhere_and_keeps_its_history() {
    let app = app_with_variants(&["booth-a"]).await;
    app.create_campaign("live", json!({})).await;
    let code = "/api/campaigns/expo/qr/booth-a";
    let (status, shown) = json_body(app.admin_get(code).await).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown,
        json!({"campaign": "expo", "variant": "booth-a", "target": "form", "targets": []})
    );

    // Another campaign's form: the scan counts for the code, the view and the lead there.
    let (status, shown) = json_body(
        app.admin_put(code, &json!({"target": "campaign:live"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["target"], "campaign:live");
    assert_eq!(shown["targets"][0]["target"], "campaign:live");
    assert!(shown["targets"][0]["since"].is_string(), "{shown}");
    let tags = "utm_source=qr&utm_medium=offline&utm_campaign=expo&utm_content=booth-a";
    let to_live = scan_location(&app, "/q/expo?v=booth-a", 1).await;
    assert!(to_live.ends_with(&format!("/f/live?{tags}")), "{to_live}");
    assert_eq!(app.get(&format!("/f/live?{tags}")).await.status(), 200);
    let mut fields = vec![
        ("name", "张三"),
        ("phone", "13800138000"),
        ("consent", "on"),
        ("_token", "t-live"),
    ];
    fields.extend(tags.split('&').map(|pair| pair.split_once('=').unwrap()));
    assert_eq!(app.submit_form("live", &fields).await.status(), 303);
    let report = app.roi("").await;
    assert_eq!(roi_row(&report, "expo")["scans"], 1);
    assert_eq!(roi_row(&report, "live")["form_views"], 1);
    assert_eq!(roi_row(&report, "live")["leads"], 1);
    let lead = app.single_lead("live").await;
    assert_eq!(lead["utm"]["utm_campaign"], "expo", "{lead}");
    assert_eq!(lead["utm"]["utm_content"], "booth-a", "{lead}");

    // An outside page keeps its query and gets the tags it lacks.
    app.admin_put(
        code,
        &json!({"target": "https://shop.example.com/p?ref=x&utm_source=poster"}),
    )
    .await;
    assert_eq!(
        scan_location(&app, "/q/expo?v=booth-a", 2).await,
        "https://shop.example.com/p?ref=x&utm_source=poster&utm_medium=offline&utm_campaign=expo&utm_content=booth-a"
    );
    // The same target again is no change; back to the form is one.
    app.admin_put(
        code,
        &json!({"target": "https://shop.example.com/p?ref=x&utm_source=poster"}),
    )
    .await;
    let (_, shown) = json_body(app.admin_put(code, &json!({"target": "form"})).await).await;
    let history: Vec<&str> = shown["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "campaign:live",
            "https://shop.example.com/p?ref=x&utm_source=poster",
            "form"
        ]
    );
    assert!(
        scan_location(&app, "/q/expo?v=booth-a", 3)
            .await
            .ends_with(&format!("/f/expo?{tags}"))
    );
    let (_, again) = json_body(app.admin_get(code).await).await;
    assert_eq!(again, shown, "GET shows what PUT answered");
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], 3);

    // Refused: not https, script, a user name, an unknown campaign, other fields.
    for (body, field) in [
        (json!({"target": "http://shop.example.com/"}), "target"),
        (json!({"target": "javascript:alert(1)"}), "target"),
        (
            json!({"target": "https://me:pw@shop.example.com/"}),
            "target",
        ),
        (json!({"target": "campaign:nope"}), "target"),
        (json!({"target": 7}), "target"),
        (json!({}), "target"),
        (json!({"target": "form", "note": "x"}), "note"),
    ] {
        assert_error(app.admin_put(code, &body).await, 422, Some(field)).await;
    }
    assert_eq!(
        app.admin_put("/api/campaigns/expo/qr/made-up", &json!({"target": "form"}))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.admin_get("/api/campaigns/expo/qr/made-up")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.admin_get("/api/campaigns/nope/qr/booth-a")
            .await
            .status(),
        404
    );
    let anonymous = app
        .client
        .put(app.url(code))
        .json(&json!({"target": "form"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_code_pointed_at_an_ended_campaign_still_counts_and_says_so_also_after_a_restart() {
    let app = app_with_variants(&["booth-a"]).await;
    app.create_campaign("live", json!({})).await;
    app.admin_put(
        "/api/campaigns/expo/qr/booth-a",
        &json!({"target": "campaign:live"}),
    )
    .await;
    let resp = app
        .admin_patch("/api/campaigns/live", &json!({"status": "ended"}))
        .await;
    assert_eq!(resp.status(), 200);
    let dir = app.stop().await;
    let app = crate::helpers::spawn_app_in(dir, |_| {}).await;
    let to_live = scan_location(&app, "/q/expo?v=booth-a", 1).await;
    assert!(to_live.contains("/f/live?"), "{to_live}");
    let page = app
        .get(&to_live[to_live.find("/f/").unwrap()..])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("本活动已结束"), "{page}");
    assert_eq!(roi_row(&app.roi("").await, "expo")["scans"], 1);
}

#[tokio::test]
async fn the_campaign_page_points_a_code_elsewhere_with_its_form_token() {
    use crate::console::{form_token, page, post_form};
    let app = app_with_variants(&["booth-a"]).await;
    app.create_campaign("live", json!({})).await;
    let action = "/admin/campaigns/expo/qr/booth-a";
    let html = page(&app, "/admin/campaigns/expo").await;
    assert!(html.contains("二维码去向"), "the section is shown");
    let token = form_token(&html, action);
    let resp = post_form(
        &app,
        action,
        &[("_csrf", token.as_str()), ("target", "campaign:live")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).ends_with("/admin/campaigns/expo#qr"),
        "{}",
        location(&resp)
    );
    let (_, shown) = json_body(app.admin_get("/api/campaigns/expo/qr/booth-a").await).await;
    assert_eq!(shown["target"], "campaign:live");
    let html = page(&app, "/admin/campaigns/expo").await;
    assert!(
        html.contains(r#"value="campaign:live""#),
        "the form shows the target"
    );
    // A refused target: the console's error page with the API's message; nothing changes.
    let token = form_token(&html, action);
    let refused = post_form(
        &app,
        action,
        &[("_csrf", token.as_str()), ("target", "http://example.com/")],
    )
    .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("https://"));
    // Without the form's token: refused before anything is read.
    let forged = post_form(&app, action, &[("target", "form")]).await;
    assert_eq!(forged.status(), 403);
    let (_, shown) = json_body(app.admin_get("/api/campaigns/expo/qr/booth-a").await).await;
    assert_eq!(shown["target"], "campaign:live");
}
