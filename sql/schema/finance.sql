-- Invoices and payments (src/db/finance).
--
-- The current definition of every function of this area and who may execute it, and every
-- policy and grant of its tables. `carego migrate` applies this file after the versioned
-- migrations, whenever it or the migrations changed (docs/database.md, "Schema as code").
-- Change a function here, not in a new migration. Each function is followed by its grants:
-- EXECUTE revoked from PUBLIC and every app role, then granted to exactly the roles that call
-- it.

-- carego.invoice_lines_follow(), since V33
CREATE OR REPLACE FUNCTION carego.invoice_lines_follow()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_row invoice_lines;
    v_status text;
begin
    v_row := coalesce(new, old);
    select i.status into v_status from public.invoices i
     where i.facility_id = v_row.facility_id and i.id = v_row.invoice_id for update;
    if v_status is distinct from 'draft' then
        raise exception 'invoice % is not a draft', v_row.invoice_id
            using errcode = '23514', constraint = 'invoices_frozen_check', table = 'invoices';
    end if;
    return coalesce(new, old);
end
$function$;
revoke all on function carego.invoice_lines_follow() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.invoice_totals(), since V33
CREATE OR REPLACE FUNCTION carego.invoice_totals()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_row invoice_lines;
begin
    v_row := coalesce(new, old);
    update public.invoices i
       set subtotal_minor = t.subtotal, tax_minor = t.tax, total_minor = t.subtotal + t.tax
      from (select coalesce(sum(l.subtotal_minor), 0) as subtotal, coalesce(sum(l.tax_minor), 0) as tax
              from public.invoice_lines l
             where l.facility_id = v_row.facility_id and l.invoice_id = v_row.invoice_id) t
     where i.facility_id = v_row.facility_id and i.id = v_row.invoice_id;
    return null;
end
$function$;
revoke all on function carego.invoice_totals() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.invoices_guard(), since V33
CREATE OR REPLACE FUNCTION carego.invoices_guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_year integer;
    v_n integer;
begin
    if old.status = 'draft' and new.status = 'draft' then
        return new;
    end if;
    if old.status = 'draft' and new.status = 'issued' then
        if new.kind = 'invoice' and not exists (
            select 1 from public.invoice_lines l where l.facility_id = new.facility_id and l.invoice_id = new.id) then
            raise exception 'invoice % has no lines', new.id
                using errcode = '23514', constraint = 'invoices_empty_check', table = 'invoices';
        end if;
        v_year := extract(year from pg_catalog.now() at time zone 'UTC');
        insert into public.invoice_counters as c (facility_id, year, kind, last)
        values (new.facility_id, v_year, new.kind, 1)
        on conflict (facility_id, year, kind) do update set last = c.last + 1
        returning c.last into v_n;
        new.number := case new.kind when 'invoice' then 'INV-' else 'CN-' end
                      || v_year || '-' || pg_catalog.lpad(v_n::text, 6, '0');
        new.issued_at := pg_catalog.now();
        return new;
    end if;
    if new.status = 'void' and old.status <> 'void' and exists (
        select 1 from public.payments p where p.facility_id = old.facility_id and p.invoice_id = old.id) then
        raise exception 'invoice % has payments', old.id
            using errcode = '23514', constraint = 'invoices_paid_check', table = 'invoices';
    end if;
    -- Issued or later: the money columns and the customer are frozen; the
    -- status moves only issued ↔ paid, or issued → void.
    if (new.customer_id, new.currency, new.subtotal_minor, new.tax_minor, new.total_minor, new.kind,
        new.number, new.issued_at, new.credit_for_id, new.due_on, new.notes)
       is distinct from
       (old.customer_id, old.currency, old.subtotal_minor, old.tax_minor, old.total_minor, old.kind,
        old.number, old.issued_at, old.credit_for_id, old.due_on, old.notes)
       or not ((old.status, new.status) in (('issued', 'paid'), ('paid', 'issued'), ('issued', 'void'),
                                            ('issued', 'issued'), ('paid', 'paid'))) then
        raise exception 'invoice % is % and does not change so', old.id, old.status
            using errcode = '23514', constraint = 'invoices_frozen_check', table = 'invoices';
    end if;
    return new;
