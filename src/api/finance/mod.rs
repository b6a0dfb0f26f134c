//! The finance area: plans, invoices, credit notes, payments, balances.

pub mod invoices;
pub mod plans;
