//! Announcements from facility admins, and their acknowledgements.

use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::Contracts;
use crate::api::examples::{ANNOUNCEMENT, AT, Example, LATER, NURSE, PATIENT_USER, page};
use crate::domain::ids::UserId;
use crate::{
    api::wire,
    api::{ApiTags, Created, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db,
        communication::announcements::{self, Audience},
    },
    domain::{
        ids::AnnouncementId,
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::Result,
};
use chrono::{DateTime, Utc};

/// An announcement to publish.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAnnouncementRequest {
    /// Who it addresses.
    pub audience: Audience,
    /// Its title (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Text,
    /// Its text (1–10000 characters).
    #[oai(validator(min_length = 1, max_length = 10000))]
    pub body: Text,
}

pub struct AnnouncementsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts { file: file!(), operations: &[], examples };

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewAnnouncementRequest>(
            json!({"audience": "everyone", "title": "Fire drill on Friday", "body": "At 3 pm; meet in the garden."}),
        ),
        Example::of::<Announcement>(announcement_example()),
        Example::of::<Page<Announcement>>(page(announcement_example())),
        Example::of::<Page<AnnouncementAcknowledgement>>(page(
            json!({"userId": PATIENT_USER, "acknowledgedAt": LATER}),
        )),
    ]
}

fn announcement_example() -> Value {
    json!({"id": ANNOUNCEMENT, "audience": "everyone", "title": "Fire drill on Friday",
           "body": "At 3 pm; meet in the garden.", "createdBy": NURSE, "createdAt": AT,
           "acknowledgedAt": LATER, "audienceSize": 58, "acknowledgements": 31})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Announcements")]
impl AnnouncementsApi {
    /// Announcements.
    ///
    /// Newest first: those addressed to the caller (facility admins: all of the facility's, with
    /// how many of the audience have acknowledged each).
    #[oai(path = "/announcements", method = "get", operation_id = "listAnnouncements")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Announcement>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| announcements::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Publish an announcement.
    ///
    /// Facility admins, to the whole facility, its patients or its staff. Append-only: a
    /// correction is a new announcement. Delivered over the event stream.
    #[oai(path = "/announcements", method = "post", operation_id = "publishAnnouncement")]
    async fn publish(
        &self,
        auth: BearerAuth,
        body: JsonBody<NewAnnouncementRequest>,
    ) -> Result<Created<Announcement>> {
        let b = &body.0;
        let a = self
            .db
            .run(&auth.0, async |tx| announcements::publish(tx, b.audience, &b.title, &b.body).await)
            .await?;
        Ok(Created::Created(Json(a.into()), None))
    }

    /// An announcement.
    ///
    /// One addressed to the caller (facility admins: any of the facility's, with its
    /// acknowledgement count).
    #[oai(path = "/announcements/:id", method = "get", operation_id = "getAnnouncement")]
    async fn get(&self, auth: BearerAuth, id: Path<AnnouncementId>) -> Result<Json<Announcement>> {
        self.db.run(&auth.0, async |tx| announcements::get(tx, id.0).await).await.map(wire)
    }

    /// Acknowledge an announcement.
    ///
    /// "I have read this": once per reader; again is harmless.
    #[oai(
        path = "/announcements/:id/acknowledgement",
        method = "post",
        operation_id = "acknowledgeAnnouncement"
    )]
    async fn acknowledge(&self, auth: BearerAuth, id: Path<AnnouncementId>) -> Result<Json<Announcement>> {
        self.db.run(&auth.0, async |tx| announcements::acknowledge(tx, id.0).await).await.map(wire)
    }

    /// Who has acknowledged an announcement.
    ///
    /// Newest first. Facility admins see everyone's; others only their own.
    #[oai(
        path = "/announcements/:id/acknowledgements",
        method = "get",
        operation_id = "listAnnouncementAcknowledgements"
    )]
    async fn acknowledgements(
        &self,
        auth: BearerAuth,
        id: Path<AnnouncementId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<AnnouncementAcknowledgement>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows =
            self.db.run(&auth.0, async |tx| announcements::acknowledgements(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }
}

/// An announcement.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Announcement {
    /// Its id.
    pub id: AnnouncementId,
    /// Who it addresses.
    pub audience: Audience,
    /// Its title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// The admin who published it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the caller acknowledged it; absent until they do.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Facility admins only: how many active users it addresses now.
    pub audience_size: Option<i64>,
    /// Facility admins only: how many have acknowledged it.
    pub acknowledgements: Option<i64>,
}

impl From<crate::db::communication::announcements::Announcement> for Announcement {
    fn from(row: crate::db::communication::announcements::Announcement) -> Self {
        Self {
            id: row.id,
            audience: row.audience,
            title: row.title,
            body: row.body,
            created_by: row.created_by,
            created_at: row.created_at,
            acknowledged_at: row.acknowledged_at,
            audience_size: row.audience_size,
            acknowledgements: row.acknowledgements,
        }
    }
}

/// One acknowledgement, as admins see them.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AnnouncementAcknowledgement {
    /// Who.
    pub user_id: UserId,
    /// When.
    pub acknowledged_at: DateTime<Utc>,
}

impl From<crate::db::communication::announcements::AnnouncementAcknowledgement>
    for AnnouncementAcknowledgement
{
    fn from(row: crate::db::communication::announcements::AnnouncementAcknowledgement) -> Self {
        Self { user_id: row.user_id, acknowledged_at: row.acknowledged_at }
    }
}
