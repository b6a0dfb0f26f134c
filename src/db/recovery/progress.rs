//! How a patient is doing: the recovery figures of the dashboard, and the
//! explainable "needs attention" prompt with the factors that raised it.
//!
//! The prompt is a rule a clinician can read, never a prediction: each
//! factor names what was seen and its numbers, so the care team can judge it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::tenths;
use crate::{
    db::TenantTx,
    domain::{ids::PatientId, text_enum},
    error::{Conflict, Result},
};

/// The conflicts the needs-attention flag can meet.
impl Conflict {
    pub const NO_ATTENTION_NEEDED: Self =
        Self::new("no_attention_needed", "Nothing about this patient needs attention now.");
}

text_enum! {
    /// What raised a "needs attention" prompt.
    pub enum AttentionFactorCode {
        /// No check-in for 48 hours (or none at all yet).
        NoRecentCheckIn = "no_recent_check_in",
        /// The mood of the last 3 days is 2 or more points below the 14 days before.
        MoodDrop = "mood_drop",
        /// 3 or more cravings in the last 3 days, at least twice the daily rate of the 14 days
        /// before, or one of intensity 8 or more in the last 48 hours.
        CravingSpike = "craving_spike",
        /// 2 or more doses missed or refused in the last 7 days.
        MissedDoses = "missed_doses",
    }
}

/// One factor, with what was seen.
#[derive(Debug, Clone)]
pub struct AttentionFactor {
    pub code: AttentionFactorCode,
    pub detail: String,
}

/// A prompt for the care team to look at the patient, with its reasons.
#[derive(Debug, Clone)]
pub struct Attention {
    pub needed: bool,
    pub factors: Vec<AttentionFactor>,
    pub acknowledged: bool,
    pub last_acknowledgement: Option<Acknowledgement>,
}

/// A member of the care team saw the prompt.
#[derive(Debug, Clone)]
pub struct Acknowledgement {
    pub by: crate::domain::ids::UserId,
    pub at: DateTime<Utc>,
    pub factors: Vec<AttentionFactorCode>,
    pub note: Option<String>,
}

/// Average mood.
#[derive(Debug, Clone)]
pub struct MoodTrend {
    pub average_7d: Option<f64>,
    pub average_30d: Option<f64>,
    pub change_7d: Option<f64>,
}

/// Cravings counted.
#[derive(Debug, Clone)]
pub struct CravingTrend {
    pub last_7d: i64,
    pub previous_7d: i64,
    pub used_7d: i64,
}

/// Goals counted.
#[derive(Debug, Clone)]
pub struct GoalSummary {
    pub active: i64,
    pub achieved: i64,
    pub average_progress_pct: Option<f64>,
}

/// The recovery part of a patient's dashboard.
#[derive(Debug, Clone)]
pub struct RecoverySummary {
    pub check_in_streak: i64,
    pub last_check_in_at: Option<DateTime<Utc>>,
    pub mood: MoodTrend,
    pub cravings: CravingTrend,
    pub dose_adherence_30d: Option<f64>,
    pub goals: GoalSummary,
    pub attention: Attention,
}

