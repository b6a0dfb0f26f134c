//! Treatment plans: versions of problems, goals and interventions with a
//! review date. One draft at a time, edited by the care team; a signed
//! version is immutable (the schema's trigger refuses any change but the
//! patient's one acknowledgement); a change after signing starts a new
//! draft. Facilities keep templates to start plans from.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        clinical::patients,
        filters::{Bound, Variants},
    },
    domain::{
        ids::{PatientId, PlanTemplateId, PlanVersionId, TreatmentPlanId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

/// The conflicts treatment plans can meet.
impl Conflict {
    pub const NO_DRAFT: Self = Self::new("no_draft", "The plan has no draft version to sign.");
    pub const NOTHING_TO_ACKNOWLEDGE: Self = Self::new(
        "nothing_to_acknowledge",
        "The plan has no signed version waiting for your acknowledgement.",
    );
    pub const TEMPLATE_NAME_TAKEN: Self =
        Self::new("template_name_taken", "This facility already has a template of this name.");
}

text_enum! {
    /// Where a version stands.
    pub enum PlanVersionStatus {
        /// Being written; the care team may still change it.
        Draft = "draft",
        /// Signed off by a clinician; never changes.
        Signed = "signed",
    }
}

/// A facility's template for new plans.
#[derive(Debug, Clone)]
pub struct PlanTemplate {
    pub id: PlanTemplateId,
    pub name: String,
    pub problems: Vec<String>,
    pub goals: Vec<String>,
    pub interventions: Vec<String>,
    pub review_interval_days: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

impl Keyed for PlanTemplate {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for PlanTemplate {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            problems: row.try_get("problems")?,
            goals: row.try_get("goals")?,
            interventions: row.try_get("interventions")?,
            review_interval_days: row.try_get("review_interval_days")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The content of a plan version.
pub struct PlanContent<'a> {
    pub problems: &'a [String],
    pub goals: &'a [String],
    pub interventions: &'a [String],
}

pub const INSERT_TEMPLATE: &str = "
    insert into treatment_plan_templates (facility_id, name, problems, goals, interventions, review_interval_days)
    values (carego.current_facility_id(), $1, $2, $3, $4, $5)
    returning id, name, problems, goals, interventions, review_interval_days, created_by, created_at";

/// A template of the caller's facility (facility admins).
pub async fn insert_template(
    tx: &mut TenantTx,
    name: &str,
    c: &PlanContent<'_>,
    review_interval_days: i32,
) -> Result<PlanTemplate> {
    let row = tx
        .query_one(INSERT_TEMPLATE, &[&name, &c.problems, &c.goals, &c.interventions, &review_interval_days])
        .await
        .on_constraint("treatment_plan_templates_facility_name_key", Conflict::TEMPLATE_NAME_TAKEN)?;
    PlanTemplate::try_from(&row)
}

/// Newest first. `$1` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST_TEMPLATES: Variants = Variants::new(
    "select id, name, problems, goals, interventions, review_interval_days, created_by, created_at
       from treatment_plan_templates
      where true {where}
      order by created_at desc, id desc
      limit $1",
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// The facility's templates, newest first.
pub async fn list_templates(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<PlanTemplate>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST_TEMPLATES.get(bound.present), &bound.params).await?;
    rows.iter().map(PlanTemplate::try_from).collect()
}

/// One version of a plan.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    pub id: PlanVersionId,
    pub version: i32,
    pub problems: Vec<String>,
    pub goals: Vec<String>,
    pub interventions: Vec<String>,
    pub review_date: NaiveDate,
    pub template_id: Option<PlanTemplateId>,
    pub status: PlanVersionStatus,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A plan and its versions, oldest first (patients see the signed ones).
#[derive(Debug, Clone)]
pub struct TreatmentPlan {
    pub id: TreatmentPlanId,
    pub patient_id: PatientId,
    pub title: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub review_overdue: bool,
    pub versions: Vec<PlanVersion>,
}

impl Keyed for TreatmentPlan {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

impl TryFrom<&Row> for PlanVersion {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            version: row.try_get("version")?,
            problems: row.try_get("problems")?,
            goals: row.try_get("goals")?,
            interventions: row.try_get("interventions")?,
            review_date: row.try_get("review_date")?,
            template_id: row.try_get("template_id")?,
            status: row.try_get("status")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            signed_by: row.try_get("signed_by")?,
            signed_at: row.try_get("signed_at")?,
            acknowledged_by: row.try_get("acknowledged_by")?,
            acknowledged_at: row.try_get("acknowledged_at")?,
        })
    }
}

pub const VERSIONS: &str = "
    select plan_id, id, version, problems, goals, interventions, review_date, template_id, status, created_by,
           created_at, updated_at, signed_by, signed_at, acknowledged_by, acknowledged_at
      from treatment_plan_versions
     where plan_id = any($1)
     order by plan_id, version";

/// Plans (rows of `treatment_plans`) with their versions.
async fn assemble(tx: &mut TenantTx, rows: &[Row]) -> Result<Vec<TreatmentPlan>> {
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    let mut versions: HashMap<uuid::Uuid, Vec<PlanVersion>> = HashMap::new();
    if !ids.is_empty() {
        for row in tx.query(VERSIONS, &[&ids]).await? {
            versions.entry(row.try_get("plan_id")?).or_default().push(PlanVersion::try_from(&row)?);
        }
    }
    let today = Utc::now().date_naive();
    rows.iter()
        .map(|row| {
            let id: TreatmentPlanId = row.try_get("id")?;
            let versions = versions.remove(&id.0).unwrap_or_default();
            let in_force = versions.iter().rev().find(|v| v.status == PlanVersionStatus::Signed);
            Ok(TreatmentPlan {
                id,
                patient_id: row.try_get("patient_id")?,
                title: row.try_get("title")?,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
                review_overdue: in_force.is_some_and(|v| v.review_date < today),
                versions,
            })
        })
        .collect()
}

/// A new plan: its title, and the first draft (from a template, or given).
pub struct NewPlan<'a> {
    pub title: &'a str,
    pub template: Option<PlanTemplateId>,
    pub content: PlanContent<'a>,
    pub review_date: Option<NaiveDate>,
}

