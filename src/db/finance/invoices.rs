//! Invoices, credit notes and payments (V33). The database holds the
//! rules (frozen once issued, gap-free numbers, no overpayment, no refund
//! beyond what was paid); this file translates them.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        DbError, OnConstraint, TenantTx,
        accounts::users,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{FacilityId, InvoiceId, InvoiceLineId, PaymentId, PlanId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts invoices can meet.
impl Conflict {
    pub const INVOICE_FROZEN: Self = Self::new(
        "invoice_frozen",
        "This invoice is issued and never changes; issue a credit note to correct it.",
    );
    pub const INVOICE_NOT_ISSUED: Self =
        Self::new("invoice_not_issued", "Only an issued invoice is voided; a draft is simply never issued.");
    pub const INVOICE_EMPTY: Self =
        Self::new("invoice_empty", "An invoice needs at least one line to be issued.");
    pub const INVOICE_PAID: Self =
        Self::new("invoice_paid", "Payments were made on this invoice; credit it instead of voiding it.");
    pub const INVOICE_NOT_PAYABLE: Self = Self::new(
        "invoice_not_payable",
        "Only an issued invoice takes payments and credit notes (not a draft, a void one or a credit note).",
    );
    pub const OVERPAYMENT: Self =
        Self::new("overpayment", "This payment is more than is owed on the invoice.");
    pub const REFUND_EXCEEDS_PAID: Self =
        Self::new("refund_exceeds_paid", "This refund is more than was paid on the invoice.");
    pub const CREDIT_EXCEEDS_INVOICE: Self = Self::new(
        "credit_exceeds_invoice",
        "Credit notes may not add up to more than the invoice they credit.",
    );
}

text_enum! {
    /// An invoice, or a credit note against one.
    pub enum InvoiceKind {
        Invoice = "invoice",
        CreditNote = "credit_note",
    }
}

text_enum! {
    /// Where an invoice stands.
    pub enum InvoiceStatus {
        /// Being written; lines may change.
        Draft = "draft",
        /// Numbered and frozen; owed.
        Issued = "issued",
        /// Its payments cover it.
        Paid = "paid",
        /// Cancelled before anything was paid.
        Void = "void",
    }
}

text_enum! {
    /// How a payment was made.
    pub enum PaymentMethod {
        Cash = "cash",
        Card = "card",
        Upi = "upi",
        BankTransfer = "bank_transfer",
        Cheque = "cheque",
        Other = "other",
    }
}

/// One line of an invoice.
#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub id: InvoiceLineId,
    pub position: i32,
    pub description: String,
    pub plan_id: Option<PlanId>,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub tax_rate_bp: i32,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
}

/// An invoice or credit note.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: InvoiceId,
    pub facility_id: FacilityId,
    pub kind: InvoiceKind,
    pub number: Option<String>,
    pub customer_id: UserId,
    pub credit_for_id: Option<InvoiceId>,
    pub status: InvoiceStatus,
    pub currency: String,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub due_on: Option<NaiveDate>,
    pub notes: Option<String>,
    pub void_reason: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Option<Vec<InvoiceLine>>,
}

impl Keyed for Invoice {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for Invoice {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            facility_id: row.try_get("facility_id")?,
            kind: row.try_get("kind")?,
            number: row.try_get("number")?,
            customer_id: row.try_get("customer_id")?,
            credit_for_id: row.try_get("credit_for_id")?,
            status: row.try_get("status")?,
            currency: row.try_get("currency")?,
            subtotal_minor: row.try_get("subtotal_minor")?,
            tax_minor: row.try_get("tax_minor")?,
            total_minor: row.try_get("total_minor")?,
            paid_minor: row.try_get("paid_minor")?,
            due_on: row.try_get("due_on")?,
            notes: row.try_get("notes")?,
            void_reason: row.try_get("void_reason")?,
            issued_at: row.try_get("issued_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            lines: None,
        })
    }
}

/// A line to write, validated.
pub struct NewLine<'a> {
    pub description: &'a str,
    pub plan_id: Option<PlanId>,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub tax_rate_bp: i32,
}

macro_rules! select {
    ($where:literal) => {
        concat!(
            "select i.id, i.facility_id, i.kind, i.number, i.customer_id, i.credit_for_id, i.status, i.currency,
                    i.subtotal_minor, i.tax_minor, i.total_minor, i.due_on, i.notes, i.void_reason,
                    i.issued_at, i.created_at, i.updated_at,
                    coalesce((select sum(p.amount_minor) from payments p
                               where p.facility_id = i.facility_id and p.invoice_id = i.id), 0)::bigint as paid_minor
               from invoices i ",
            $where
        )
    };
}

