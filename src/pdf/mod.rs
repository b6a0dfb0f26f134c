//! PDFs Carego renders: a patient's progress report ([`progress`]), a course
//! certificate ([`certificate`]) and an invoice or credit note
//! ([`invoice`]), each in its own file, over the one page writer here.
//!
//! Drawn with printpdf's built-in Helvetica (no font files to ship). What a
//! patient, clinician or customer wrote is drawn as plain text, never
//! interpreted: there is no template language here for it to inject into.
//! Characters the built-in fonts cannot show (outside Windows-1252) print as
//! `?`, never vanish. Rendering is CPU work: call it off the async threads
//! (`spawn_blocking`).

pub mod certificate;
pub mod invoice;
pub mod progress;

use printpdf::{
    BuiltinFont, Color, IndirectFontRef, Line, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference,
    Point, Rgb,
};

const WIDTH: f32 = 210.0;
const HEIGHT: f32 = 297.0;
const MARGIN: f32 = 15.0;
const LINE: f32 = 5.0;

/// Lays text out down the pages, adding a page when one is full.
struct Writer {
    /// What every page's footer says before its number.
    footer: &'static str,
    doc: PdfDocumentReference,
    layer: PdfLayerReference,
    font: IndirectFontRef,
    bold: IndirectFontRef,
    y: f32,
    page: usize,
}

impl Writer {
    fn new(title: &str, footer: &'static str) -> anyhow::Result<Self> {
        let (doc, page, layer) = PdfDocument::new(clean(title), Mm(WIDTH), Mm(HEIGHT), "content");
        let font = doc.add_builtin_font(BuiltinFont::Helvetica)?;
        let bold = doc.add_builtin_font(BuiltinFont::HelveticaBold)?;
        let layer = doc.get_page(page).get_layer(layer);
        let mut w = Self { footer, doc, layer, font, bold, y: HEIGHT - MARGIN, page: 1 };
        w.footer();
        Ok(w)
    }

    fn footer(&mut self) {
        let text = format!("{}  |  page {}", self.footer, self.page);
        self.layer.use_text(text, 7.0, Mm(MARGIN), Mm(MARGIN - 7.0), &self.font);
    }

    /// Room for `height` mm more on this page, or a new page.
    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN {
            let (page, layer) = self.doc.add_page(Mm(WIDTH), Mm(HEIGHT), "content");
            self.layer = self.doc.get_page(page).get_layer(layer);
            self.page += 1;
            self.y = HEIGHT - MARGIN;
            self.footer();
        }
    }

    fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }

    fn text_at(&self, text: &str, size: f32, x: f32, y: f32, bold: bool) {
        let font = if bold { &self.bold } else { &self.font };
        self.layer.use_text(clean(text), size, Mm(x), Mm(y), font);
    }

    fn text(&mut self, text: &str, size: f32, x: f32, bold: bool) {
        let height = size * 0.3528 + 1.5;
        self.ensure(height);
        self.y -= height;
        self.text_at(text, size, x, self.y, bold);
    }

    fn heading(&mut self, text: &str) {
        self.ensure(3.0 * LINE);
        self.text(text, 12.0, MARGIN, true);
        self.gap(1.0);
    }

    /// One table row of (text, column width in mm).
    fn row(&mut self, cells: &[(&str, f32)], bold: bool) {
        self.ensure(LINE);
        self.y -= LINE;
        let mut x = MARGIN;
        for (text, width) in cells {
            self.text_at(&fit(text, *width, 9.0), 9.0, x, self.y, bold);
            x += width;
        }
    }

    fn cells(&mut self, cells: &[String], columns: &[(&str, f32)]) {
        let row: Vec<(&str, f32)> =
            cells.iter().map(String::as_str).zip(columns.iter().map(|c| c.1)).collect();
        self.row(&row, false);
    }

    fn stroke(&self, r: f32, g: f32, b: f32, thickness: f32) {
        self.layer.set_outline_color(Color::Rgb(Rgb::new(r, g, b, None)));
        self.layer.set_outline_thickness(thickness);
    }

    fn polyline(&self, points: &[(f32, f32)]) {
        let points = points.iter().map(|(x, y)| (Point::new(Mm(*x), Mm(*y)), false)).collect();
        self.layer.add_line(Line { points, is_closed: false });
    }

    fn finish(self) -> anyhow::Result<Vec<u8>> {
        drop(self.layer);
        Ok(self.doc.save_to_bytes()?)
    }
}

/// What the built-in fonts can draw: Windows-1252 printable characters;
/// anything else is `?`, and line breaks and tabs are spaces.
fn clean(text: &str) -> String {
    const EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            ' '..='~' | '\u{a0}'..='\u{ff}' => c,
            c if EXTRA.contains(c) => c,
            _ => '?',
        })
        .collect()
}

/// Cuts text to what fits a column (Helvetica averages about half an em).
fn fit(text: &str, width_mm: f32, size: f32) -> String {
    let per_char = size * 0.3528 * 0.52;
    let max = ((width_mm - 2.0) / per_char).max(1.0) as usize;
    let text = text.replace(['\n', '\r', '\t'], " ");
    if text.chars().count() <= max {
        text
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_the_fonts_cannot_draw_shows_as_question_marks() {
        assert_eq!(clean("José – “ok” €5"), "José – “ok” €5");
        assert_eq!(clean("Кирилл\nok"), "?????? ok");
        assert_eq!(fit("a fairly long note that will not fit", 20.0, 9.0).chars().count(), 10);
        assert_eq!(fit("short", 40.0, 9.0), "short");
    }
}
