//! Announcements from facility admins to the facility, its patients or its
//! staff, and each reader's acknowledgement (both append-only, V24).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        TenantTx,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{AnnouncementId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Error, Result},
};

text_enum! {
    /// Who an announcement addresses.
    pub enum Audience {
        /// Every active user of the facility.
        Everyone = "everyone",
        /// Its patients.
        Patients = "patients",
        /// Its staff and facility admins.
        Staff = "staff",
    }
}

/// An announcement.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub id: AnnouncementId,
    pub audience: Audience,
    pub title: String,
    pub body: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub audience_size: Option<i64>,
    pub acknowledgements: Option<i64>,
}

impl Keyed for Announcement {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

macro_rules! select {
    ($where:literal) => {
        concat!(
            "select a.id, a.audience, a.title, a.body, a.created_by, a.created_at,
                    (select k.acknowledged_at from announcement_acknowledgements k
                      where k.facility_id = a.facility_id and k.announcement_id = a.id
                        and k.user_id = carego.current_user_id()) as acknowledged_at,
                    carego.announcement_audience_size(a.facility_id, a.audience) as audience_size,
                    case when carego.current_app_role() = 'facility_admin' then
                         (select count(*) from announcement_acknowledgements k
                           where k.facility_id = a.facility_id and k.announcement_id = a.id) end as acknowledgements
               from announcements a ",
            $where
        )
    };
}

pub const GET: &str = select!("where a.id = $1");
/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    select!("where true {where} order by a.created_at desc, a.id desc limit $1"),
    &["(a.created_at, a.id) < ($::timestamptz, $::uuid)"],
);

impl TryFrom<&Row> for Announcement {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            audience: row.try_get("audience")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            acknowledged_at: row.try_get("acknowledged_at")?,
            audience_size: row.try_get("audience_size")?,
            acknowledgements: row.try_get("acknowledgements")?,
        })
    }
}

pub async fn get(tx: &mut TenantTx, id: AnnouncementId) -> Result<Announcement> {
    Announcement::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// The announcements the caller's role receives, newest first.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Announcement>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Announcement::try_from).collect()
}

pub const PUBLISH: &str = "
    insert into announcements (facility_id, audience, title, body)
    values (carego.current_facility_id(), $1, $2, $3) returning id";

/// Publishes one (facility admins: RLS refuses anyone else).
pub async fn publish(tx: &mut TenantTx, audience: Audience, title: &str, body: &str) -> Result<Announcement> {
    let id: AnnouncementId = tx.query_one(PUBLISH, &[&audience, &title, &body]).await?.try_get("id")?;
    get(tx, id).await
}

pub const ACKNOWLEDGE: &str = "
    insert into announcement_acknowledgements (facility_id, announcement_id)
    select a.facility_id, a.id from announcements a where a.id = $1
    on conflict do nothing";

/// Acknowledges one the caller receives; again is harmless. One they do
/// not receive inserts nothing and reads as `NotFound`.
pub async fn acknowledge(tx: &mut TenantTx, id: AnnouncementId) -> Result<Announcement> {
    tx.execute(ACKNOWLEDGE, &[&id]).await?;
    get(tx, id).await
}

/// One acknowledgement, as admins see them.
#[derive(Debug, Clone)]
pub struct AnnouncementAcknowledgement {
    pub user_id: UserId,
    pub acknowledged_at: DateTime<Utc>,
}

impl Keyed for AnnouncementAcknowledgement {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.acknowledged_at, self.user_id.0)
    }
}

/// `$1` the announcement, `$2` the fetch limit; then the cursor, when given
/// (see [`filters`](crate::db::filters)).
pub static ACKNOWLEDGEMENTS: Variants = Variants::new(
    "select user_id, acknowledged_at from announcement_acknowledgements
      where announcement_id = $1 {where}
      order by acknowledged_at desc, user_id desc limit $2",
    &["(acknowledged_at, user_id) < ($::timestamptz, $::uuid)"],
);

/// Who has acknowledged it, newest first (facility admins see all; others
/// only their own).
pub async fn acknowledgements(
    tx: &mut TenantTx,
    id: AnnouncementId,
    page: &PageRequest,
) -> Result<Vec<AnnouncementAcknowledgement>> {
    get(tx, id).await?;
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&id, &limit]).after(page);
    let rows = tx.query(ACKNOWLEDGEMENTS.get(bound.present), &bound.params).await?;
    rows.iter()
        .map(|r| {
            Ok(AnnouncementAcknowledgement {
                user_id: r.try_get("user_id")?,
                acknowledged_at: r.try_get("acknowledged_at")?,
            })
        })
        .collect()
}