// Under the caller's RLS: each sub-select sees only what the caller may see.
pub const SUMMARY: &str = "
    with c as (
        select checked_in_at, mood from check_ins
         where facility_id = $2 and patient_id = $1 and checked_in_at > now() - interval '400 days'),
    days as (select distinct (checked_in_at at time zone 'UTC')::date as d from c),
    anchor as (
        select case when exists (select from days where d = (now() at time zone 'UTC')::date)
                    then (now() at time zone 'UTC')::date else (now() at time zone 'UTC')::date - 1 end as a),
    cr as (
        select occurred_at, intensity, outcome from cravings
         where facility_id = $2 and patient_id = $1 and occurred_at > now() - interval '17 days'),
    dz as (
        select status, scheduled_at from dose_events
         where facility_id = $2 and patient_id = $1 and scheduled_at > now() - interval '30 days'),
    ack as (
        select recorded_by, recorded_at, factors, note from attention_acknowledgements
         where facility_id = $2 and patient_id = $1 and recorded_at > now() - interval '7 days'
         order by recorded_at desc, id desc limit 1)
    select
        (select recorded_by from ack) as ack_by, (select recorded_at from ack) as ack_at,
        (select factors from ack) as ack_factors, (select note from ack) as ack_note,
        (select count(*) from (select d, row_number() over (order by d desc) as rn from days) x, anchor
          where x.d = anchor.a - (x.rn - 1)::int) as streak,
        (select max(checked_in_at) from c) as last_check_in_at,
        (select avg(mood)::float8 from c where checked_in_at > now() - interval '7 days') as mood_7d,
        (select avg(mood)::float8 from c where checked_in_at > now() - interval '30 days') as mood_30d,
        (select avg(mood)::float8 from c
          where checked_in_at <= now() - interval '7 days' and checked_in_at > now() - interval '14 days') as mood_prev_7d,
        (select avg(mood)::float8 from c where checked_in_at > now() - interval '3 days') as mood_3d,
        (select avg(mood)::float8 from c
          where checked_in_at <= now() - interval '3 days' and checked_in_at > now() - interval '17 days') as mood_prev_14d,
        (select count(*) from cr where occurred_at > now() - interval '7 days') as cravings_7d,
        (select count(*) from cr
          where occurred_at <= now() - interval '7 days' and occurred_at > now() - interval '14 days') as cravings_prev_7d,
        (select count(*) from cr where occurred_at > now() - interval '7 days' and outcome = 'used') as used_7d,
        (select count(*) from cr where occurred_at > now() - interval '3 days') as cravings_3d,
        (select count(*) from cr where occurred_at <= now() - interval '3 days') as cravings_prev_14d,
        (select max(intensity) from cr where occurred_at > now() - interval '48 hours') as max_intensity_48h,
        (select count(*) filter (where status in ('taken', 'late')) from dz) as doses_taken,
        (select count(*) from dz) as doses_all,
        (select count(*) from dz
          where status in ('missed', 'refused') and scheduled_at > now() - interval '7 days') as doses_missed_7d,
        (select count(*) from goals g where g.facility_id = $2 and g.patient_id = $1 and g.status = 'active') as goals_active,
        (select count(*) from goals g where g.facility_id = $2 and g.patient_id = $1 and g.status = 'achieved') as goals_achieved,
        (select avg(pct)::float8 from (
            select (select e.progress_pct from goal_progress e
                     where e.facility_id = g.facility_id and e.goal_id = g.id and e.progress_pct is not null
                     order by e.recorded_at desc, e.id desc limit 1) as pct
              from goals g where g.facility_id = $2 and g.patient_id = $1 and g.status = 'active') x) as goals_pct";

/// The recovery figures of a patient the caller sees (the caller has
/// already found the patient, in `facility`).
pub async fn summary(
    tx: &mut TenantTx,
    patient: PatientId,
    facility: crate::domain::ids::FacilityId,
) -> Result<RecoverySummary> {
    let r = tx.query_one(SUMMARY, &[&patient, &facility]).await?;
    let doses_all: i64 = r.try_get("doses_all")?;
    let doses_taken: i64 = r.try_get("doses_taken")?;
    let mood_7d: Option<f64> = r.try_get("mood_7d")?;
    let mood_prev_7d: Option<f64> = r.try_get("mood_prev_7d")?;
    Ok(RecoverySummary {
        check_in_streak: r.try_get("streak")?,
        last_check_in_at: r.try_get("last_check_in_at")?,
        mood: MoodTrend {
            average_7d: mood_7d.map(tenths),
            average_30d: r.try_get::<_, Option<f64>>("mood_30d")?.map(tenths),
            change_7d: mood_7d.zip(mood_prev_7d).map(|(now, before)| tenths(now - before)),
        },
        cravings: CravingTrend {
            last_7d: r.try_get("cravings_7d")?,
            previous_7d: r.try_get("cravings_prev_7d")?,
            used_7d: r.try_get("used_7d")?,
        },
        dose_adherence_30d: (doses_all > 0).then(|| doses_taken as f64 / doses_all as f64),
        goals: GoalSummary {
            active: r.try_get("goals_active")?,
            achieved: r.try_get("goals_achieved")?,
            average_progress_pct: r.try_get::<_, Option<f64>>("goals_pct")?.map(tenths),
        },
        attention: attention(&r)?,
    })
}

