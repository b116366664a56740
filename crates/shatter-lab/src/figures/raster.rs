//! Text for raster backends. plotters' `ab_glyph` text drops each glyph's left side bearing
//! (it draws the outline's pixel box at the pen position instead of at the glyph's own bounds)
//! and truncates the pen to whole pixels, so PNG text has uneven gaps ("T r", "M S E") while
//! SVG text, set by the viewer, is fine. [`GlyphText`] wraps a backend and sets text itself:
//! glyphs positioned at sub-pixel pen positions with kerning, each outline drawn at its own
//! bounds, the cap height centred in the line box plotters lays out (the same box as
//! `estimate_text_size`, so chart layout is unchanged).

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters_backend::{
    text_anchor::{HPos, VPos},
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::style::{FAMILY, FONT_BYTES};

/// A backend whose text in the embedded font is set by [`GlyphText`]; everything else goes to
/// the inner backend unchanged. Text in other families is left to the inner backend.
pub(crate) struct GlyphText<DB> {
    inner: DB,
    font: Option<FontRef<'static>>,
}

impl<DB> GlyphText<DB> {
    pub(crate) fn new(inner: DB) -> Self {
        Self {
            inner,
            font: FontRef::try_from_slice(FONT_BYTES).ok(),
        }
    }
}

/// One line of text laid out: coverage pixels relative to the top left of its line box, and
/// the box size.
pub(crate) struct Laid {
    pub pixels: Vec<(i32, i32, f32)>,
    pub width: i32,
    pub height: i32,
}

/// Lays out `text` at `size` pixels (plotters' meaning: ascent minus descent) in `font`.
/// `with_pixels` false measures only.
pub(crate) fn lay_out(font: &FontRef<'_>, size: f64, text: &str, with_pixels: bool) -> Laid {
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let height = (size / 1.24) as i32;
    // Baseline: the cap height centred in the box.
    let cap = font
        .outline_glyph(scaled.scaled_glyph('H'))
        .map(|o| -o.px_bounds().min.y)
        .unwrap_or(0.7 * size as f32);
    let baseline = 0.5 * height as f32 + 0.5 * cap;
    let mut caret = 0f32;
    let mut prev = None;
    let mut pixels = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        prev = Some(id);
        if with_pixels {
            let glyph = id.with_scale_and_position(scaled.scale(), point(caret, baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (x0, y0) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|x, y, c| {
                    if c > 0.0 {
                        pixels.push((x0 + x as i32, y0 + y as i32, c.min(1.0)));
                    }
                });
            }
        }
        caret += scaled.h_advance(id);
    }
    Laid {
        pixels,
        width: caret.round() as i32,
        height,
    }
}

impl<DB: DrawingBackend> GlyphText<DB> {
    fn font_for<S: BackendTextStyle>(&self, style: &S) -> Option<&FontRef<'static>> {
        if style.family().as_str() == FAMILY {
            self.font.as_ref()
        } else {
            None
        }
    }
}

impl<DB: DrawingBackend> DrawingBackend for GlyphText<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, (iw, ih), src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        match self.font_for(style) {
            Some(font) => {
                let laid = lay_out(font, style.size(), text, false);
                Ok((laid.width.max(0) as u32, laid.height.max(0) as u32))
            }
            None => self.inner.estimate_text_size(text, style),
        }
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let Some(font) = self.font_for(style) else {
            return self.inner.draw_text(text, style, pos);
        };
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let laid = lay_out(font, style.size(), text, true);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -laid.width,
            HPos::Center => -laid.width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -laid.height / 2,
            VPos::Bottom => -laid.height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        for (x, y, coverage) in laid.pixels {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * f64::from(coverage),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}