end
$function$;
revoke all on function carego.invoices_guard() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- carego.payments_check(), since V33
CREATE OR REPLACE FUNCTION carego.payments_check()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
declare
    v_inv record;
    v_paid bigint;
begin
    select i.status, i.kind, i.total_minor into v_inv from public.invoices i
     where i.facility_id = new.facility_id and i.id = new.invoice_id for update;
    if v_inv.kind <> 'invoice' or v_inv.status not in ('issued', 'paid') then
        raise exception 'invoice % takes no payments', new.invoice_id
            using errcode = '23514', constraint = 'payments_invoice_open_check', table = 'payments';
    end if;
    select coalesce(sum(p.amount_minor), 0) into v_paid from public.payments p
     where p.facility_id = new.facility_id and p.invoice_id = new.invoice_id;
    if v_paid + new.amount_minor > v_inv.total_minor then
        raise exception 'payment exceeds what is owed on %', new.invoice_id
            using errcode = '23514', constraint = 'payments_overpaid_check', table = 'payments';
    end if;
    if v_paid + new.amount_minor < 0 then
        raise exception 'refund exceeds what was paid on %', new.invoice_id
            using errcode = '23514', constraint = 'payments_refund_check', table = 'payments';
    end if;
    new.recorded_by := carego.current_user_id();
    new.recorded_at := pg_catalog.now();
    return new;
end
$function$;
revoke all on function carego.payments_check() from public, carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- Policies and grants, table by table. Each policy is dropped if it exists and created again.
-- A policy taken out of this file is not dropped by it (a wall must never vanish by omission):
-- drop it in a migration. After the files, `carego migrate` widens every facility wall to the
-- whole tenant group (`carego.apply_role_groups`, V44). A table's grants start from none:
-- every app role's privileges on it and its columns are revoked, then granted as written, so
-- a grant taken out of this file is gone after the next apply.

-- invoice_counters, since V33
drop policy if exists invoice_counters_facility_isolation on public.invoice_counters;
create policy invoice_counters_facility_isolation on public.invoice_counters as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists invoice_counters_owner_all on public.invoice_counters;
create policy invoice_counters_owner_all on public.invoice_counters as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.invoice_counters from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;

-- invoice_lines, since V33
drop policy if exists invoice_lines_facility_isolation on public.invoice_lines;
create policy invoice_lines_facility_isolation on public.invoice_lines as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists invoice_lines_super_admin_gate on public.invoice_lines;
create policy invoice_lines_super_admin_gate on public.invoice_lines as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists invoice_lines_admin_delete on public.invoice_lines;
create policy invoice_lines_admin_delete on public.invoice_lines as permissive for delete to carego_facility_admin
    using (true);
drop policy if exists invoice_lines_admin_insert on public.invoice_lines;
create policy invoice_lines_admin_insert on public.invoice_lines as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists invoice_lines_admin_select on public.invoice_lines;
create policy invoice_lines_admin_select on public.invoice_lines as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists invoice_lines_customer_select on public.invoice_lines;
create policy invoice_lines_customer_select on public.invoice_lines as permissive for select to carego_client, carego_student
    using ((EXISTS ( SELECT 1
   FROM invoices i
  WHERE ((i.facility_id = invoice_lines.facility_id) AND (i.id = invoice_lines.invoice_id)))));
drop policy if exists invoice_lines_owner_select on public.invoice_lines;
create policy invoice_lines_owner_select on public.invoice_lines as permissive for select to carego_owner
    using (true);
