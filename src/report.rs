//! The patient progress report as a PDF: a header, key figures, a chart of
//! daily mood and cravings, and tables of the period's records.
//!
//! Drawn with printpdf's built-in Helvetica (no font files to ship). What a
//! patient or clinician wrote is drawn as plain text, never interpreted:
//! there is no template language here for it to inject into. Characters the
//! built-in fonts cannot show (outside Windows-1252) print as `?`, never
//! vanish. Rendering is CPU work: call it off the async threads
//! (`spawn_blocking`).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use printpdf::{
    BuiltinFont, Color, IndirectFontRef, Line, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference,
    Point, Rgb,
};

use crate::db::recovery::report::ProgressData;

const WIDTH: f32 = 210.0;
const HEIGHT: f32 = 297.0;
const MARGIN: f32 = 15.0;
const LINE: f32 = 5.0;

/// Renders the report.
pub fn progress_pdf(data: &ProgressData) -> anyhow::Result<Vec<u8>> {
    let p = &data.patient;
    let title = format!("Progress report: {} {}", p.first_name, p.last_name);
    let mut w = Writer::new(&title)?;

    w.text("Recovery progress report", 16.0, MARGIN, true);
    w.gap(2.0);
    w.text(&format!("{} {}", p.first_name, p.last_name), 13.0, MARGIN, true);
    let mut who = vec![format!("Date of birth {}", p.date_of_birth)];
    if let Some(mrn) = &p.mrn {
        who.push(format!("MRN {mrn}"));
    }
    if let Some(facility) = &data.facility {
        who.push(facility.clone());
    }
    w.text(&who.join("  |  "), 10.0, MARGIN, false);
    w.text(
        &format!(
            "Period {} to {}  |  Generated {} UTC",
            data.from,
            data.to,
            data.generated_at.format("%Y-%m-%d %H:%M")
        ),
        10.0,
        MARGIN,
        false,
    );
    w.gap(4.0);

    w.heading("Key figures");
    for (label, value) in key_figures(data) {
        w.row(&[(label.as_str(), 60.0), (value.as_str(), 120.0)], false);
    }
    w.gap(4.0);

    w.heading("Mood and cravings by day");
    chart(&mut w, data);
    w.gap(4.0);

    w.heading(&format!("Check-ins ({})", data.check_ins.len()));
    let columns = [
        ("Date", 32.0),
        ("Mood", 14.0),
        ("HALT", 18.0),
        ("Sleep h", 16.0),
        ("Craving", 16.0),
        ("Notes", 84.0),
    ];
    w.row(&columns, true);
    for c in &data.check_ins {
        let cells = [
            c.at.format("%Y-%m-%d %H:%M").to_string(),
            c.mood.to_string(),
            c.halt.clone(),
            c.sleep_hours.map(|h| format!("{h:.1}")).unwrap_or_default(),
            c.craving_intensity.map(|i| i.to_string()).unwrap_or_default(),
            c.notes.clone().unwrap_or_default(),
        ];
        w.cells(&cells, &columns);
    }
    w.gap(4.0);

    w.heading(&format!("Cravings ({})", data.cravings.len()));
    let columns = [
        ("Date", 32.0),
        ("Intensity", 18.0),
        ("Trigger", 50.0),
        ("Coping strategy", 60.0),
        ("Outcome", 20.0),
    ];
    w.row(&columns, true);
    for c in &data.cravings {
        let cells = [
            c.at.format("%Y-%m-%d %H:%M").to_string(),
            c.intensity.to_string(),
            c.trigger.clone().unwrap_or_default(),
            c.coping_strategy.clone().unwrap_or_default(),
            c.outcome.clone(),
        ];
        w.cells(&cells, &columns);
    }
    w.gap(4.0);

    w.heading(&format!("Meetings attended ({})", data.meetings.len()));
    let columns = [("Date", 32.0), ("Kind", 48.0), ("Place", 100.0)];
    w.row(&columns, true);
    for m in &data.meetings {
        let cells = [m.on.to_string(), m.kind.replace('_', " "), m.place.clone().unwrap_or_default()];
        w.cells(&cells, &columns);
    }
    w.gap(4.0);

    w.heading(&format!("Goals ({})", data.goals.len()));
    let columns = [("Goal", 120.0), ("Status", 30.0), ("Progress", 30.0)];
    w.row(&columns, true);
    for g in &data.goals {
        let cells = [
            g.description.clone(),
            g.status.clone(),
            g.progress_pct.map(|p| format!("{p} %")).unwrap_or_default(),
        ];
        w.cells(&cells, &columns);
    }
    w.finish()
}

