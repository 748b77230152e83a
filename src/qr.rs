//! QR codes for booths, posters and brochures: PNG and SVG rendering with a chosen size,
//! error correction, colours and quiet zone. Pure: text in, bytes out.

use std::fmt::Write as _;

use qrcode::{EcLevel, QrCode};

use crate::error::{Error, Result};

pub const DEFAULT_SIZE: u32 = 512;
pub const SIZE_RANGE: std::ops::RangeInclusive<u32> = 64..=4096;
/// Quiet zone in modules: the standard asks for 4, and scanners struggle with less.
pub const DEFAULT_MARGIN: u32 = 4;
pub const MAX_MARGIN: u32 = 16;
/// Below this contrast phones fail to read a code in a hall's light (WCAG's 3:1 for graphics).
pub const MIN_CONTRAST: f64 = 3.0;

/// A colour as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    pub const BLACK: Rgb = Rgb([0, 0, 0]);
    pub const WHITE: Rgb = Rgb([255, 255, 255]);

    /// `rrggbb` or `rgb`, with or without a leading `#`.
    pub fn parse(text: &str, field: &str) -> Result<Rgb> {
        let bad = || {
            Error::invalid(
                field,
                "invalid_colour",
                format!("{field} must be a hex colour like 1a2b3c or #fff"),
            )
        };
        let hex = text.trim().trim_start_matches('#');
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let channel = |s: &str| u8::from_str_radix(s, 16).map_err(|_| bad());
        match hex.len() {
            6 => Ok(Rgb([
                channel(&hex[0..2])?,
                channel(&hex[2..4])?,
                channel(&hex[4..6])?,
            ])),
            3 => {
                let short = |i: usize| channel(&hex[i..=i]).map(|v| v * 17);
                Ok(Rgb([short(0)?, short(1)?, short(2)?]))
            }
            _ => Err(bad()),
        }
    }

    /// Relative luminance (WCAG 2), 0 for black to 1 for white.
    pub fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(self.0[0]) + 0.7152 * linear(self.0[1]) + 0.0722 * linear(self.0[2])
    }

    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

/// Contrast ratio of two colours, from 1 (same) to 21 (black on white).
pub fn contrast_ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// How a code is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Edge of the PNG in pixels (the SVG's nominal size).
    pub size: u32,
    pub ecc: EcLevel,
    pub fg: Rgb,
    pub bg: Rgb,
    /// Quiet zone in modules.
    pub margin: u32,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            size: DEFAULT_SIZE,
            ecc: EcLevel::M,
            fg: Rgb::BLACK,
            bg: Rgb::WHITE,
            margin: DEFAULT_MARGIN,
        }
    }
}

impl Style {
    /// Reads `size`, `ecc`, `fg`, `bg` and `margin`; refuses codes that would not scan.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Style> {
        let mut style = Style::default();
        if let Some(text) = get("size") {
            style.size = text
                .trim()
                .parse()
                .ok()
                .filter(|s| SIZE_RANGE.contains(s))
                .ok_or_else(|| {
                    Error::invalid(
                        "size",
                        "invalid_size",
                        format!(
                            "size must be a whole number of pixels from {} to {}",
                            SIZE_RANGE.start(),
                            SIZE_RANGE.end()
                        ),
                    )
                })?;
        }
        if let Some(text) = get("ecc") {
            style.ecc = match text.trim() {
                "L" => EcLevel::L,
                "M" => EcLevel::M,
                "Q" => EcLevel::Q,
                "H" => EcLevel::H,
                _ => {
                    return Err(Error::invalid(
                        "ecc",
                        "invalid_ecc",
                        "ecc must be L, M, Q or H",
                    ));
                }
            };
        }
        if let Some(text) = get("fg") {
            style.fg = Rgb::parse(&text, "fg")?;
        }
        if let Some(text) = get("bg") {
            style.bg = Rgb::parse(&text, "bg")?;
        }
        if let Some(text) = get("margin") {
            style.margin = text
                .trim()
                .parse()
                .ok()
                .filter(|m| *m <= MAX_MARGIN)
                .ok_or_else(|| {
                    Error::invalid(
                        "margin",
                        "invalid_margin",
                        format!("margin must be a whole number of modules from 0 to {MAX_MARGIN}"),
                    )
                })?;
        }
        if style.fg.luminance() > style.bg.luminance() {
            return Err(Error::invalid(
                "fg",
                "inverted_colours",
                "fg must be darker than bg: many scanners cannot read light-on-dark codes",
            ));
        }
        let contrast = contrast_ratio(style.fg, style.bg);
        if contrast < MIN_CONTRAST {
            return Err(Error::invalid(
                "fg",
                "low_contrast",
                format!(
                    "fg and bg contrast only {contrast:.2}:1; a scannable code needs at least {MIN_CONTRAST}:1"
                ),
            ));
        }
        Ok(style)
    }
}