pub const INSERT_PLAN: &str = "
    insert into treatment_plans (facility_id, patient_id, title)
    select p.facility_id, p.id, $2 from patients p where p.id = $1 and p.deleted_at is null
    returning id, patient_id, title, created_by, created_at";

// The first draft: the template's items before the request's, the review
// date given or the template's interval from today (30 days without one).
pub const INSERT_FIRST_VERSION: &str = "
    insert into treatment_plan_versions (facility_id, plan_id, patient_id, version, problems, goals,
                                         interventions, review_date, template_id)
    select tp.facility_id, tp.id, tp.patient_id, 1,
           coalesce(t.problems, '{}') || $3::text[], coalesce(t.goals, '{}') || $4::text[],
           coalesce(t.interventions, '{}') || $5::text[],
           coalesce($6::date, current_date + coalesce(t.review_interval_days, 30)), t.id
      from treatment_plans tp
      left join treatment_plan_templates t on t.facility_id = tp.facility_id and t.id = $2
     where tp.id = $1 and ($2::uuid is null or t.id is not null)
    returning id";

/// Starts a plan for a visible patient (404 otherwise, also for a template
/// that is not the facility's).
pub async fn insert(tx: &mut TenantTx, patient: PatientId, p: &NewPlan<'_>) -> Result<TreatmentPlan> {
    let plan = tx.query_one(INSERT_PLAN, &[&patient, &p.title]).await?;
    let id: TreatmentPlanId = plan.try_get("id")?;
    let c = &p.content;
    tx.query_one(
        INSERT_FIRST_VERSION,
        &[&id, &p.template, &c.problems, &c.goals, &c.interventions, &p.review_date],
    )
    .await
    .on_constraint(
        "treatment_plan_versions_items_check",
        Error::invalid("problems", "at most 50 items each"),
    )?;
    get(tx, id).await
}

pub const GET: &str = "
    select id, patient_id, title, created_by, created_at,
           carego.audit_read('patients', tp.patient_id, tp.facility_id) as audited
      from treatment_plans tp
     where id = $1
       and exists (select from patients p
                    where p.facility_id = tp.facility_id and p.id = tp.patient_id and p.deleted_at is null)";

/// A visible plan with its versions (404 otherwise); audited.
pub async fn get(tx: &mut TenantTx, id: TreatmentPlanId) -> Result<TreatmentPlan> {
    let row = tx.query_one(GET, &[&id]).await?;
    Ok(assemble(tx, &[row]).await?.remove(0))
}

/// `$1` the patient, `$2` the fetch limit; then the cursor, when given (see
/// [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    "select id, patient_id, title, created_by, created_at,
            (select carego.audit_read('patients', $1, p.facility_id) from patients p where p.id = $1) as audited
       from treatment_plans
      where patient_id = $1
        and exists (select from patients p where p.id = $1 and p.deleted_at is null) {where}
      order by created_at desc, id desc
      limit $2",
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// A patient's plans, newest first; `NotFound` when the patient is hidden.
pub async fn list(tx: &mut TenantTx, patient: PatientId, page: &PageRequest) -> Result<Vec<TreatmentPlan>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&patient, &limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        patients::ensure_visible(tx, patient).await?;
    }
    assemble(tx, &rows).await
}

