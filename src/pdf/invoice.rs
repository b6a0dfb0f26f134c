//! An invoice or credit note.

use super::{MARGIN, Writer};
use crate::db::finance::invoices::{Invoice, InvoiceKind};

/// An invoice or credit note: its number, customer, lines and totals in
/// minor units shown as major ones (two decimals: the currencies billed
/// here, INR and the like, have two).
pub fn render(inv: &Invoice, issuer: &str) -> anyhow::Result<Vec<u8>> {
    let money = |minor: i64| format!("{} {}.{:02}", inv.currency, minor / 100, (minor % 100).abs());
    let title = match inv.kind {
        InvoiceKind::Invoice => "Invoice",
        InvoiceKind::CreditNote => "Credit note",
    };
    // What was billed can tell who was treated where: confidential too.
    let mut w = Writer::new(
        &format!("{title} {}", inv.number.as_deref().unwrap_or("draft")),
        "Carego invoice  |  confidential",
    )?;
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
