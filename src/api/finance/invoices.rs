//! Invoices and credit notes, payments and refunds, and what a customer
//! owes. Facility admins bill; a client or student reads their own.

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
};

use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
        recovery::reports::Pdf,
    },
    auth::BearerAuth,
    db::{
        Db,
        accounts::facilities,
        finance::invoices::{self, Balance, Invoice, InvoiceStatus, NewLine, Payment, PaymentMethod},
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
        self.db.run(&auth.0, async |tx| invoices::get(tx, id.0).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| invoices::replace_lines(tx, id.0, &l).await).await.map(Json)
    }

    /// Issue an invoice.
    ///
    /// Facility admins: the draft gets its number (`INV-{year}-{n}`, gap-free per facility) and
    /// is frozen from then on.
    #[oai(path = "/invoices/:id/issue", method = "post", operation_id = "issueInvoice")]
    async fn issue(&self, auth: BearerAuth, id: Path<InvoiceId>) -> Result<Json<Invoice>> {
        self.db.run(&auth.0, async |tx| invoices::issue(tx, id.0).await).await.map(Json)
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
        self.db.run(&auth.0, async |tx| invoices::void(tx, id.0, body.0.reason.trim()).await).await.map(Json)
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
        Ok(Json(BalanceList { items }))
    }
}
