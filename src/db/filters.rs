//! Statements with optional filters: one statement per combination of the
//! filters present, so each gets a plan that fits it.
//!
//! Written as `($1 is null or col = $1)`, a list has one statement for
//! every combination. PostgreSQL plans a prepared statement's first five
//! runs with their values and then settles on a generic plan when that looks
//! no dearer, and the generic plan cannot use an index for a condition that
//! may be switched off: a facility admin's list filtered by counsellor then
//! walks all of the facility's patients (docs/performance.md, "No bad
//! generic plans"). Here each condition is in the statement only when its
//! filter is given.
//!
//! The statements are still constant text: each is assembled once, from
//! this crate's own fragments, by which filters are present (never from a
//! value), and lives for the process, so [`TenantTx`](super::TenantTx) keeps
//! taking `&'static str` and prepares each once per connection.

use std::sync::OnceLock;

use tokio_postgres::types::ToSql;

use crate::domain::page::PageRequest;

/// The statements of one list: a template with `{where}` where the
/// conditions go, and the optional conditions, each with `$` where its
/// parameters go (numbered in order when a variant is built).
pub struct Variants {
    template: &'static str,
    conditions: &'static [&'static str],
    built: OnceLock<Vec<&'static str>>,
}

impl Variants {
    /// `template`'s own parameters (`$1`, `$2`, …) come first, each written
    /// as often as the template needs it; the conditions' are numbered after
    /// the highest of them. At most 8 conditions.
    pub const fn new(template: &'static str, conditions: &'static [&'static str]) -> Self {
        assert!(conditions.len() <= 8, "at most 8 optional conditions");
        Self { template, conditions, built: OnceLock::new() }
    }

    /// The statement with the conditions whose bit is set in `present`.
    pub fn get(&self, present: u32) -> &'static str {
        self.all()[present as usize]
    }

    /// Every combination's statement, by its bits.
    pub fn all(&self) -> &[&'static str] {
        self.built.get_or_init(|| (0..1u32 << self.conditions.len()).map(|mask| self.build(mask)).collect())
    }

    fn build(&self, present: u32) -> &'static str {
        let mut next = 1 + highest_parameter(self.template);
        let mut clause = String::new();
        for (i, condition) in self.conditions.iter().enumerate() {
            if present & (1 << i) == 0 {
                continue;
            }
            clause.push_str(" and ");
            for (j, part) in condition.split('$').enumerate() {
                if j > 0 {
                    assert!(
                        !part.starts_with(|c: char| c.is_ascii_digit()),
                        "a condition's `$` is bare: {condition}"
                    );
                    clause.push('$');
                    clause.push_str(&next.to_string());
                    next += 1;
                }
                clause.push_str(part);
            }
        }
        // One string per combination for the life of the process (at most
        // 2^8 per list): a statement cache keyed by text would keep them anyway.
        Box::leak(self.template.replace("{where}", &clause).into_boxed_str())
    }
}

/// The highest `$n` in `sql`, 0 when it has none.
fn highest_parameter(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            rest[..digits].parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// A list's parameters, and which of its optional conditions they switch on.
pub struct Bound<'a> {
    pub params: Vec<&'a (dyn ToSql + Sync)>,
    pub present: u32,
    condition: u32,
}

impl<'a> Bound<'a> {
    /// The template's own parameters.
    pub fn new(params: Vec<&'a (dyn ToSql + Sync)>) -> Self {
        Self { params, present: 0, condition: 0 }
    }

