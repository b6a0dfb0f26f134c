//! The patient progress report: a header, key figures, a chart of daily
//! mood and cravings, and tables of the period's records.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use super::{MARGIN, WIDTH, Writer};
use crate::db::recovery::report::ProgressData;

/// Renders the report.
pub fn render(data: &ProgressData) -> anyhow::Result<Vec<u8>> {
    let p = &data.patient;
    let title = format!("Progress report: {} {}", p.first_name, p.last_name);
    let mut w = Writer::new(&title, "Carego progress report  |  confidential health information")?;

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
