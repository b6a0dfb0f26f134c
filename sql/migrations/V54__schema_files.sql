-- The schema as code (docs/database.md, "Schema as code"): the current
-- definitions of functions live in sql/schema/<area>.sql, applied by
-- `carego migrate` after the versioned migrations. This records what was
-- applied, so an unchanged file is not applied again.
create table carego.schema_files (
    name text primary key,
    -- sha256 of the file's text
    checksum bytea not null,
    -- the newest versioned migration when it was applied: a later migration
    -- may have replaced one of the file's definitions, so the file is
    -- applied again after any new migration
    after_migration integer not null,
    applied_at timestamptz not null default now()
);
revoke all on carego.schema_files from public;
