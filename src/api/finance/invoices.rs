//! Invoices and credit notes, payments and refunds, and what a customer
//! owes. Facility admins bill; a client or student reads their own.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{
    AT, CLIENT_USER, Example, FACILITY, INVOICE, INVOICE_LINE, LATER, NURSE, PAYMENT, PLAN_ID, page,
};
use crate::db::finance::invoices::InvoiceKind;
use crate::domain::ids::FacilityId;
use crate::domain::ids::InvoiceLineId;
use crate::domain::ids::PaymentId;
use crate::error::Conflict;
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
        recovery::reports::Pdf,
    },
    api::{wire, wire_all},
    auth::BearerAuth,
    db::{
        Db,
        accounts::facilities,
        finance::invoices::{self, InvoiceStatus, NewLine, PaymentMethod},
    },
    domain::{
        ids::{InvoiceId, PlanId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result},
};

/// A line to bill.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct InvoiceLineRequest {
    /// What it charges for (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub description: Text,
    /// The plan it is priced from, if any.
    pub plan_id: Opt<PlanId>,
    /// How many (1–100000).
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub quantity: i32,
    /// Price of one, in minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000000000")))]
    pub unit_price_minor: i64,
    /// Tax rate in basis points, 0–10000 (1800 is 18 %); default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "10000")))]
    pub tax_rate_bp: Opt<i32>,
}

fn lines(items: &[InvoiceLineRequest]) -> Vec<NewLine<'_>> {
    items
        .iter()
        .map(|l| NewLine {
            description: l.description.trim(),
            plan_id: l.plan_id.0,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            tax_rate_bp: l.tax_rate_bp.unwrap_or(0),
        })
        .collect()
}

/// A new draft invoice.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewInvoiceRequest {
    /// A client or student of the facility.
    pub customer_id: UserId,
    /// ISO 4217, e.g. `INR`.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: Text,
    /// When payment is due.
    pub due_on: Opt<NaiveDate>,
    /// Printed on the invoice (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub notes: Opt<Text>,
    /// Its lines (0–100; it needs one to be issued).
    #[oai(validator(max_items = 100))]
    pub lines: Vec<InvoiceLineRequest>,
}

/// A draft's lines, all of them.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvoiceLinesRequest {
    /// The new lines (0–100), replacing the old.
    #[oai(validator(max_items = 100))]
    pub lines: Vec<InvoiceLineRequest>,
}

/// Why an invoice is voided.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct VoidRequest {
    /// The reason (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: Text,
}

/// A credit note to issue.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditNoteRequest {
    /// Why (1–2000 characters), printed on it.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub reason: Text,
    /// What it credits (1–100 lines); without them, the whole invoice.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub lines: Opt<Vec<InvoiceLineRequest>>,
}

/// A payment to record.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentRequest {
    /// In minor units; negative for a refund. Never more than is owed, nor a refund of more
    /// than was paid.
    #[oai(validator(minimum(value = "-100000000000"), maximum(value = "100000000000")))]
    pub amount_minor: i64,
    /// How.
    pub method: PaymentMethod,
    /// The receipt, transaction or cheque number (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reference: Opt<Text>,
    /// When the money moved (default now).
    pub received_at: Opt<DateTime<Utc>>,
}

/// A customer's balances, one per currency they are billed in.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct BalanceList {
    /// One per currency.
    pub items: Vec<Balance>,
}

pub struct InvoicesApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createInvoice").names_a_record_outside_its_path(),
        Contract::of("replaceInvoiceLines").conflicts(&[Conflict::INVOICE_FROZEN]),
        Contract::of("issueInvoice").conflicts(&[Conflict::INVOICE_FROZEN, Conflict::INVOICE_EMPTY]),
        Contract::of("voidInvoice").conflicts(&[Conflict::INVOICE_NOT_ISSUED, Conflict::INVOICE_PAID]),
        Contract::of("createCreditNote")
            .conflicts(&[Conflict::INVOICE_NOT_PAYABLE, Conflict::CREDIT_EXCEEDS_INVOICE]),
        Contract::of("recordPayment").conflicts(&[
            Conflict::INVOICE_NOT_PAYABLE,
            Conflict::OVERPAYMENT,
            Conflict::REFUND_EXCEEDS_PAID,
        ]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Invoice>(invoice_example()),
        Example::of::<Page<Invoice>>(page({
            let mut i = invoice_example();
            i.as_object_mut().unwrap().remove("lines");
            i
        })),
        Example::of::<NewInvoiceRequest>(
            json!({"customerId": CLIENT_USER, "currency": "INR", "dueOn": "2026-12-15",
                   "lines": [line_request_example()]}),
        ),
        Example::of::<InvoiceLinesRequest>(json!({"lines": [line_request_example()]})),
        Example::of::<VoidRequest>(json!({"reason": "Billed to the wrong customer."})),
        Example::of::<CreditNoteRequest>(json!({"reason": "One shift was not worked."})),
        Example::of::<PaymentRequest>(
            json!({"amountMinor": 300000, "method": "upi", "reference": "UPI 4021 9983 1177"}),
        ),
        Example::of::<Payment>(payment_example()),
        Example::of::<Page<Payment>>(page(payment_example())),
        Example::of::<BalanceList>(
            json!({"items": [{"currency": "INR", "invoicedMinor": 637200, "creditedMinor": 0,
                              "paidMinor": 300000, "outstandingMinor": 337200}]}),
        ),
    ]
}