/// A course certificate: who, what, from whom, when, and the code that
/// verifies it on the public website.
pub fn certificate_pdf(
    c: &crate::db::training::certificates::Certificate,
    issuer: &str,
) -> anyhow::Result<Vec<u8>> {
    let mut w = Writer::new(&format!("Certificate {}", c.code))?;
    w.gap(40.0);
    w.text("Certificate of completion", 24.0, MARGIN, true);
    w.gap(12.0);
    w.text("This certifies that", 12.0, MARGIN, false);
    w.gap(2.0);
    w.text(&c.student_name, 20.0, MARGIN, true);
    w.gap(6.0);
    w.text("has completed the course", 12.0, MARGIN, false);
    w.gap(2.0);
    w.text(&c.course_title, 16.0, MARGIN, true);
    w.gap(6.0);
    w.text(&format!("at {issuer}, on {}.", c.issued_at.format("%Y-%m-%d")), 12.0, MARGIN, false);
    w.gap(20.0);
    w.text(&format!("Verification code {}", c.code), 11.0, MARGIN, true);
    w.text(
        "Check it at /api/v1/public/certificates/{code} on the issuer's Carego server.",
        9.0,
        MARGIN,
        false,
    );
    if let Some(at) = c.revoked_at {
        w.gap(6.0);
        w.text(&format!("REVOKED on {}", at.format("%Y-%m-%d")), 14.0, MARGIN, true);
    }
    w.finish()
}

/// An invoice or credit note: its number, customer, lines and totals in
/// minor units shown as major ones (two decimals: the currencies billed
/// here, INR and the like, have two).
pub fn invoice_pdf(inv: &crate::db::finance::invoices::Invoice, issuer: &str) -> anyhow::Result<Vec<u8>> {
    use crate::db::finance::invoices::InvoiceKind;
    let money = |minor: i64| format!("{} {}.{:02}", inv.currency, minor / 100, (minor % 100).abs());
    let title = match inv.kind {
        InvoiceKind::Invoice => "Invoice",
        InvoiceKind::CreditNote => "Credit note",
    };
    let mut w = Writer::new(&format!("{title} {}", inv.number.as_deref().unwrap_or("draft")))?;
    w.text(issuer, 14.0, MARGIN, true);
    w.gap(4.0);
    w.text(&format!("{title} {}", inv.number.as_deref().unwrap_or("(draft)")), 18.0, MARGIN, true);
    if let Some(at) = inv.issued_at {
        w.text(&format!("Issued {}", at.format("%Y-%m-%d")), 10.0, MARGIN, false);
    }
    if let Some(due) = inv.due_on {
        w.text(&format!("Due {due}"), 10.0, MARGIN, false);
    }
    w.text(&format!("Status {}", inv.status.as_str()), 10.0, MARGIN, false);
    w.gap(6.0);
    let columns = [("Description", 90.0), ("Qty", 15.0), ("Unit", 30.0), ("Tax", 20.0), ("Amount", 30.0)];
    w.row(&columns, true);
    for l in inv.lines.as_deref().unwrap_or_default() {
        let cells = [
            l.description.clone(),
            l.quantity.to_string(),
            money(l.unit_price_minor),
            money(l.tax_minor),
            money(l.subtotal_minor + l.tax_minor),
        ];
        w.cells(&cells, &columns);
    }
    w.gap(4.0);
    for (label, value) in
        [("Subtotal", inv.subtotal_minor), ("Tax", inv.tax_minor), ("Total", inv.total_minor)]
    {
        w.row(&[(label, 155.0), (money(value).as_str(), 30.0)], label == "Total");
    }
    if let Some(notes) = &inv.notes {
        w.gap(6.0);
        w.text(notes, 10.0, MARGIN, false);
    }
    w.finish()
}

