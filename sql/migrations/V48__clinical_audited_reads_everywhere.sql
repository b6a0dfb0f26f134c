-- Every read of personal data is accounted for (issue 20, item 5): besides
-- charts and patient lists (V45), reads of messages, crisis alerts,
-- documents, leads and user accounts leave one audit row per request naming
-- the records read (`carego.audit_reads`, called by the functions that read
-- them in src/db). Every request role may call it; it records the
-- staff-side roles, teachers and integrators (V49 defines it so), not a
-- patient, client or student reading what is theirs.

select carego.grant_to_group('execute on function carego.audit_reads(text, uuid[])', 'request');