fn invoice_example() -> Value {
    json!({"id": INVOICE, "facilityId": FACILITY, "kind": "invoice", "number": "INV-2026-000042",
           "customerId": CLIENT_USER, "status": "issued", "currency": "INR", "subtotalMinor": 540000,
           "taxMinor": 97200, "totalMinor": 637200, "paidMinor": 300000, "dueOn": "2026-12-15",
           "issuedAt": LATER, "createdAt": AT, "updatedAt": LATER,
           "lines": [{"id": INVOICE_LINE, "position": 1, "description": "Home nursing, 12-hour shift",
                      "planId": PLAN_ID, "quantity": 3, "unitPriceMinor": 180000, "taxRateBp": 1800,
                      "subtotalMinor": 540000, "taxMinor": 97200}]})
}

fn payment_example() -> Value {
    json!({"id": PAYMENT, "invoiceId": INVOICE, "amountMinor": 300000, "method": "upi",
           "reference": "UPI 4021 9983 1177", "receivedAt": LATER, "recordedBy": NURSE, "recordedAt": LATER})
}

fn line_request_example() -> Value {
    json!({"description": "Home nursing, 12-hour shift", "planId": PLAN_ID, "quantity": 3,
           "unitPriceMinor": 180000, "taxRateBp": 1800})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Finance")]
impl InvoicesApi {
    /// Invoices.
    ///
    /// Newest first, filtered by `customerId` and `status`. Facility admins see the facility's
    /// (drafts too); a client or student their own issued ones and credit notes.
    #[oai(path = "/invoices", method = "get", operation_id = "listInvoices")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Only this customer's.
        #[oai(name = "customerId")]
        customer_id: Query<Option<UserId>>,
        /// Only in this status.
        status: Query<Option<InvoiceStatus>>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Invoice>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows =
            self.db.run(&auth.0, async |tx| invoices::list(tx, customer_id.0, status.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Start an invoice.
    ///
    /// Facility admins: a draft for a client or student of the facility (anyone else is 404).
    /// Its totals follow its lines until it is issued.
    #[oai(path = "/invoices", method = "post", operation_id = "createInvoice")]
    async fn create(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewInvoiceRequest>,
    ) -> Result<Created<Invoice>> {
        let b = &body.0;
        let l = lines(&b.lines);
        let work = async |tx: &mut _| {
            invoices::create(tx, b.customer_id, &b.currency, b.due_on.0, b.notes.as_deref(), &l).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateInvoice, b, work).await
    }

    /// An invoice.
    ///
    /// With its lines and what was paid. Facility admins; the customer, once it is issued.
    #[oai(path = "/invoices/:id", method = "get", operation_id = "getInvoice")]
    async fn get(&self, auth: BearerAuth, id: Path<InvoiceId>) -> Result<Json<Invoice>> {
        self.db.run(&auth.0, async |tx| invoices::get(tx, id.0).await).await.map(wire)
    }

    /// Replace a draft's lines.
    ///
    /// Facility admins. An issued invoice never changes (409 `invoice_frozen`).
    #[oai(path = "/invoices/:id/lines", method = "put", operation_id = "replaceInvoiceLines")]
    async fn replace_lines(
        &self,
        auth: BearerAuth,
        id: Path<InvoiceId>,
        body: JsonBody<InvoiceLinesRequest>,
    ) -> Result<Json<Invoice>> {
        let l = lines(&body.0.lines);
        self.db.run(&auth.0, async |tx| invoices::replace_lines(tx, id.0, &l).await).await.map(wire)
    }

    /// Issue an invoice.
    ///
    /// Facility admins: the draft gets its number (`INV-{year}-{n}`, gap-free per facility) and
    /// is frozen from then on.
    #[oai(path = "/invoices/:id/issue", method = "post", operation_id = "issueInvoice")]
    async fn issue(&self, auth: BearerAuth, id: Path<InvoiceId>) -> Result<Json<Invoice>> {
        self.db.run(&auth.0, async |tx| invoices::issue(tx, id.0).await).await.map(wire)
    }

    /// Void an invoice.
    ///
    /// Facility admins: an issued invoice nothing was paid on (otherwise, credit it).
    #[oai(path = "/invoices/:id/void", method = "post", operation_id = "voidInvoice")]
    async fn void(
        &self,
        auth: BearerAuth,
        id: Path<InvoiceId>,
        body: JsonBody<VoidRequest>,
    ) -> Result<Json<Invoice>> {
        self.db.run(&auth.0, async |tx| invoices::void(tx, id.0, body.0.reason.trim()).await).await.map(wire)
    }

    /// Issue a credit note.
    ///
    /// Facility admins: the correction of an issued invoice, numbered `CN-{year}-{n}`. Credit
    /// notes never add up to more than the invoice.
    #[oai(path = "/invoices/:id/credit-notes", method = "post", operation_id = "createCreditNote")]
    async fn credit(
        &self,
        auth: BearerAuth,
        id: Path<InvoiceId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<CreditNoteRequest>,
    ) -> Result<Created<Invoice>> {
        let b = &body.0;
        let l = b.lines.as_deref().map(lines);
        let work = async |tx: &mut _| invoices::credit_note(tx, id.0, b.reason.trim(), l.as_deref()).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateCreditNote.under(id.0), &body.0, work)
            .await
    }

    /// Record a payment.
    ///
    /// Facility admins; append-only. A refund is a negative amount. The invoice is `paid` once
    /// covered (and `issued` again if a refund uncovers it).
    #[oai(path = "/invoices/:id/payments", method = "post", operation_id = "recordPayment")]
    async fn pay(
        &self,
        auth: BearerAuth,
        id: Path<InvoiceId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<PaymentRequest>,
    ) -> Result<Created<Payment>> {
        let b = &body.0;
        if b.amount_minor == 0 {
            return Err(Error::invalid("amountMinor", "must not be zero"));
        }
        let at = b.received_at.0.unwrap_or_else(Utc::now);
        let work = async |tx: &mut _| {
            invoices::record_payment(tx, id.0, b.amount_minor, b.method, b.reference.as_deref(), at).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::RecordPayment.under(id.0), &body.0, work).await
    }

    /// An invoice's payments.
    ///
    /// Newest first, refunds included. Facility admins; the customer.
    #[oai(path = "/invoices/:id/payments", method = "get", operation_id = "listPayments")]
    async fn payments(
        &self,
        auth: BearerAuth,
        id: Path<InvoiceId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Payment>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| invoices::payments(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// An invoice as a PDF.
    ///
    /// Facility admins; the customer, once it is issued.
    #[oai(path = "/invoices/:id/pdf", method = "get", operation_id = "downloadInvoicePdf")]
    async fn pdf(&self, auth: BearerAuth, id: Path<InvoiceId>) -> Result<Pdf> {
        let (inv, issuer) = self
            .db
            .run(&auth.0, async |tx| {
                let inv = invoices::get(tx, id.0).await?;
                let issuer = facilities::get(tx, inv.facility_id).await?.name;
                Ok((inv, issuer))
            })
            .await?;
        let name =
            format!("attachment; filename=\"{}.pdf\"", inv.number.as_deref().unwrap_or("draft-invoice"));
        let pdf = tokio::task::spawn_blocking(move || crate::pdf::invoice::render(&inv, &issuer))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        Ok(Pdf::Pdf(Binary(pdf), name))
    }

    /// A customer's balance.
    ///
    /// What a client or student owes, per currency: issued invoices less credit notes and
    /// payments. Facility admins; the customer, their own.
    #[oai(path = "/customers/:id/balance", method = "get", operation_id = "getCustomerBalance")]
    async fn balance(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<BalanceList>> {
        let items = self.db.run(&auth.0, async |tx| invoices::balance(tx, id.0).await).await?;
        Ok(Json(BalanceList { items: wire_all(items) }))
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct InvoiceLine {
    /// Its id.
    pub id: InvoiceLineId,
    /// Its place on the invoice, from 1.
    pub position: i32,
    /// What it charges for.
    pub description: String,
    /// The plan it was priced from.
    pub plan_id: Option<PlanId>,
    /// How many.
    pub quantity: i32,
    /// Price of one, in minor units.
    pub unit_price_minor: i64,
    /// Tax rate in basis points (1800 is 18 %).
    pub tax_rate_bp: i32,
    /// `quantity × unitPriceMinor`.
    pub subtotal_minor: i64,
    /// The line's tax, rounded half up.
    pub tax_minor: i64,
}

impl From<crate::db::finance::invoices::InvoiceLine> for InvoiceLine {
    fn from(row: crate::db::finance::invoices::InvoiceLine) -> Self {
        Self {
            id: row.id,
            position: row.position,
            description: row.description,
            plan_id: row.plan_id,
            quantity: row.quantity,
            unit_price_minor: row.unit_price_minor,
            tax_rate_bp: row.tax_rate_bp,
            subtotal_minor: row.subtotal_minor,
            tax_minor: row.tax_minor,
        }
    }
}

/// An invoice or credit note.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Invoice {
    /// Its id.
    pub id: InvoiceId,
    /// The facility that bills.
    pub facility_id: FacilityId,
    /// Invoice or credit note.
    pub kind: InvoiceKind,
    /// `INV-2026-000042` (`CN-…` for credit notes), given at issue.
    pub number: Option<String>,
    /// The client or student billed.
    pub customer_id: UserId,
    /// For a credit note: the invoice it credits.
    pub credit_for_id: Option<InvoiceId>,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// ISO 4217.
    pub currency: String,
    /// Sum of the lines' subtotals.
    pub subtotal_minor: i64,
    /// Sum of the lines' tax.
    pub tax_minor: i64,
    /// `subtotalMinor + taxMinor`.
    pub total_minor: i64,
    /// Paid so far, refunds deducted.
    pub paid_minor: i64,
    /// When payment is due.
    pub due_on: Option<NaiveDate>,
    /// Notes printed on it (a credit note's reason).
    pub notes: Option<String>,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// When it was issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its lines (on a single invoice, not in lists).
    pub lines: Option<Vec<InvoiceLine>>,
}

impl From<crate::db::finance::invoices::Invoice> for Invoice {
    fn from(row: crate::db::finance::invoices::Invoice) -> Self {
        Self {
            id: row.id,
            facility_id: row.facility_id,
            kind: row.kind,
            number: row.number,
            customer_id: row.customer_id,
            credit_for_id: row.credit_for_id,
            status: row.status,
            currency: row.currency,
            subtotal_minor: row.subtotal_minor,
            tax_minor: row.tax_minor,
            total_minor: row.total_minor,
            paid_minor: row.paid_minor,
            due_on: row.due_on,
            notes: row.notes,
            void_reason: row.void_reason,
            issued_at: row.issued_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            lines: row.lines.map(|v| v.into_iter().map(Into::into).collect()),
        }
    }
}

/// A payment, or a refund (negative).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// In minor units; negative for a refund.
    pub amount_minor: i64,
    /// How.
    pub method: PaymentMethod,
    /// The receipt, transaction or cheque number.
    pub reference: Option<String>,
    /// When the money moved.
    pub received_at: DateTime<Utc>,
    /// Who recorded it.
    pub recorded_by: UserId,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl From<crate::db::finance::invoices::Payment> for Payment {
    fn from(row: crate::db::finance::invoices::Payment) -> Self {
        Self {
            id: row.id,
            invoice_id: row.invoice_id,
            amount_minor: row.amount_minor,
            method: row.method,
            reference: row.reference,
            received_at: row.received_at,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        }
    }
}

/// What a customer owes, in one currency.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Balance {
    /// ISO 4217.
    pub currency: String,
    /// Issued and paid invoices' totals.
    pub invoiced_minor: i64,
    /// Credit notes' totals.
    pub credited_minor: i64,
    /// Payments, refunds deducted.
    pub paid_minor: i64,
    /// `invoicedMinor − creditedMinor − paidMinor`; negative when the customer is owed.
    pub outstanding_minor: i64,
}

impl From<crate::db::finance::invoices::Balance> for Balance {
    fn from(row: crate::db::finance::invoices::Balance) -> Self {
        Self {
            currency: row.currency,
            invoiced_minor: row.invoiced_minor,
            credited_minor: row.credited_minor,
            paid_minor: row.paid_minor,
            outstanding_minor: row.outstanding_minor,
        }
    }
}