fn key_figures(d: &ProgressData) -> Vec<(String, String)> {
    let days_sober = d.patient.sobriety_date.map(|s| (d.to - s).num_days().max(0));
    let moods: Vec<f64> = d.check_ins.iter().map(|c| f64::from(c.mood)).collect();
    let mood = if moods.is_empty() {
        "no check-ins".to_owned()
    } else {
        format!(
            "{:.1} of 10 (from {} check-ins)",
            moods.iter().sum::<f64>() / moods.len() as f64,
            moods.len()
        )
    };
    let check_in_days =
        d.check_ins.iter().map(|c| c.at.date_naive()).collect::<std::collections::BTreeSet<_>>();
    let period_days = (d.to - d.from).num_days() + 1;
    let resisted = d.cravings.iter().filter(|c| c.outcome == "resisted").count();
    let cravings = if d.cravings.is_empty() {
        "none logged".to_owned()
    } else {
        format!("{} logged, {} resisted", d.cravings.len(), resisted)
    };
    let adherence = if d.doses_recorded == 0 {
        "no doses recorded".to_owned()
    } else {
        format!(
            "{:.0} % ({} of {} doses taken)",
            100.0 * d.doses_taken as f64 / d.doses_recorded as f64,
            d.doses_taken,
            d.doses_recorded
        )
    };
    let active = d.goals.iter().filter(|g| g.status == "active").count();
    let achieved = d.goals.iter().filter(|g| g.status == "achieved").count();
    vec![
        (
            "Days sober".into(),
            match (days_sober, d.patient.sobriety_date) {
                (Some(n), Some(since)) => format!("{n} (since {since}, as of {})", d.to),
                _ => "no sobriety date recorded".into(),
            },
        ),
        ("Check-in days".into(), format!("{} of {period_days}", check_in_days.len())),
        ("Average mood".into(), mood),
        ("Cravings".into(), cravings),
        ("Meetings attended".into(), d.meetings.len().to_string()),
        ("Dose adherence".into(), adherence),
        ("Goals".into(), format!("{active} active, {achieved} achieved")),
    ]
}

/// Daily average mood (a line, 1–10) over daily craving counts (bars).
fn chart(w: &mut Writer, d: &ProgressData) {
    const H: f32 = 50.0;
    const W: f32 = WIDTH - 2.0 * MARGIN;
    w.ensure(H + 12.0);
    let top = w.y;
    let bottom = top - H;
    let left = MARGIN;
    let days = ((d.to - d.from).num_days() + 1).max(1) as f32;
    let x_of = |day: NaiveDate| left + W * ((day - d.from).num_days() as f32 + 0.5) / days;

    w.stroke(0.6, 0.6, 0.6, 0.3);
    w.polyline(&[(left, bottom), (left + W, bottom)]);
    w.polyline(&[(left, bottom), (left, top)]);

    let mut cravings: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    for c in &d.cravings {
        *cravings.entry(c.at.date_naive()).or_default() += 1;
    }
    let most = cravings.values().copied().max().unwrap_or(1).max(1) as f32;
    let bar = (W / days * 0.6).clamp(0.3, 4.0);
    w.stroke(0.85, 0.45, 0.2, bar * 2.83);
    for (day, n) in &cravings {
        let x = x_of(*day);
        w.polyline(&[(x, bottom), (x, bottom + (H - 4.0) * *n as f32 / most)]);
    }

    let mut moods: BTreeMap<NaiveDate, (f32, f32)> = BTreeMap::new();
    for c in &d.check_ins {
        let e = moods.entry(c.at.date_naive()).or_default();
        e.0 += f32::from(c.mood);
        e.1 += 1.0;
    }
    let points: Vec<(f32, f32)> = moods
        .iter()
        .map(|(day, (sum, n))| (x_of(*day), bottom + (H - 4.0) * (sum / n - 1.0) / 9.0))
        .collect();
    w.stroke(0.15, 0.35, 0.7, 1.2);
    if points.len() > 1 {
        w.polyline(&points);
    }
    for (x, y) in &points {
        w.polyline(&[(*x - 0.6, *y), (*x + 0.6, *y)]);
    }

    w.y = bottom - 4.0;
    let last = d.from + Duration::days(days as i64 - 1);
    w.text_at(&d.from.to_string(), 8.0, left, w.y, false);
    w.text_at(&last.to_string(), 8.0, left + W - 18.0, w.y, false);
    w.gap(0.0);
    w.text(
        &format!("Blue line: average mood that day (1 at the axis, 10 at the top). Orange bars: cravings that day (most: {most})."),
        8.0,
        MARGIN,
        false,
    );
}

/// Lays text out down the pages, adding a page when one is full.
struct Writer {
    doc: PdfDocumentReference,
    layer: PdfLayerReference,
    font: IndirectFontRef,
    bold: IndirectFontRef,
    y: f32,
    page: usize,
}

impl Writer {
    fn new(title: &str) -> anyhow::Result<Self> {
        let (doc, page, layer) = PdfDocument::new(clean(title), Mm(WIDTH), Mm(HEIGHT), "content");
        let font = doc.add_builtin_font(BuiltinFont::Helvetica)?;
        let bold = doc.add_builtin_font(BuiltinFont::HelveticaBold)?;
        let layer = doc.get_page(page).get_layer(layer);
        let mut w = Self { doc, layer, font, bold, y: HEIGHT - MARGIN, page: 1 };
        w.footer();
        Ok(w)
    }

    fn footer(&mut self) {
        let text =
            format!("Carego progress report  |  confidential health information  |  page {}", self.page);
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
