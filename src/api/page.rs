//! One page of a list, for every list: `{ "items": [...], "nextCursor": "..." }`.
//! `nextCursor` is omitted on the last page (see `domain::page`).

use poem_openapi::{
    Object,
    types::{ParseFromJSON, ToJSON},
};

use crate::domain::page::{Keyed, PageRequest};

/// One page of a list, in the list's order.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Page<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page. Omitted on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON + Send + Sync + Keyed> Page<T> {
    /// The page of `rows` (fetched with `request.fetch_limit()`).
    pub fn of(request: &PageRequest, rows: Vec<T>) -> Self {
        let (items, next_cursor) = request.finish(rows);
        Self { items, next_cursor }
    }
}