pub const GET: &str = select!("where i.id = $1");
pub const LINES: &str = "
    select id, position, description, plan_id, quantity, unit_price_minor, tax_rate_bp, subtotal_minor, tax_minor
      from invoice_lines where invoice_id = $1 order by position";

/// One with its lines (a client or student: their own, once issued).
pub async fn get(tx: &mut TenantTx, id: InvoiceId) -> Result<Invoice> {
    let mut invoice = Invoice::try_from(&tx.query_one(GET, &[&id]).await?)?;
    let rows = tx.query(LINES, &[&id]).await?;
    let lines = rows
        .iter()
        .map(|r| {
            Ok(InvoiceLine {
                id: r.try_get("id")?,
                position: r.try_get("position")?,
                description: r.try_get("description")?,
                plan_id: r.try_get("plan_id")?,
                quantity: r.try_get("quantity")?,
                unit_price_minor: r.try_get("unit_price_minor")?,
                tax_rate_bp: r.try_get("tax_rate_bp")?,
                subtotal_minor: r.try_get("subtotal_minor")?,
                tax_minor: r.try_get("tax_minor")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    invoice.lines = Some(lines);
    Ok(invoice)
}

/// Newest first. `$1` the fetch limit; then, each only when given (see
/// [`filters`](crate::db::filters)): customer, status, the cursor.
pub static LIST: Variants = Variants::new(
    select!("where true {where} order by i.created_at desc, i.id desc limit $1"),
    &["i.customer_id = $::uuid", "i.status = $::text", "(i.created_at, i.id) < ($::timestamptz, $::uuid)"],
);

/// The invoices the caller can see, newest first.
pub async fn list(
    tx: &mut TenantTx,
    customer: Option<UserId>,
    status: Option<InvoiceStatus>,
    page: &PageRequest,
) -> Result<Vec<Invoice>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).opt(&customer).opt(&status).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Invoice::try_from).collect()
}

/// The database's rules, as the API says them.
fn rules<T>(r: std::result::Result<T, DbError>) -> Result<T> {
    Ok(r.on_constraint("invoices_frozen_check", Conflict::INVOICE_FROZEN)
        .on_constraint("invoices_empty_check", Conflict::INVOICE_EMPTY)
        .on_constraint("invoices_paid_check", Conflict::INVOICE_PAID)
        .on_constraint("payments_invoice_open_check", Conflict::INVOICE_NOT_PAYABLE)
        .on_constraint("payments_overpaid_check", Conflict::OVERPAYMENT)
        .on_constraint("payments_refund_check", Conflict::REFUND_EXCEEDS_PAID)
        .on_constraint(
            "invoice_lines_plan_fkey",
            Error::invalid("lines.planId", "is not a plan of this facility"),
        )?)
}

pub const IS_CUSTOMER: &str = "select 1 from users where id = $1 and role in ('client', 'student')";

pub const INSERT: &str = "
    insert into invoices (facility_id, kind, customer_id, credit_for_id, currency, due_on, notes)
    values (carego.current_facility_id(), $1, $2, $3, $4, $5, $6) returning id";

pub const INSERT_LINE: &str = "
    insert into invoice_lines (facility_id, invoice_id, position, description, plan_id, quantity,
                               unit_price_minor, tax_rate_bp)
    select i.facility_id, i.id, $2, $3, $4, $5, $6, $7 from invoices i where i.id = $1";

async fn insert_lines(tx: &mut TenantTx, id: InvoiceId, lines: &[NewLine<'_>]) -> Result<()> {
    for (i, l) in lines.iter().enumerate() {
        let position = i32::try_from(i + 1).expect("at most 100 lines");
        let params: crate::db::Params<'_> =
            &[&id, &position, &l.description, &l.plan_id, &l.quantity, &l.unit_price_minor, &l.tax_rate_bp];
        rules(tx.execute(INSERT_LINE, params).await)?;
    }
    Ok(())
}

/// A draft invoice for a client or student of the facility (facility admins).
pub async fn create(
    tx: &mut TenantTx,
    customer: UserId,
    currency: &str,
    due_on: Option<NaiveDate>,
    notes: Option<&str>,
    lines: &[NewLine<'_>],
) -> Result<Invoice> {
    if tx.query_opt(IS_CUSTOMER, &[&customer]).await?.is_none() {
        // Someone the caller cannot see, or who is not billed (staff): as absent.
        return Err(Error::NotFound);
    }
    let no_credit: Option<InvoiceId> = None;
    let row = tx
        .query_one(INSERT, &[&InvoiceKind::Invoice, &customer, &no_credit, &currency, &due_on, &notes])
        .await?;
    let id: InvoiceId = row.try_get("id")?;
    insert_lines(tx, id, lines).await?;
    get(tx, id).await
}

pub const DELETE_LINES: &str = "delete from invoice_lines where invoice_id = $1";

/// Replaces a draft's lines.
pub async fn replace_lines(tx: &mut TenantTx, id: InvoiceId, lines: &[NewLine<'_>]) -> Result<Invoice> {
    let invoice = get(tx, id).await?;
    if invoice.status != InvoiceStatus::Draft {
        return Err(Conflict::INVOICE_FROZEN.into());
    }
    rules(tx.execute(DELETE_LINES, &[&id]).await)?;
    insert_lines(tx, id, lines).await?;
    get(tx, id).await
}

pub const ISSUE: &str = "update invoices set status = 'issued' where id = $1 and status = 'draft'";

/// Issues a draft: numbered and frozen from now on. Issuing it again
/// answers it as it stands; a void one is 409.
pub async fn issue(tx: &mut TenantTx, id: InvoiceId) -> Result<Invoice> {
    if rules(tx.execute(ISSUE, &[&id]).await)? == 0 {
        let invoice = get(tx, id).await?;
        return match invoice.status {
            InvoiceStatus::Issued | InvoiceStatus::Paid => Ok(invoice),
            _ => Err(Conflict::INVOICE_FROZEN.into()),
        };
    }
    get(tx, id).await
}

pub const VOID: &str =
    "update invoices set status = 'void', void_reason = $2 where id = $1 and status = 'issued'";

/// Voids an issued invoice nothing was paid on.
pub async fn void(tx: &mut TenantTx, id: InvoiceId, reason: &str) -> Result<Invoice> {
    if rules(tx.execute(VOID, &[&id, &reason]).await)? == 0 {
        let invoice = get(tx, id).await?;
        return Err(match invoice.status {
            InvoiceStatus::Paid => Conflict::INVOICE_PAID,
            _ => Conflict::INVOICE_NOT_ISSUED,
        }
        .into());
    }
    get(tx, id).await
}

pub const LOCK: &str = "select 1 as locked from invoices where id = $1 for update";

pub const CREDITED: &str = "
    select coalesce(sum(total_minor), 0)::bigint as credited from invoices
     where credit_for_id = $1 and kind = 'credit_note' and status = 'issued'";

/// A credit note against an issued (or paid) invoice, issued at once: its
/// lines, or a copy of the invoice's. Never more than the invoice's total
/// less what was credited already.
pub async fn credit_note(
    tx: &mut TenantTx,
    id: InvoiceId,
    reason: &str,
    lines: Option<&[NewLine<'_>]>,
) -> Result<Invoice> {
    // Two credit notes at once add up instead of each seeing the other's room.
    tx.query_one(LOCK, &[&id]).await?;
    let original = get(tx, id).await?;
    if original.kind != InvoiceKind::Invoice
        || !matches!(original.status, InvoiceStatus::Issued | InvoiceStatus::Paid)
    {
        return Err(Conflict::INVOICE_NOT_PAYABLE.into());
    }
    let copied: Vec<NewLine<'_>>;
    let lines = match lines {
        Some(l) => l,
        None => {
            let from = original.lines.as_deref().unwrap_or_default();
            copied = from
                .iter()
                .map(|l| NewLine {
                    description: &l.description,
                    plan_id: l.plan_id,
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                    tax_rate_bp: l.tax_rate_bp,
                })
                .collect();
            &copied
        }
    };
    let row = tx
        .query_one(
            INSERT,
            &[
                &InvoiceKind::CreditNote,
                &original.customer_id,
                &Some(id),
                &original.currency,
                &None::<NaiveDate>,
                &Some(reason),
            ],
        )
        .await?;
    let note: InvoiceId = row.try_get("id")?;
    insert_lines(tx, note, lines).await?;
    let credited: i64 = tx.query_one(CREDITED, &[&id]).await?.try_get("credited")?;
    let draft = get(tx, note).await?;
    if credited + draft.total_minor > original.total_minor {
        return Err(Conflict::CREDIT_EXCEEDS_INVOICE.into());
    }
    issue(tx, note).await
}

/// A payment, or a refund (negative).
#[derive(Debug, Clone)]
pub struct Payment {
    pub id: PaymentId,
    pub invoice_id: InvoiceId,
    pub amount_minor: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub received_at: DateTime<Utc>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

impl Keyed for Payment {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.recorded_at, self.id.0)
    }
}

impl TryFrom<&Row> for Payment {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            invoice_id: row.try_get("invoice_id")?,
            amount_minor: row.try_get("amount_minor")?,
            method: row.try_get("method")?,
            reference: row.try_get("reference")?,
            received_at: row.try_get("received_at")?,
            recorded_by: row.try_get("recorded_by")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

pub const RECORD_PAYMENT: &str = "
    insert into payments (facility_id, invoice_id, amount_minor, method, reference, received_at)
    select i.facility_id, i.id, $2, $3, $4, $5 from invoices i where i.id = $1
    returning id, invoice_id, amount_minor, method, reference, received_at, recorded_by, recorded_at";

pub const SETTLE: &str = "
    update invoices i set status = case when
        (select coalesce(sum(p.amount_minor), 0) from payments p
          where p.facility_id = i.facility_id and p.invoice_id = i.id) >= i.total_minor
        then 'paid' else 'issued' end
     where i.id = $1";

/// Records it; the invoice is `paid` once covered, `issued` again if a
/// refund uncovers it.
pub async fn record_payment(
    tx: &mut TenantTx,
    id: InvoiceId,
    amount: i64,
    method: PaymentMethod,
    reference: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<Payment> {
    let row = rules(tx.query_one(RECORD_PAYMENT, &[&id, &amount, &method, &reference, &received_at]).await)?;
    rules(tx.execute(SETTLE, &[&id]).await)?;
    Payment::try_from(&row)
}

/// `$1` the invoice, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static PAYMENTS: Variants = Variants::new(
    "select id, invoice_id, amount_minor, method, reference, received_at, recorded_by, recorded_at
       from payments where invoice_id = $1 {where}
      order by recorded_at desc, id desc limit $2",
    &["(recorded_at, id) < ($::timestamptz, $::uuid)"],
);

/// An invoice's payments and refunds, newest first.
pub async fn payments(tx: &mut TenantTx, id: InvoiceId, page: &PageRequest) -> Result<Vec<Payment>> {
    get(tx, id).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&id, &limit]).after(page);
    let rows = tx.query(PAYMENTS.get(bound.present), &bound.params).await?;
    rows.iter().map(Payment::try_from).collect()
}

/// What a customer owes, in one currency.
#[derive(Debug, Clone)]
pub struct Balance {
    pub currency: String,
    pub invoiced_minor: i64,
    pub credited_minor: i64,
    pub paid_minor: i64,
    pub outstanding_minor: i64,
}

pub const BALANCE: &str = "
    select i.currency,
           coalesce(sum(i.total_minor) filter (where i.kind = 'invoice' and i.status in ('issued', 'paid')), 0)::bigint
             as invoiced,
           coalesce(sum(i.total_minor) filter (where i.kind = 'credit_note' and i.status = 'issued'), 0)::bigint
             as credited,
           coalesce(sum((select sum(p.amount_minor) from payments p
                          where p.facility_id = i.facility_id and p.invoice_id = i.id)), 0)::bigint as paid
      from invoices i
     where i.customer_id = $1 and i.status <> 'draft'
     group by i.currency order by i.currency";

/// A customer's balance per currency (facility admins; a client or
/// student, their own).
pub async fn balance(tx: &mut TenantTx, customer: UserId) -> Result<Vec<Balance>> {
    users::get(tx, customer).await?;
    let rows = tx.query(BALANCE, &[&customer]).await?;
    rows.iter()
        .map(|r| {
            let (invoiced, credited, paid): (i64, i64, i64) =
                (r.try_get("invoiced")?, r.try_get("credited")?, r.try_get("paid")?);
            Ok(Balance {
                currency: r.try_get("currency")?,
                invoiced_minor: invoiced,
                credited_minor: credited,
                paid_minor: paid,
                outstanding_minor: invoiced - credited - paid,
            })
        })
        .collect()
}