revoke all on table public.invoice_lines from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select, delete,
      insert (facility_id, invoice_id, position, description, plan_id, quantity, unit_price_minor, tax_rate_bp)
   on table public.invoice_lines to carego_facility_admin;
grant select on table public.invoice_lines to carego_client, carego_student, carego_super_admin;

-- invoices, since V33
drop policy if exists invoices_facility_isolation on public.invoices;
create policy invoices_facility_isolation on public.invoices as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists invoices_super_admin_gate on public.invoices;
create policy invoices_super_admin_gate on public.invoices as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists invoices_admin_insert on public.invoices;
create policy invoices_admin_insert on public.invoices as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists invoices_admin_select on public.invoices;
create policy invoices_admin_select on public.invoices as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists invoices_admin_update on public.invoices;
create policy invoices_admin_update on public.invoices as permissive for update to carego_facility_admin
    using (true)
    with check (true);
drop policy if exists invoices_customer_select on public.invoices;
create policy invoices_customer_select on public.invoices as permissive for select to carego_client, carego_student
    using (((customer_id = ( SELECT carego.current_user_id() AS current_user_id)) AND (status <> 'draft'::text)));
drop policy if exists invoices_owner_all on public.invoices;
create policy invoices_owner_all on public.invoices as permissive for all to carego_owner
    using (true)
    with check (true);
revoke all on table public.invoices from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, kind, customer_id, credit_for_id, currency, due_on, notes),
      update (status, due_on, notes, void_reason)
   on table public.invoices to carego_facility_admin;
grant select on table public.invoices to carego_client, carego_student, carego_super_admin;

-- payments, since V33
drop policy if exists payments_facility_isolation on public.payments;
create policy payments_facility_isolation on public.payments as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists payments_super_admin_gate on public.payments;
create policy payments_super_admin_gate on public.payments as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists payments_admin_insert on public.payments;
create policy payments_admin_insert on public.payments as permissive for insert to carego_facility_admin
    with check (true);
drop policy if exists payments_admin_select on public.payments;
create policy payments_admin_select on public.payments as permissive for select to carego_facility_admin, carego_super_admin
    using (true);
drop policy if exists payments_customer_select on public.payments;
create policy payments_customer_select on public.payments as permissive for select to carego_client, carego_student
    using ((EXISTS ( SELECT 1
   FROM invoices i
  WHERE ((i.facility_id = payments.facility_id) AND (i.id = payments.invoice_id)))));
drop policy if exists payments_owner_select on public.payments;
create policy payments_owner_select on public.payments as permissive for select to carego_owner
    using (true);
revoke all on table public.payments from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, invoice_id, amount_minor, method, reference, received_at)
   on table public.payments to carego_facility_admin;
grant select on table public.payments to carego_client, carego_student, carego_super_admin;

-- plans, since V33
drop policy if exists plans_facility_isolation on public.plans;
create policy plans_facility_isolation on public.plans as restrictive for all to carego_client, carego_facility_admin, carego_integrator, carego_patient, carego_public, carego_staff, carego_student, carego_teacher, carego_worker
    using ((facility_id = ( SELECT carego.current_facility_id() AS current_facility_id)));
drop policy if exists plans_super_admin_gate on public.plans;
create policy plans_super_admin_gate on public.plans as restrictive for all to carego_super_admin
    using (( SELECT carego.is_super_admin() AS is_super_admin));
drop policy if exists plans_admin_all on public.plans;
create policy plans_admin_all on public.plans as permissive for all to carego_facility_admin, carego_super_admin
    using (true)
    with check (true);
revoke all on table public.plans from carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator, carego_client, carego_student, carego_teacher, carego_worker, carego_super_admin, carego_app, carego_platform;
grant select,
      insert (facility_id, name, service_id, course_id, price_minor, currency, period, active),
      update (name, service_id, course_id, price_minor, currency, period, active)
   on table public.plans to carego_facility_admin;
grant select on table public.plans to carego_super_admin;