/// The rules, each with the numbers that made it hold.
fn attention(r: &Row) -> Result<Attention> {
    let mut factors = Vec::new();
    let mut add = |code: AttentionFactorCode, detail: String| factors.push(AttentionFactor { code, detail });

    let last: Option<DateTime<Utc>> = r.try_get("last_check_in_at")?;
    match last {
        None => add(AttentionFactorCode::NoRecentCheckIn, "No check-in recorded yet.".into()),
        Some(at) if Utc::now() - at > chrono::Duration::hours(48) => {
            let hours = (Utc::now() - at).num_hours();
            add(AttentionFactorCode::NoRecentCheckIn, format!("Last check-in {hours} hours ago."));
        }
        Some(_) => {}
    }
    let (recent, before): (Option<f64>, Option<f64>) = (r.try_get("mood_3d")?, r.try_get("mood_prev_14d")?);
    if let (Some(recent), Some(before)) = (recent, before) {
        if before - recent >= 2.0 {
            add(
                AttentionFactorCode::MoodDrop,
                format!(
                    "Mood averaged {:.1} over the last 3 days, down from {:.1} the 14 days before.",
                    recent, before
                ),
            );
        }
    }
    let (c3, c14): (i64, i64) = (r.try_get("cravings_3d")?, r.try_get("cravings_prev_14d")?);
    let max48: Option<i16> = r.try_get("max_intensity_48h")?;
    // Daily rates: the last 3 days against the 14 before.
    let spike = c3 >= 3 && (c3 as f64 / 3.0) >= 2.0 * (c14 as f64 / 14.0);
    if spike {
        add(
            AttentionFactorCode::CravingSpike,
            format!("{c3} cravings in the last 3 days against {c14} in the 14 days before."),
        );
    } else if let Some(max) = max48.filter(|m| *m >= 8) {
        add(AttentionFactorCode::CravingSpike, format!("A craving of intensity {max} in the last 48 hours."));
    }
    let missed: i64 = r.try_get("doses_missed_7d")?;
    if missed >= 2 {
        add(
            AttentionFactorCode::MissedDoses,
            format!("{missed} doses missed or refused in the last 7 days."),
        );
    }
    let last_acknowledgement = match r.try_get::<_, Option<crate::domain::ids::UserId>>("ack_by")? {
        Some(by) => {
            let codes: Vec<String> = r.try_get("ack_factors")?;
            Some(Acknowledgement {
                by,
                at: r.try_get("ack_at")?,
                factors: codes.iter().filter_map(|c| AttentionFactorCode::parse(c)).collect(),
                note: r.try_get("ack_note")?,
            })
        }
        None => None,
    };
    let acknowledged = !factors.is_empty()
        && last_acknowledgement.as_ref().is_some_and(|a| factors.iter().all(|f| a.factors.contains(&f.code)));
    Ok(Attention { needed: !factors.is_empty(), factors, acknowledged, last_acknowledgement })
}

pub const FACILITY_OF: &str = "select facility_id from patients where id = $1 and deleted_at is null";

pub const ACKNOWLEDGE: &str = "
    insert into attention_acknowledgements (facility_id, patient_id, factors, note)
    values ($1, $2, $3, $4)
    returning recorded_by, recorded_at";

/// The care team acknowledges the factors that hold now (409 when none
/// does); the prompt as it then stands.
pub async fn acknowledge(tx: &mut TenantTx, patient: PatientId, note: Option<&str>) -> Result<Attention> {
    let facility: crate::domain::ids::FacilityId =
        tx.query_one(FACILITY_OF, &[&patient]).await?.try_get(0)?;
    let now = summary(tx, patient, facility).await?;
    if !now.attention.needed {
        return Err(Conflict::NO_ATTENTION_NEEDED.into());
    }
    let mut attention = now.attention;
    let codes: Vec<&str> = attention.factors.iter().map(|f| f.code.as_str()).collect();
    let row = tx.query_one(ACKNOWLEDGE, &[&facility, &patient, &codes, &note]).await?;
    // It covers every factor that holds: no need to compute them again.
    attention.acknowledged = true;
    attention.last_acknowledgement = Some(Acknowledgement {
        by: row.try_get("recorded_by")?,
        at: row.try_get("recorded_at")?,
        factors: attention.factors.iter().map(|f| f.code).collect(),
        note: note.map(str::to_owned),
    });
    Ok(attention)
}

