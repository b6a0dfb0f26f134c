//! One page of a list, for every list: `{ "items": [...], "nextCursor": "..." }`.
//! `nextCursor` is omitted on the last page (see `domain::page`).

use poem_openapi::{
    Object,
    types::{ParseFromJSON, ToJSON},
};

use serde::Serialize;

use crate::domain::page::{Keyed, PageRequest};

// Also `Serialize`, for lists answered as `api::rendered::Rendered` pages.
/// One page of a list, in the list's order.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Page<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page. Omitted on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON + Send + Sync> Page<T> {
    /// The page of `rows` (fetched with `request.fetch_limit()`), each row
    /// turned into its wire object.
    pub fn of<R: Keyed + Into<T>>(request: &PageRequest, rows: Vec<R>) -> Self {
        let (rows, next_cursor) = request.finish(rows);
        Self { items: rows.into_iter().map(Into::into).collect(), next_cursor }
    }
}
