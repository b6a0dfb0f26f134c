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

/// The statements of one list: a template with `{where}` where the
/// conditions go, and the optional conditions, each with `$` where its
/// parameters go (numbered in order when a variant is built).
pub struct Variants {
    template: &'static str,
    conditions: &'static [&'static str],
    built: OnceLock<Vec<&'static str>>,
}

impl Variants {
    /// `template`'s own parameters (`$1`, `$2`, …, each written once) come
    /// first; the conditions' are numbered after them. At most 8 conditions.
    pub const fn new(template: &'static str, conditions: &'static [&'static str]) -> Self {
        assert!(conditions.len() <= 8, "at most 8 optional conditions");
        Self { template, conditions, built: OnceLock::new() }
    }

    /// The statement with the conditions whose bit is set in `present`.
    pub fn get(&self, present: u32) -> &'static str {
        self.built.get_or_init(|| (0..1u32 << self.conditions.len()).map(|mask| self.build(mask)).collect())
            [present as usize]
    }

    fn build(&self, present: u32) -> &'static str {
        let mut next = 1 + self.template.matches('$').count();
        let mut clause = String::new();
        for (i, condition) in self.conditions.iter().enumerate() {
            if present & (1 << i) == 0 {
                continue;
            }
            clause.push_str(" and ");
            for (j, part) in condition.split('$').enumerate() {
                if j > 0 {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bound_parameters_follow_the_conditions_present() {
        let (a, b, e): (i32, Option<i32>, Option<&str>) = (1, None, Some("x%"));
        let bound = Bound::new(vec![&a]).opt(&b).when(false, &[]).opt(&e);
        assert_eq!(bound.present, 0b100);
        assert_eq!(bound.params.len(), 2);
    }
}
