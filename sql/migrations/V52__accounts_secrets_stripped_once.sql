-- The audit list strips secrets once per page, not twice per row (issue 21).
--
-- carego.strip_secrets (V46) is a SQL function whose body has a sub-select,
-- so PostgreSQL never inlines it: the audit list ran it twice for every row,
-- each call an executor of its own, and planned its body twice per page
-- (pg_stat_statements: 42 calls and 2 plans per page of 21). A facility
-- admin's audit page spent most of its time there: the same page with the
-- registry joined once was 1.9 times faster in pgbench (docs/performance.md).
--
-- Now the registry's columns per table are one view, which the audit list
-- joins (src/db/audit.rs, LIST) and strip_secrets reads.

-- security_invoker (doctor: view_without_security_invoker): the registry is
-- readable by every request role already.
create view carego.secret_column_sets with (security_invoker = true) as
    select s.table_name::text as table_name,
           array_agg(s.column_name::text order by s.column_name) as columns
      from carego.secret_columns s
     group by s.table_name;

select carego.grant_to_group('select on carego.secret_column_sets', 'request');

-- The audit trigger strips every row it records. As PL/pgSQL its statement is
-- planned once per connection; as SQL it was planned again in every
-- transaction that wrote an audited row.
create or replace function carego.strip_secrets(p_table text, p_values jsonb) returns jsonb
    language plpgsql
    stable
    parallel safe
    set search_path = pg_catalog, public
    as $$
begin
    return p_values - coalesce((select s.columns from carego.secret_column_sets s where s.table_name = p_table),
                               '{}'::text[]);
end
$$;