pub const OVERDUE: &str = "
    select tp.id, tp.patient_id, tp.title, tp.created_by, tp.created_at
      from treatment_plans tp
      join patients p on p.facility_id = tp.facility_id and p.id = tp.patient_id and p.deleted_at is null
      cross join lateral (
            select v.review_date from treatment_plan_versions v
             where v.facility_id = tp.facility_id and v.plan_id = tp.id and v.status = 'signed'
             order by v.version desc limit 1) in_force
     where in_force.review_date < current_date
     order by in_force.review_date, tp.id
     limit 200";

/// The plans the caller sees whose review is overdue, most overdue first
/// (at most 200).
pub async fn overdue(tx: &mut TenantTx) -> Result<Vec<TreatmentPlan>> {
    let rows = tx.query(OVERDUE, &[]).await?;
    assemble(tx, &rows).await
}

/// Changes to the draft; absent fields keep the current version's.
pub struct DraftPatch<'a> {
    pub problems: Option<&'a [String]>,
    pub goals: Option<&'a [String]>,
    pub interventions: Option<&'a [String]>,
    pub review_date: Option<NaiveDate>,
}

pub const UPDATE_DRAFT: &str = "
    update treatment_plan_versions v set
       problems = coalesce($2, problems), goals = coalesce($3, goals),
       interventions = coalesce($4, interventions), review_date = coalesce($5, review_date)
     where v.plan_id = $1 and v.status = 'draft'
       and exists (select from patients p
                    where p.facility_id = v.facility_id and p.id = v.patient_id and p.deleted_at is null)
    returning id";

// A new draft from the newest version (there is no draft, so it is signed).
pub const NEW_DRAFT: &str = "
    insert into treatment_plan_versions (facility_id, plan_id, patient_id, version, problems, goals,
                                         interventions, review_date, template_id)
    select v.facility_id, v.plan_id, v.patient_id, v.version + 1, coalesce($2, v.problems),
           coalesce($3, v.goals), coalesce($4, v.interventions), coalesce($5, v.review_date), v.template_id
      from treatment_plan_versions v
      join patients p on p.facility_id = v.facility_id and p.id = v.patient_id and p.deleted_at is null
     where v.plan_id = $1
     order by v.version desc
     limit 1
    returning id";

/// Edits the plan's draft, starting one from the version in force when
/// there is none.
pub async fn edit_draft(
    tx: &mut TenantTx,
    plan: TreatmentPlanId,
    d: &DraftPatch<'_>,
) -> Result<TreatmentPlan> {
    let params: crate::db::Params = &[&plan, &d.problems, &d.goals, &d.interventions, &d.review_date];
    let items = Error::invalid("problems", "at most 50 items each");
    let edited = tx
        .query_opt(UPDATE_DRAFT, params)
        .await
        .on_constraint("treatment_plan_versions_items_check", items)?;
    if edited.is_none() {
        let items = Error::invalid("problems", "at most 50 items each");
        tx.query_one(NEW_DRAFT, params)
            .await
            .on_constraint("treatment_plan_versions_items_check", items)
            // Two editors at once: the other's draft won; edit again.
            .on_constraint("treatment_plan_versions_draft_key", Conflict::DUPLICATE)?;
    }
    get(tx, plan).await
}

pub const SIGN: &str = "
    update treatment_plan_versions v set status = 'signed', signed_by = carego.current_user_id(), signed_at = now()
     where v.plan_id = $1 and v.status = 'draft'
       and exists (select from patients p
                    where p.facility_id = v.facility_id and p.id = v.patient_id and p.deleted_at is null)
    returning id";

/// Signs the plan's draft; it never changes again.
pub async fn sign(tx: &mut TenantTx, plan: TreatmentPlanId) -> Result<TreatmentPlan> {
    let signed = tx.query_opt(SIGN, &[&plan]).await?;
    let found = get(tx, plan).await?;
    if signed.is_none() {
        return Err(Conflict::NO_DRAFT.into());
    }
    Ok(found)
}

pub const ACKNOWLEDGE: &str = "
    update treatment_plan_versions v set acknowledged_by = carego.current_user_id(), acknowledged_at = now()
     where v.id = (select x.id from treatment_plan_versions x
                    where x.plan_id = $1 and x.status = 'signed' order by x.version desc limit 1)
       and v.acknowledged_at is null
    returning id";

/// The patient acknowledges the version in force, once.
pub async fn acknowledge(tx: &mut TenantTx, plan: TreatmentPlanId) -> Result<TreatmentPlan> {
    let done = tx.query_opt(ACKNOWLEDGE, &[&plan]).await?;
    let found = get(tx, plan).await?;
    if done.is_none() {
        return Err(Conflict::NOTHING_TO_ACKNOWLEDGE.into());
    }
    Ok(found)
}
