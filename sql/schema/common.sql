-- Triggers every area uses: append-only rows, updated_at, the request's stamp on a record (src/db/amendments.rs and each area's tables).
--
-- The current definition of every function of this area. `carego migrate` applies this file
-- after the versioned migrations, whenever it or the migrations changed (docs/database.md,
-- "Schema as code"). Change a function here, not in a new migration.

-- carego.forbid_change(), since V1
CREATE OR REPLACE FUNCTION carego.forbid_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    raise exception '% is append-only: % is not allowed', tg_table_name, tg_op
        using errcode = 'CG409';
end
$function$;

-- carego.stamp_link(), since V34
CREATE OR REPLACE FUNCTION carego.stamp_link()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    new.linked_by := carego.current_user_id();
    new.linked_at := now();
    return new;
end
$function$;

-- carego.stamp_record(), since V8
CREATE OR REPLACE FUNCTION carego.stamp_record()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    new.recorded_by := carego.current_user_id();
    new.recorded_at := now();
    if new.recorded_by is null then
        raise exception '% needs a user in the request context', tg_table_name
            using errcode = '42501';
    end if;
    return new;
end
$function$;

-- carego.touch_updated_at(), since V3
CREATE OR REPLACE FUNCTION carego.touch_updated_at()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
    -- A no-op update stays a no-op: no new timestamp, so no audit row either.
    if new is not distinct from old then
        return new;
    end if;
    new.updated_at := now();
    return new;
end
$function$;
