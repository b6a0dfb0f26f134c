//! Where each table lives on a Citus cluster: distributed by facility and
//! co-located, a reference table copied to every node, or a table kept on
//! the coordinator. The one declaration a new table must join (`carego
//! doctor` reports a table that is not placed, or placed and gone), read
//! by the distribution step of docs/scale-out.md. On plain PostgreSQL it
//! changes nothing.

/// Where a table lives on Citus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Distributed by this column (the facility), co-located with every
    /// other tenant table, so a facility's rows and its joins stay on one
    /// shard.
    Distributed(&'static str),
    /// Copied to every node: read by every facility, written rarely, and
    /// needed on the workers (a policy's or a trigger's lookup there).
    Reference,
    /// Kept on the coordinator alone, with the reason.
    Coordinator,
    /// To be distributed by facility, but it does not carry `facility_id`
    /// yet: the keys step of docs/scale-out.md adds it.
    NeedsFacilityKey,
}

/// A table (schema-qualified where not `public`), where it lives, and why
/// when that is not simply "a facility's own rows".
pub struct Placed {
    pub table: &'static str,
    pub placement: Placement,
    pub why: &'static str,
}

const fn tenant(table: &'static str) -> Placed {
    Placed { table, placement: Placement::Distributed("facility_id"), why: "" }
}

const fn placed(table: &'static str, placement: Placement, why: &'static str) -> Placed {
    Placed { table, placement, why }
}

use Placement::{Coordinator, Distributed, NeedsFacilityKey, Reference};

/// Every table of the `public` and `carego` schemas.
pub const PLACEMENTS: &[Placed] = &[
    placed("facilities", Distributed("id"), "the tenant root: its id is every other table's facility_id"),
    tenant("announcement_acknowledgements"),
    tenant("announcements"),
    tenant("api_key_usage"),
    tenant("api_keys"),
    tenant("assignments"),
    tenant("attendance"),
    tenant("attention_acknowledgements"),
    tenant("audit_log"),
    tenant("batches"),
    tenant("care_logs"),
    tenant("certificates"),
    tenant("check_ins"),
    tenant("class_attendance"),
    tenant("client_care_recipients"),
    tenant("client_profiles"),
    tenant("conversation_members"),
    tenant("conversations"),
    tenant("courses"),
    tenant("cravings"),
    tenant("crisis_alerts"),
    tenant("documents"),
    tenant("dose_events"),
    tenant("enrollments"),
    tenant("events"),
    tenant("facility_metrics_watermarks"),
    tenant("facility_weekly_metrics"),
    tenant("goal_progress"),
    tenant("goals"),
    tenant("idempotency_keys"),
    tenant("invoice_counters"),
    tenant("invoice_lines"),
    tenant("invoices"),
    tenant("lead_events"),
    tenant("lead_notes"),
    tenant("leads"),
    tenant("meetings"),
    tenant("message_attachments"),
    tenant("messages"),
    tenant("mfa_factors"),
    tenant("patients"),
    tenant("payments"),
    tenant("plans"),
    tenant("prescriptions"),
    tenant("registration_keys"),
    tenant("services"),
    tenant("sessions"),
    tenant("sobriety_resets"),
    tenant("staff_profiles"),
    tenant("student_profiles"),
    tenant("teacher_profiles"),
    tenant("treatment_plan_templates"),
    tenant("treatment_plan_versions"),
    tenant("treatment_plans"),
    tenant("users"),
    tenant("vitals"),
    tenant("webhook_deliveries"),
    tenant("webhook_subscriptions"),
    placed("cities", Reference, "the platform's list every facility's catalog and profiles point into"),
    placed(
        "carego.secret_columns",
        Reference,
        "the secrets registry the audit trigger reads, on the shard that fires it",
    ),
    placed(
        "jobs",
        Coordinator,
        "one queue for every facility and the platform, claimed with FOR UPDATE SKIP LOCKED by every \
         server; its foreign keys to facilities and users cannot follow those onto the shards",
    ),
    placed(
        "rate_limit_hits",
        Coordinator,
        "login and lead-form limits are counted before any facility is known, per account or address",
    ),
    placed(
        "carego.context_key",
        Coordinator,
        "the signing key; a copy reaches the workers only with the signed context they can verify",
    ),
    placed("carego.schema_files", Coordinator, "migrate's record of the schema files it applied"),
    placed("refinery_schema_history", Coordinator, "migrate's record of the migrations it applied"),
    placed(
        "refresh_tokens",
        NeedsFacilityKey,
        "hangs off sessions, which are found by (facility_id, id) once distributed",
    ),
    placed(
        "stream_tickets",
        NeedsFacilityKey,
        "hangs off sessions, which are found by (facility_id, id) once distributed",
    ),
];

/// Every table of the `public` and `carego` schemas, schema-qualified as
/// [`PLACEMENTS`] names them (no prefix for `public`).
pub const TABLES: &str = "
    select case when n.nspname = 'public' then '' else n.nspname || '.' end || c.relname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname in ('public', 'carego') and c.relkind in ('r', 'p')
     order by 1";

/// Every column of those tables, as `table.column`.
pub const COLUMNS: &str = "
    select case when n.nspname = 'public' then '' else n.nspname || '.' end || c.relname || '.' || a.attname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where n.nspname in ('public', 'carego') and c.relkind in ('r', 'p')
     order by 1";

/// What is wrong with the placements against the tables `tables` (with
/// their columns, as `table.column`): `(check, object)` findings for a
/// table nobody placed, a placement whose table is gone, and a table
/// distributed by a column it does not have.
pub fn check(tables: &[String], columns: &[String]) -> Vec<(&'static str, String)> {
    let mut findings = Vec::new();
    for table in tables {
        if !PLACEMENTS.iter().any(|p| p.table == table) {
            findings.push(("table_without_placement", table.clone()));
        }
    }
    for p in PLACEMENTS {
        if !tables.iter().any(|t| t == p.table) {
            findings.push(("placement_without_table", p.table.to_owned()));
        } else if let Distributed(column) = p.placement {
            if !columns
                .iter()
                .any(|c| c.strip_prefix(p.table).and_then(|c| c.strip_prefix('.')) == Some(column))
            {
                findings.push(("distribution_column_missing", format!("{}.{column}", p.table)));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_placed_once_and_every_exception_says_why() {
        let mut names: Vec<&str> = PLACEMENTS.iter().map(|p| p.table).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table placed twice");
        for p in PLACEMENTS {
            let plain = p.placement == Distributed("facility_id");
            assert_eq!(
                p.why.is_empty(),
                plain,
                "{}: only a plain tenant table goes without a reason",
                p.table
            );
        }
    }

    #[test]
    fn the_check_names_what_is_unplaced_gone_or_unkeyed() {
        let mut tables: Vec<String> = PLACEMENTS.iter().map(|p| p.table.to_owned()).collect();
        tables.retain(|t| t != "vitals");
        tables.push("new_table".to_owned());
        let columns: Vec<String> = PLACEMENTS
            .iter()
            .filter_map(|p| match p.placement {
                Distributed(c) if p.table != "patients" => Some(format!("{}.{c}", p.table)),
                _ => None,
            })
            .collect();
        let mut found = check(&tables, &columns);
        found.sort();
        assert_eq!(
            found,
            [
                ("distribution_column_missing", "patients.facility_id".to_owned()),
                ("placement_without_table", "vitals".to_owned()),
                ("table_without_placement", "new_table".to_owned()),
            ]
        );
    }
}
