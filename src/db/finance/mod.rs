//! Finance: plans (a facility's price list), invoices with their lines,
//! credit notes, payments and customers' balances.

pub mod invoices;
pub mod plans;
