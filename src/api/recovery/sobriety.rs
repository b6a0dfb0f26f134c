//! Sobriety: days sober, and the resets that move the start date.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{Recorded, record};
use crate::{
    api::{ApiTags, body::JsonBody, page::Page},
    auth::BearerAuth,
    db::{
        Db, recovery,
        recovery::sobriety::{self, NewSobrietyReset, Sobriety, SobrietyReset},
    },
    domain::{
        ids::{PatientId, SobrietyResetId},
        page::{Cursor, Limit, PageRequest},
        text::Text,
    },
    error::{Result, Validator},
};

pub struct SobrietyApi {
    pub db: Db,
}

/// A reset of the sobriety start date.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSobrietyResetRequest {
    /// A new UUID the client makes for this reset, so that sending it again
    /// is a harmless replay.
    pub id: SobrietyResetId,
    /// The new start date; at most a day past today (UTC), for patients whose day has begun.
    pub since: NaiveDate,
    /// Why (1–1000 characters): a relapse, or a correction of the date.
    #[oai(validator(min_length = 1, max_length = 1000))]
    pub reason: Text,
}

impl NewSobrietyResetRequest {
    pub fn validate(&self) -> Result<NewSobrietyReset> {
        let mut v = Validator::default();
        super::reported_day(&mut v, "since", self.since);
        v.finish()?;
        Ok(NewSobrietyReset { since: self.since, reason: self.reason.0.clone() })
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Sobriety")]
impl SobrietyApi {
    /// A patient's sobriety.
    ///
    /// The start date, days sober (to today, UTC), the longest stretch and the resets so far.
    /// Audited as a read of the chart.
    #[oai(path = "/patients/:id/sobriety", method = "get", operation_id = "getSobriety")]
    async fn get(&self, auth: BearerAuth, id: Path<PatientId>) -> Result<Json<Sobriety>> {
        self.db.run(&auth.0, async |tx| sobriety::summary(tx, id.0).await).await.map(Json)
    }

    /// A patient's sobriety resets.
    ///
    /// Newest first, each with the date it replaced. Audited as a read of the chart.
    #[oai(path = "/patients/:id/sobriety/resets", method = "get", operation_id = "listSobrietyResets")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<SobrietyReset>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| recovery::list(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Reset the sobriety start date.
    ///
    /// By the patient (an honest report), or by staff for a patient in their care. Append-only:
    /// the reset keeps the date it replaced and the patient's start date moves. The client makes
    /// the id: sending the same id and content again answers 200 with the stored reset; the same
    /// id with other content is a 409.
    #[oai(path = "/patients/:id/sobriety/resets", method = "post", operation_id = "createSobrietyReset")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        body: JsonBody<NewSobrietyResetRequest>,
    ) -> Result<Recorded<SobrietyReset>> {
        let input = body.0.validate()?;
        record(&self.db, &auth.0, id.0, body.0.id.0, &input).await
    }
}
