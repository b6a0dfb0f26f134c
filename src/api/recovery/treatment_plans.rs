//! Treatment plans: templates per facility, plans written by the care team,
//! signed off by a clinician, acknowledged by the patient; a signed version
//! never changes, a change is a new version.

use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, Example, NURSE, PATIENT, PATIENT_USER, PLAN, PLAN_V1, TEMPLATE, page};
use crate::db::recovery::treatment_plans::PlanVersionStatus;
use crate::domain::ids::PlanVersionId;
use crate::domain::ids::UserId;
use crate::error::Conflict;
use crate::{
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    api::{wire, wire_all},
    auth::BearerAuth,
    db::{
        Db,
        recovery::treatment_plans::{self, DraftPatch, NewPlan, PlanContent},
    },
    domain::{
        ids::{PatientId, PlanTemplateId, TreatmentPlanId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Result, Validator},
};
use chrono::{DateTime, Utc};

pub struct TreatmentPlansApi {
    pub db: Db,
}

/// The problems, goals and interventions a request gives, checked: at most
/// 50 items of 1–2000 characters each.
fn plan_items(
    problems: &Opt<Vec<Text>>,
    goals: &Opt<Vec<Text>>,
    interventions: &Opt<Vec<Text>>,
) -> Result<[Option<Vec<String>>; 3]> {
    let mut v = Validator::default();
    let lists = [("problems", problems), ("goals", goals), ("interventions", interventions)];
    for (field, items) in lists {
        if let Some(items) = items.as_deref() {
            v.check(items.len() <= 50, field, "must have at most 50 items");
            let sized = items.iter().all(|i| (1..=2000).contains(&i.chars().count()));
            v.check(sized, field, "each item must be 1–2000 characters");
        }
    }
    v.finish()?;
    Ok(lists.map(|(_, items)| items.as_ref().map(|items| items.iter().map(|i| i.0.clone()).collect())))
}

/// A template for the facility's new plans.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPlanTemplateRequest {
    /// Its name, unique in the facility (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    /// Problems a plan starts with (at most 50).
    pub problems: Opt<Vec<Text>>,
    /// Goals a plan starts with (at most 50).
    pub goals: Opt<Vec<Text>>,
    /// Interventions a plan starts with (at most 50).
    pub interventions: Opt<Vec<Text>>,
    /// Days from a plan's start to its first review, 1–366 (default 30).
    #[oai(validator(minimum(value = "1"), maximum(value = "366")))]
    pub review_interval_days: Opt<i32>,
}

/// A plan to start for a patient.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTreatmentPlanRequest {
    /// Its title (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Text,
    /// A template of the facility to start from: its items come first.
    pub template_id: Opt<PlanTemplateId>,
    /// Problems (at most 50, with the template's).
    pub problems: Opt<Vec<Text>>,
    /// Goals (at most 50, with the template's).
    pub goals: Opt<Vec<Text>>,
    /// Interventions (at most 50, with the template's).
    pub interventions: Opt<Vec<Text>>,
    /// The first review; default the template's interval from today (30 days without one).
    pub review_date: Opt<NaiveDate>,
}

/// Changes to a plan's draft; absent fields keep the current version's.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct TreatmentPlanDraftRequest {
    /// Problems (at most 50; replaces the list).
    pub problems: Opt<Vec<Text>>,
    /// Goals (at most 50; replaces the list).
    pub goals: Opt<Vec<Text>>,
    /// Interventions (at most 50; replaces the list).
    pub interventions: Opt<Vec<Text>>,
    /// The next review.
    pub review_date: Opt<NaiveDate>,
}

/// Plans due for review.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct OverdueReviews {
    /// Most overdue first, at most 200.
    pub items: Vec<TreatmentPlan>,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createPlanTemplate").conflicts(&[Conflict::TEMPLATE_NAME_TAKEN]),
        Contract::of("editTreatmentPlanDraft").conflicts(&[Conflict::DUPLICATE]),
        Contract::of("signTreatmentPlan").conflicts(&[Conflict::NO_DRAFT]),
        Contract::of("acknowledgeTreatmentPlan").conflicts(&[Conflict::NOTHING_TO_ACKNOWLEDGE]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewPlanTemplateRequest>(
            json!({"name": "Alcohol use disorder, residential", "problems": ["Alcohol use disorder"],
                   "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
                   "reviewIntervalDays": 30}),
        ),
        Example::of::<NewTreatmentPlanRequest>(
            json!({"title": "Residential programme", "templateId": TEMPLATE, "problems": ["Insomnia"]}),
        ),
        Example::of::<TreatmentPlanDraftRequest>(
            json!({"interventions": ["CBT weekly", "NA meetings"], "reviewDate": "2027-01-20"}),
        ),
        Example::of::<PlanTemplate>(plan_template_example()),
        Example::of::<TreatmentPlan>(treatment_plan_example()),
        Example::of::<OverdueReviews>(json!({"items": [treatment_plan_example()]})),
        Example::of::<Page<PlanTemplate>>(page(plan_template_example())),
        Example::of::<Page<TreatmentPlan>>(page(treatment_plan_example())),
    ]
}