    /// The next condition, switched on with `values` when `on`.
    pub fn when(mut self, on: bool, values: &[&'a (dyn ToSql + Sync)]) -> Self {
        if on {
            self.present |= 1 << self.condition;
            self.params.extend_from_slice(values);
        }
        self.condition += 1;
        self
    }

    /// The next condition, switched on when `value` is given.
    pub fn opt<T: ToSql + Sync>(self, value: &'a Option<T>) -> Self {
        match value {
            Some(v) => self.when(true, &[v]),
            None => self.when(false, &[]),
        }
    }

    /// The next condition, a keyset cursor `(time, id)`, switched on when
    /// the page continues from one.
    pub fn after(self, page: &'a PageRequest) -> Self {
        match &page.after {
            Some(c) => self.when(true, &[&c.at, &c.id]),
            None => self.when(false, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::page::Cursor;

    static LIST: Variants = Variants::new(
        "select x from t where a = $1 {where} order by x limit $2",
        &["b = $", "(c, d) > ($, $)", "e ilike $"],
    );

    #[test]
    fn each_combination_numbers_its_parameters_after_the_template() {
        assert_eq!(LIST.get(0), "select x from t where a = $1  order by x limit $2");
        assert_eq!(
            LIST.get(0b010),
            "select x from t where a = $1  and (c, d) > ($3, $4) order by x limit $2"
        );
        assert_eq!(
            LIST.get(0b111),
            "select x from t where a = $1  and b = $3 and (c, d) > ($4, $5) and e ilike $6 order by x limit $2"
        );
        // Built once: the same text every time.
        assert!(std::ptr::eq(LIST.get(0b101), LIST.get(0b101)));
    }

    #[test]
    fn a_template_may_use_its_parameters_more_than_once() {
        static BY_PATIENT: Variants = Variants::new(
            "select x, f($1) from t where p = $1 and exists (select from u where u.id = $1) {where} limit $2",
            &["(c, d) < ($::timestamptz, $::uuid)"],
        );
        assert_eq!(
            BY_PATIENT.get(1),
            "select x, f($1) from t where p = $1 and exists (select from u where u.id = $1)  \
             and (c, d) < ($3::timestamptz, $4::uuid) limit $2"
        );
    }

    #[test]
    fn bound_parameters_follow_the_conditions_present() {
        let (a, b, e): (i32, Option<i32>, Option<&str>) = (1, None, Some("x%"));
        let bound = Bound::new(vec![&a]).opt(&b).when(false, &[]).opt(&e);
        assert_eq!(bound.present, 0b100);
        assert_eq!(bound.params.len(), 2);

        let first = PageRequest::new(None, None);
        assert_eq!(Bound::new(vec![&a]).after(&first).present, 0);
        let cursor = Cursor { at: chrono::Utc::now(), id: uuid::Uuid::nil() };
        let next = PageRequest::new(None, Some(cursor));
        let bound = Bound::new(vec![&a]).opt(&b).after(&next);
        assert_eq!((bound.present, bound.params.len()), (0b10, 3));
    }

    /// The statements under `src/db` that keep an optional parameter, each
    /// with why no index choice hangs on it: (file, its line, why).
    const KEPT: &[(&str, &str, &str)] = &[
        ("filters.rs", "//! Written as `(", "this module's docs name the pattern"),
        ("filters.rs", "const SAMPLE: &str", "this test's own sample"),
        (
            "catalog/leads.rs",
            "null or exists (",
            "ASSIGN updates one lead by id; an assignee, when given, must be staff of its facility",
        ),
        (
            "clinical/attendance.rs",
            "null or exists (select 1 from patients",
            "INSERT writes one row; a visit's patient must be visible, a shift event has none",
        ),
        (
            "recovery/treatment_plans.rs",
            "null or t.id is not null",
            "INSERT_FIRST_VERSION writes one row; a template, when named, must be the facility's",
        ),
    ];

    const SAMPLE: &str = "where ($1::uuid is null or a = $1) and ($2 IS NULL\n OR b = $2) and (not $3 or c)";

    /// `(line number, line)` of each optional parameter in `text`: `$n is
    /// null or …` (with or without a cast) and a boolean switch `($n or …)`
    /// / `(not $n or …)`.
    fn optional_parameters(text: &str) -> Vec<(usize, &str)> {
        static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
        let pattern = PATTERN.get_or_init(|| {
            regex::Regex::new(
                r"(?i)\$\d+(::[a-z0-9_ \[\]]+?)?\s+is\s+null\s+or\b|\(\s*(not\s+)?\$\d+(::bool)?\s+or\b",
            )
            .unwrap()
        });
        let lines: Vec<&str> = text.lines().collect();
        pattern
            .find_iter(text)
            .map(|m| {
                let n = text[..m.start()].matches('\n').count();
                (n + 1, lines[n])
            })
            .collect()
    }

    #[test]
    fn the_check_finds_optional_parameters() {
        let found: Vec<usize> = optional_parameters(SAMPLE).iter().map(|(n, _)| *n).collect();
        assert_eq!(found, [1, 1, 2]);
        let fine = "where a = $1 and coalesce($2, b) = b or c = $3 and d is null or e = $4";
        assert_eq!(optional_parameters(fine), []);
    }

    /// A list written with an optional filter or cursor gets generic plans
    /// that cannot use an index for it: lists use [`Variants`].
    #[test]
    fn no_statement_under_db_has_an_optional_parameter() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/db");
        let mut dirs = vec![root.clone()];
        let (mut files, mut found, mut kept) = (0, Vec::new(), vec![false; KEPT.len()]);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                files += 1;
                let name = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in optional_parameters(&text) {
                    match KEPT.iter().position(|(f, l, _)| *f == name && line.contains(l)) {
                        Some(i) => kept[i] = true,
                        None => found.push(format!("src/db/{name}:{n}: {}", line.trim())),
                    }
                }
            }
        }
        assert!(files > 40, "read only {files} files under {}", root.display());
        assert!(
            found.is_empty(),
            "optional parameters; write these lists with `Variants`:\n{}",
            found.join("\n")
        );
        let stale: Vec<_> = KEPT.iter().zip(kept).filter(|(_, k)| !k).map(|(e, _)| e).collect();
        assert!(stale.is_empty(), "kept statements no longer found: {stale:?}");
    }
}