/// The placement a QR visitor came from: `utm_content` when it is a variant name, else ""
/// (the code without a variant). Form views and leads are counted under it.
pub fn variant_of(utm: &std::collections::BTreeMap<String, String>) -> &str {
    utm.get("utm_content")
        .map(String::as_str)
        .filter(|v| is_variant(v))
        .unwrap_or("")
}

/// A variant (placement) name: `[a-z0-9_-]{1,32}`.
pub fn is_variant(text: &str) -> bool {
    (1..=32).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The modules of a code: `dark[y * width + x]`.
struct Matrix {
    width: usize,
    dark: Vec<bool>,
}

fn encode(data: &str, ecc: EcLevel) -> Result<Matrix> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), ecc).map_err(|e| {
        Error::invalid(
            "v",
            "qr_too_long",
            format!("this address does not fit in a QR code: {e}"),
        )
    })?;
    Ok(Matrix {
        width: code.width(),
        dark: code
            .into_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect(),
    })
}

/// A PNG of exactly `style.size` pixels square: whole pixels per module, the code centred.
pub fn png(data: &str, style: &Style) -> Result<Vec<u8>> {
    let matrix = encode(data, style.ecc)?;
    let modules = matrix.width + 2 * style.margin as usize;
    let size = style.size as usize;
    let scale = size / modules;
    if scale == 0 {
        return Err(Error::invalid(
            "size",
            "invalid_size",
            format!("size must be at least {modules} pixels for this code"),
        ));
    }
    let offset = (size - scale * modules) / 2 + style.margin as usize * scale;
    let row_bytes = size.div_ceil(8);
    // One bit per pixel into a two-colour palette: small files, fast to write.
    let mut pixels = vec![0u8; row_bytes * size];
    for y in 0..matrix.width {
        for x in 0..matrix.width {
            if !matrix.dark[y * matrix.width + x] {
                continue;
            }
            let (left, top) = (offset + x * scale, offset + y * scale);
            for row in top..top + scale {
                let line = &mut pixels[row * row_bytes..(row + 1) * row_bytes];
                for column in left..left + scale {
                    line[column / 8] |= 0x80 >> (column % 8);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(pixels.len() / 8 + 256);
    {
        let mut encoder = png::Encoder::new(&mut out, style.size, style.size);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::One);
        let (bg, fg) = (style.bg.0, style.fg.0);
        encoder.set_palette(vec![bg[0], bg[1], bg[2], fg[0], fg[1], fg[2]]);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::internal(format!("PNG header: {e}")))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| Error::internal(format!("PNG data: {e}")))?;
    }
    Ok(out)
}

/// An SVG in module units (crisp at any print size), `style.size` as its nominal size.
pub fn svg(data: &str, style: &Style) -> Result<String> {
    let matrix = encode(data, style.ecc)?;
    let margin = style.margin as usize;
    let total = matrix.width + 2 * margin;
    let mut path = String::with_capacity(matrix.width * matrix.width);
    for y in 0..matrix.width {
        let mut x = 0;
        while x < matrix.width {
            if !matrix.dark[y * matrix.width + x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < matrix.width && matrix.dark[y * matrix.width + x] {
                x += 1;
            }
            let _ = write!(
                path,
                "M{} {}h{}v1h-{}z",
                start + margin,
                y + margin,
                x - start,
                x - start
            );
        }
    }
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {total} {total}" shape-rendering="crispEdges">"#,
            r#"<rect width="{total}" height="{total}" fill="{bg}"/><path fill="{fg}" d="{path}"/></svg>"#
        ),
        size = style.size,
        total = total,
        bg = style.bg.hex(),
        fg = style.fg.hex(),
        path = path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(pairs: &[(&str, &str)]) -> Result<Style> {
        Style::parse(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn colours_read_like_css_hex() {
        assert_eq!(
            Rgb::parse("#1a2B3c", "fg").unwrap(),
            Rgb([0x1a, 0x2b, 0x3c])
        );
        assert_eq!(Rgb::parse("fff", "bg").unwrap(), Rgb::WHITE);
        for bad in ["", "12345", "ggg", "#12345g", "red"] {
            assert!(Rgb::parse(bad, "fg").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn codes_that_would_not_scan_are_refused() {
        assert!((contrast_ratio(Rgb::BLACK, Rgb::WHITE) - 21.0).abs() < 1e-9);
        assert_eq!(
            style(&[("fg", "fff"), ("bg", "000")]).unwrap_err().code,
            "inverted_colours"
        );
        assert_eq!(
            style(&[("fg", "999999"), ("bg", "ffffff")])
                .unwrap_err()
                .code,
            "low_contrast"
        );
        assert!(style(&[("fg", "1f3a93"), ("bg", "fffbe6")]).is_ok());
        assert_eq!(
            style(&[("size", "63")]).unwrap_err().field.as_deref(),
            Some("size")
        );
        assert_eq!(
            style(&[("size", "4097")]).unwrap_err().field.as_deref(),
            Some("size")
        );
        assert_eq!(
            style(&[("ecc", "X")]).unwrap_err().field.as_deref(),
            Some("ecc")
        );
        assert_eq!(
            style(&[("margin", "17")]).unwrap_err().field.as_deref(),
            Some("margin")
        );
    }

    #[test]
    fn variants_are_short_plain_names() {
        assert!(is_variant("booth-a") && is_variant("poster_2") && is_variant(&"a".repeat(32)));
        for bad in ["", "Booth", "a b", "展位", &"a".repeat(33)] {
            assert!(!is_variant(bad), "{bad:?}");
        }
    }

    #[test]
    fn png_has_the_requested_edge_and_decodes() {
        let url = "http://leads.example.test/q/expo?v=booth-a";
        for size in [64, 300, 512, 1000] {
            let bytes = png(
                url,
                &Style {
                    size,
                    ..Style::default()
                },
            )
            .unwrap();
            let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
            let reader = decoder.read_info().unwrap();
            assert_eq!((reader.info().width, reader.info().height), (size, size));
        }
        assert_eq!(decode_png(&png(url, &Style::default()).unwrap()), url);
    }

    #[test]
    fn svg_uses_the_chosen_colours_and_margin() {
        let svg = svg(
            "x",
            &Style {
                fg: Rgb([0x1f, 0x3a, 0x93]),
                margin: 2,
                ..Style::default()
            },
        )
        .unwrap();
        assert!(svg.contains(r##"fill="#1f3a93""##));
        assert!(
            svg.contains(r#"viewBox="0 0 25 25""#),
            "version 1 is 21 modules + 2×2: {svg}"
        );
    }

    fn decode_png(bytes: &[u8]) -> String {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (frame.width as usize, frame.height as usize);
        let channels = frame.line_size / w;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            buf[y * frame.line_size + x * channels]
        });
        let grids = image.detect_grids();
        grids[0].decode().unwrap().1
    }
}
