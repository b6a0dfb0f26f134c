-- The sync feed carries medications and goals too (V15, V16).
create or replace function carego.sync_entity_types() returns text[]
    language sql immutable parallel safe
    as $$ select array['patients', 'check_ins', 'cravings', 'meetings', 'sobriety_resets',
                       'prescriptions', 'dose_events', 'goals', 'goal_progress'] $$;