fn plan_template_example() -> Value {
    json!({"id": TEMPLATE, "name": "Alcohol use disorder, residential", "problems": ["Alcohol use disorder"],
           "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
           "reviewIntervalDays": 30, "createdBy": NURSE, "createdAt": AT})
}

fn treatment_plan_example() -> Value {
    json!({"id": PLAN, "patientId": PATIENT, "title": "Residential programme", "createdBy": NURSE,
           "createdAt": AT, "reviewOverdue": false,
           "versions": [{"id": PLAN_V1, "version": 1, "problems": ["Alcohol use disorder", "Insomnia"],
                         "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
                         "reviewDate": "2026-12-20", "templateId": TEMPLATE, "status": "signed", "createdBy": NURSE,
                         "createdAt": AT, "updatedAt": AT, "signedBy": NURSE, "signedAt": AT,
                         "acknowledgedBy": PATIENT_USER, "acknowledgedAt": AT}]})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::TreatmentPlans")]
impl TreatmentPlansApi {
    /// The facility's plan templates.
    ///
    /// Newest first. Staff and facility admins.
    #[oai(path = "/treatment-plan-templates", method = "get", operation_id = "listPlanTemplates")]
    async fn list_templates(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<PlanTemplate>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| treatment_plans::list_templates(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Make a plan template.
    ///
    /// For the caller's facility; facility admins. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/treatment-plan-templates", method = "post", operation_id = "createPlanTemplate")]
    async fn create_template(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewPlanTemplateRequest>,
    ) -> Result<Created<PlanTemplate>> {
        let b = &body.0;
        let [problems, goals, interventions] =
            plan_items(&b.problems, &b.goals, &b.interventions)?.map(Option::unwrap_or_default);
        let content = PlanContent { problems: &problems, goals: &goals, interventions: &interventions };
        let days = b.review_interval_days.unwrap_or(30);
        let work = async |tx: &mut _| treatment_plans::insert_template(tx, &b.name, &content, days).await;
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreatePlanTemplate, b, work).await
    }

    /// A patient's treatment plans.
    ///
    /// Newest first, each with its versions (a patient sees the signed ones). Audited as a read
    /// of the chart.
    #[oai(path = "/patients/:id/treatment-plans", method = "get", operation_id = "listTreatmentPlans")]
    async fn list(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<TreatmentPlan>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| treatment_plans::list(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Start a treatment plan.
    ///
    /// Staff for a patient in their care, or a facility admin; from a template of the facility or
    /// from scratch. The first version is a draft. Retry-safe with an `Idempotency-Key`.
    #[oai(path = "/patients/:id/treatment-plans", method = "post", operation_id = "createTreatmentPlan")]
    async fn create(
        &self,
        auth: BearerAuth,
        id: Path<PatientId>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewTreatmentPlanRequest>,
    ) -> Result<Created<TreatmentPlan>> {
        let b = &body.0;
        let [problems, goals, interventions] =
            plan_items(&b.problems, &b.goals, &b.interventions)?.map(Option::unwrap_or_default);
        let plan = NewPlan {
            title: &b.title,
            template: b.template_id.0,
            content: PlanContent { problems: &problems, goals: &goals, interventions: &interventions },
            review_date: b.review_date.0,
        };
        let scope = Creates::CreateTreatmentPlan.under(id.0);
        let work = async |tx: &mut _| treatment_plans::insert(tx, id.0, &plan).await;
        idempotency::create(&self.db, &auth.0, key.0, scope, b, work).await
    }

    /// Treatment plans due for review.
    ///
    /// The plans you see whose version in force has a review date in the past, most overdue first
    /// (at most 200).
    #[oai(path = "/treatment-plans/overdue-reviews", method = "get", operation_id = "listOverdueReviews")]
    async fn overdue(&self, auth: BearerAuth) -> Result<Json<OverdueReviews>> {
        let items = self.db.run(&auth.0, async |tx| treatment_plans::overdue(tx).await).await?;
        Ok(Json(OverdueReviews { items: wire_all(items) }))
    }

    /// A treatment plan.
    ///
    /// With its versions, oldest first (a patient sees the signed ones). Audited as a read of the
    /// chart.
    #[oai(path = "/treatment-plans/:id", method = "get", operation_id = "getTreatmentPlan")]
    async fn get(&self, auth: BearerAuth, id: Path<TreatmentPlanId>) -> Result<Json<TreatmentPlan>> {
        self.db.run(&auth.0, async |tx| treatment_plans::get(tx, id.0).await).await.map(wire)
    }

    /// Edit a plan's draft.
    ///
    /// Changes the draft, or, when the newest version is signed, starts a new draft from it (a
    /// signed version never changes). The care team and facility admins.
    #[oai(path = "/treatment-plans/:id/draft", method = "patch", operation_id = "editTreatmentPlanDraft")]
    async fn edit_draft(
        &self,
        auth: BearerAuth,
        id: Path<TreatmentPlanId>,
        body: JsonBody<TreatmentPlanDraftRequest>,
    ) -> Result<Json<TreatmentPlan>> {
        let b = &body.0;
        let [problems, goals, interventions] = plan_items(&b.problems, &b.goals, &b.interventions)?;
        let patch = DraftPatch {
            problems: problems.as_deref(),
            goals: goals.as_deref(),
            interventions: interventions.as_deref(),
            review_date: b.review_date.0,
        };
        self.db.run(&auth.0, async |tx| treatment_plans::edit_draft(tx, id.0, &patch).await).await.map(wire)
    }

    /// Sign a plan's draft.
    ///
    /// A clinician's sign-off (staff of the care team or a facility admin): the version is in
    /// force and never changes. 409 `no_draft` when there is nothing to sign.
    #[oai(path = "/treatment-plans/:id/sign", method = "post", operation_id = "signTreatmentPlan")]
    async fn sign(&self, auth: BearerAuth, id: Path<TreatmentPlanId>) -> Result<Json<TreatmentPlan>> {
        self.db.run(&auth.0, async |tx| treatment_plans::sign(tx, id.0).await).await.map(wire)
    }

    /// Acknowledge a plan.
    ///
    /// The patient confirms they have seen the version in force; recorded with the time, once.
    /// 409 `nothing_to_acknowledge` when there is no signed version waiting.
    #[oai(
        path = "/treatment-plans/:id/acknowledge",
        method = "post",
        operation_id = "acknowledgeTreatmentPlan"
    )]
    async fn acknowledge(&self, auth: BearerAuth, id: Path<TreatmentPlanId>) -> Result<Json<TreatmentPlan>> {
        self.db.run(&auth.0, async |tx| treatment_plans::acknowledge(tx, id.0).await).await.map(wire)
    }
}

/// A facility's template for new plans.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PlanTemplate {
    /// Its id.
    pub id: PlanTemplateId,
    /// Its name, unique in the facility.
    pub name: String,
    /// Problems a plan starts with.
    pub problems: Vec<String>,
    /// Goals a plan starts with.
    pub goals: Vec<String>,
    /// Interventions a plan starts with.
    pub interventions: Vec<String>,
    /// Days from a plan's start to its first review.
    pub review_interval_days: i32,
    /// Who made it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<crate::db::recovery::treatment_plans::PlanTemplate> for PlanTemplate {
    fn from(row: crate::db::recovery::treatment_plans::PlanTemplate) -> Self {
        Self {
            id: row.id,
            name: row.name,
            problems: row.problems,
            goals: row.goals,
            interventions: row.interventions,
            review_interval_days: row.review_interval_days,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// One version of a plan.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct PlanVersion {
    /// Its id.
    pub id: PlanVersionId,
    /// 1, 2, …
    pub version: i32,
    /// Problems addressed.
    pub problems: Vec<String>,
    /// Goals of the plan.
    pub goals: Vec<String>,
    /// Interventions planned.
    pub interventions: Vec<String>,
    /// When the plan is next reviewed.
    pub review_date: NaiveDate,
    /// The template the plan started from.
    pub template_id: Option<PlanTemplateId>,
    /// Draft or signed.
    pub status: PlanVersionStatus,
    /// Who wrote this version.
    pub created_by: UserId,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it last changed (a draft) or was acknowledged.
    pub updated_at: DateTime<Utc>,
    /// The clinician who signed it.
    pub signed_by: Option<UserId>,
    /// When.
    pub signed_at: Option<DateTime<Utc>>,
    /// The patient's account that acknowledged it.
    pub acknowledged_by: Option<UserId>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<crate::db::recovery::treatment_plans::PlanVersion> for PlanVersion {
    fn from(row: crate::db::recovery::treatment_plans::PlanVersion) -> Self {
        Self {
            id: row.id,
            version: row.version,
            problems: row.problems,
            goals: row.goals,
            interventions: row.interventions,
            review_date: row.review_date,
            template_id: row.template_id,
            status: row.status,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            signed_by: row.signed_by,
            signed_at: row.signed_at,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
        }
    }
}

/// A plan and its versions, oldest first (patients see the signed ones).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TreatmentPlan {
    /// Its id.
    pub id: TreatmentPlanId,
    /// The patient.
    pub patient_id: PatientId,
    /// Its title.
    pub title: String,
    /// Who started it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Whether the newest signed version's review date has passed.
    pub review_overdue: bool,
    /// Its versions, oldest first; the last signed one is in force.
    pub versions: Vec<PlanVersion>,
}

impl From<crate::db::recovery::treatment_plans::TreatmentPlan> for TreatmentPlan {
    fn from(row: crate::db::recovery::treatment_plans::TreatmentPlan) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            title: row.title,
            created_by: row.created_by,
            created_at: row.created_at,
            review_overdue: row.review_overdue,
            versions: row.versions.into_iter().map(Into::into).collect(),
        }
    }
}