/// A staff member's caseload at a glance.
#[derive(Debug, Clone)]
pub struct StaffWorkload {
    pub staff_id: crate::domain::ids::UserId,
    pub caseload: i64,
    pub overdue_reviews: i64,
    pub without_check_in_48h: Vec<PatientId>,
    pub missed_doses_7d: Vec<PatientId>,
    pub unacknowledged_attention: Vec<PatientId>,
}

// Under the caller's RLS: staff find only themselves among users and see
// only their caseload; facility admins see their facility's staff and
// patients. Patients see no staff member's workload.
pub const WORKLOAD: &str = "
    with staff as (
        select u.id, u.facility_id from users u
         where u.id = $1 and u.role = 'staff' and carego.current_app_role() in ('staff', 'facility_admin')),
    caseload as (
        select p.facility_id, p.id from patients p, staff s
         where p.facility_id = s.facility_id and p.deleted_at is null
           and (p.primary_counsellor_id = s.id
                or exists (select from assignments a
                            where a.facility_id = p.facility_id and a.patient_id = p.id and a.staff_id = s.id
                              and a.ended_at is null)))
    select (select id from staff) as staff_id,
           array(select c.facility_id from caseload c order by c.id) as caseload_facilities,
           array(select c.id from caseload c order by c.id) as caseload_ids,
           (select count(*) from caseload) as caseload,
           (select count(*) from caseload c
              join treatment_plans tp on tp.facility_id = c.facility_id and tp.patient_id = c.id
              cross join lateral (
                    select v.review_date from treatment_plan_versions v
                     where v.facility_id = tp.facility_id and v.plan_id = tp.id and v.status = 'signed'
                     order by v.version desc limit 1) in_force
             where in_force.review_date < current_date) as overdue_reviews,
           array(select c.id from caseload c
                  where not exists (select from check_ins ci
                                     where ci.facility_id = c.facility_id and ci.patient_id = c.id
                                       and ci.checked_in_at > now() - interval '48 hours')
                  order by c.id) as without_check_in,
           array(select c.id from caseload c
                  where (select count(*) from dose_events d
                          where d.facility_id = c.facility_id and d.patient_id = c.id
                            and d.status in ('missed', 'refused') and d.scheduled_at > now() - interval '7 days') >= 2
                  order by c.id) as missed_doses";

/// The workload of a staff member the caller sees (404 otherwise).
pub async fn workload(tx: &mut TenantTx, staff: crate::domain::ids::UserId) -> Result<StaffWorkload> {
    let row = tx.query_one(WORKLOAD, &[&staff]).await?;
    let Some(staff_id) = row.try_get("staff_id")? else {
        return Err(crate::error::Error::NotFound);
    };
    let ids = |column: &str| -> Result<Vec<PatientId>> {
        let ids: Vec<uuid::Uuid> = row.try_get(column)?;
        Ok(ids.into_iter().map(PatientId).collect())
    };
    let facilities: Vec<uuid::Uuid> = row.try_get("caseload_facilities")?;
    let mut unacknowledged_attention = Vec::new();
    // One summary per patient of the caseload: a caseload is tens of patients.
    for (patient, facility) in ids("caseload_ids")?.into_iter().zip(facilities) {
        let a = summary(tx, patient, crate::domain::ids::FacilityId(facility)).await?.attention;
        if a.needed && !a.acknowledged {
            unacknowledged_attention.push(patient);
        }
    }
    Ok(StaffWorkload {
        unacknowledged_attention,
        staff_id,
        caseload: row.try_get("caseload")?,
        overdue_reviews: row.try_get("overdue_reviews")?,
        without_check_in_48h: ids("without_check_in")?,
        missed_doses_7d: ids("missed_doses")?,
    })
}
