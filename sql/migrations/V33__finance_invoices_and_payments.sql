-- Finance: a facility's price list (plans), invoices for its clients and
-- students, credit notes, and payments. Money is integer minor units with
-- an ISO 4217 currency, never a float.
--
-- An invoice is a draft until issued; issuing numbers it (per facility and
-- year, gap-free) and freezes it: its lines and totals never change again,
-- and a correction is a credit note against it. It becomes `paid` when its
-- payments cover it, and back to `issued` if a refund uncovers it; an
-- issued invoice with no payments may be voided. Payments are append-only;
-- a refund is a negative payment, never more than was paid.
--
-- Facility admins keep all of it. A client or a student reads their own
-- invoices (once issued), credit notes and payments.

create table plans (
    facility_id uuid        not null,
    id          uuid        not null default gen_random_uuid(),
    name        text        not null,
    service_id  uuid,
    course_id   uuid,
    price_minor bigint      not null,
    currency    text        not null,
    period      text        not null,
    active      boolean     not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint plans_pkey primary key (facility_id, id),
    constraint plans_service_fkey foreign key (facility_id, service_id) references services (facility_id, id),
    constraint plans_course_fkey foreign key (facility_id, course_id) references courses (facility_id, id),
    constraint plans_name_check check (length(name) between 1 and 200),
    constraint plans_price_check check (price_minor between 0 and 100000000000),
    constraint plans_currency_check check (currency ~ '^[A-Z]{3}$'),
    constraint plans_period_check check (period in ('one_time', 'per_visit', 'weekly', 'monthly')),
    constraint plans_target_check check (service_id is null or course_id is null)
);

alter table plans enable row level security;
alter table plans force row level security;

create policy plans_facility_isolation on plans as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy plans_super_admin_gate on plans as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy plans_admin_all on plans for all
    to carego_facility_admin, carego_super_admin using (true) with check (true);

grant select on plans to carego_facility_admin, carego_super_admin;
grant insert (facility_id, name, service_id, course_id, price_minor, currency, period, active),
      update (name, service_id, course_id, price_minor, currency, period, active)
    on plans to carego_facility_admin;

create trigger plans_touch before update on plans
    for each row execute function carego.touch_updated_at();
create trigger plans_audit after insert or update or delete on plans
    for each row execute function carego.audit_row('facility_id');

create table invoices (
    facility_id    uuid        not null,
    id             uuid        not null default gen_random_uuid(),
    kind           text        not null default 'invoice',
    number         text,
    customer_id    uuid        not null,
    credit_for_id  uuid,
    status         text        not null default 'draft',
    currency       text        not null,
    subtotal_minor bigint      not null default 0,
    tax_minor      bigint      not null default 0,
    total_minor    bigint      not null default 0,
    due_on         date,
    notes          text,
    void_reason    text,
    issued_at      timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint invoices_pkey primary key (facility_id, id),
    constraint invoices_number_key unique (facility_id, number),
    constraint invoices_customer_fkey foreign key (facility_id, customer_id) references users (facility_id, id),
    constraint invoices_credit_for_fkey foreign key (facility_id, credit_for_id)
        references invoices (facility_id, id),
    constraint invoices_kind_check check (kind in ('invoice', 'credit_note')),
    constraint invoices_credit_check check ((kind = 'credit_note') = (credit_for_id is not null)),
    constraint invoices_status_check check (status in ('draft', 'issued', 'paid', 'void')),
    constraint invoices_currency_check check (currency ~ '^[A-Z]{3}$'),
    constraint invoices_totals_check
        check (subtotal_minor >= 0 and tax_minor >= 0 and total_minor = subtotal_minor + tax_minor),
    constraint invoices_issued_check check ((status = 'draft') = (issued_at is null and number is null)),
    constraint invoices_notes_check check (length(notes) between 1 and 2000),
    constraint invoices_void_check check ((status = 'void') = (void_reason is not null))
);
create index invoices_customer_idx on invoices (facility_id, customer_id, created_at desc);

alter table invoices enable row level security;
alter table invoices force row level security;

create policy invoices_facility_isolation on invoices as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy invoices_super_admin_gate on invoices as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy invoices_admin_select on invoices for select
    to carego_facility_admin, carego_super_admin using (true);
create policy invoices_admin_insert on invoices for insert to carego_facility_admin with check (true);
create policy invoices_admin_update on invoices for update
    to carego_facility_admin using (true) with check (true);
create policy invoices_customer_select on invoices for select to carego_client, carego_student
    using (customer_id = (select carego.current_user_id()) and status <> 'draft');
create policy invoices_owner_all on invoices for all to carego_owner using (true) with check (true);

grant select on invoices to carego_client, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, kind, customer_id, credit_for_id, currency, due_on, notes)
    on invoices to carego_facility_admin;
grant update (status, due_on, notes, void_reason) on invoices to carego_facility_admin;

create table invoice_lines (
    facility_id      uuid    not null,
    id               uuid    not null default gen_random_uuid(),
    invoice_id       uuid    not null,
    position         integer not null,
    description      text    not null,
    plan_id          uuid,
    quantity         integer not null,
    unit_price_minor bigint  not null,
    tax_rate_bp      integer not null default 0,
    -- Half up, per line: what the line says is what the invoice adds.
    subtotal_minor   bigint  generated always as (quantity * unit_price_minor) stored,
    tax_minor        bigint  generated always as ((quantity * unit_price_minor * tax_rate_bp + 5000) / 10000) stored,
    constraint invoice_lines_pkey primary key (facility_id, id),
    constraint invoice_lines_position_key unique (facility_id, invoice_id, position),
    constraint invoice_lines_invoice_fkey foreign key (facility_id, invoice_id)
        references invoices (facility_id, id),
    constraint invoice_lines_plan_fkey foreign key (facility_id, plan_id) references plans (facility_id, id),
    constraint invoice_lines_description_check check (length(description) between 1 and 500),
    constraint invoice_lines_quantity_check check (quantity between 1 and 100000),
    constraint invoice_lines_price_check check (unit_price_minor between 0 and 10000000000),
    constraint invoice_lines_tax_check check (tax_rate_bp between 0 and 10000)
);

alter table invoice_lines enable row level security;
alter table invoice_lines force row level security;

create policy invoice_lines_facility_isolation on invoice_lines as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy invoice_lines_super_admin_gate on invoice_lines as restrictive for all
    to carego_super_admin using ((select carego.is_super_admin()));
create policy invoice_lines_admin_select on invoice_lines for select
    to carego_facility_admin, carego_super_admin using (true);
create policy invoice_lines_admin_insert on invoice_lines for insert to carego_facility_admin with check (true);
create policy invoice_lines_admin_delete on invoice_lines for delete to carego_facility_admin using (true);
create policy invoice_lines_customer_select on invoice_lines for select to carego_client, carego_student
    using (exists (select 1 from invoices i where i.facility_id = invoice_lines.facility_id
                     and i.id = invoice_lines.invoice_id));
create policy invoice_lines_owner_select on invoice_lines for select to carego_owner using (true);

grant select on invoice_lines to carego_client, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, invoice_id, position, description, plan_id, quantity, unit_price_minor, tax_rate_bp),
      delete
    on invoice_lines to carego_facility_admin;

-- Lines change only while their invoice is a draft; the draft's totals
-- follow its lines. Runs as the owner so the totals are written whoever
-- changed the lines (only an admin can).
create function carego.invoice_lines_follow() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create function carego.invoice_totals() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create trigger invoice_lines_follow before insert or update or delete on invoice_lines
    for each row execute function carego.invoice_lines_follow();
create trigger invoice_lines_totals after insert or delete on invoice_lines
    for each row execute function carego.invoice_totals();
create trigger invoice_lines_audit after insert or update or delete on invoice_lines
    for each row execute function carego.audit_row('facility_id');

-- Gap-free numbers per facility, year and kind.
create table invoice_counters (
    facility_id uuid    not null,
    year        integer not null,
    kind        text    not null,
    last        integer not null,
    constraint invoice_counters_pkey primary key (facility_id, year, kind),
    constraint invoice_counters_facility_fkey foreign key (facility_id) references facilities (id)
);

alter table invoice_counters enable row level security;
alter table invoice_counters force row level security;
create policy invoice_counters_facility_isolation on invoice_counters as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy invoice_counters_owner_all on invoice_counters for all to carego_owner
    using (true) with check (true);

-- An invoice's life (see the header); issuing numbers it.
create function carego.invoices_guard() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create trigger invoices_guard before update on invoices
    for each row execute function carego.invoices_guard();
create trigger invoices_touch before update on invoices
    for each row execute function carego.touch_updated_at();
create trigger invoices_audit after insert or update or delete on invoices
    for each row execute function carego.audit_row('facility_id');
create trigger invoices_no_delete before delete or truncate on invoices
    for each statement execute function carego.forbid_change();

create table payments (
    facility_id  uuid        not null,
    id           uuid        not null default gen_random_uuid(),
    invoice_id   uuid        not null,
    amount_minor bigint      not null,
    method       text        not null,
    reference    text,
    received_at  timestamptz not null,
    recorded_by  uuid,
    recorded_at  timestamptz not null default now(),
    constraint payments_pkey primary key (facility_id, id),
    constraint payments_invoice_fkey foreign key (facility_id, invoice_id) references invoices (facility_id, id),
    constraint payments_amount_check check (amount_minor <> 0 and abs(amount_minor) <= 100000000000),
    constraint payments_method_check check (method in ('cash', 'card', 'upi', 'bank_transfer', 'cheque', 'other')),
    constraint payments_reference_check check (length(reference) between 1 and 200)
);
create index payments_invoice_idx on payments (facility_id, invoice_id, recorded_at);

alter table payments enable row level security;
alter table payments force row level security;

create policy payments_facility_isolation on payments as restrictive for all
    to carego_public, carego_patient, carego_staff, carego_facility_admin, carego_integrator,
       carego_client, carego_student, carego_teacher
    using (facility_id = (select carego.current_facility_id()));
create policy payments_super_admin_gate on payments as restrictive for all to carego_super_admin
    using ((select carego.is_super_admin()));
create policy payments_admin_select on payments for select
    to carego_facility_admin, carego_super_admin using (true);
create policy payments_admin_insert on payments for insert to carego_facility_admin with check (true);
create policy payments_customer_select on payments for select to carego_client, carego_student
    using (exists (select 1 from invoices i where i.facility_id = payments.facility_id
                     and i.id = payments.invoice_id));
create policy payments_owner_select on payments for select to carego_owner using (true);

grant select on payments to carego_client, carego_student, carego_facility_admin, carego_super_admin;
grant insert (facility_id, invoice_id, amount_minor, method, reference, received_at)
    on payments to carego_facility_admin;

-- A payment lands on an issued (or paid) invoice, never over its total; a
-- refund never takes back more than was paid. The invoice's row lock makes
-- two concurrent payments add up, not overlap.
create function carego.payments_check() returns trigger
    language plpgsql
    security definer
    set search_path = pg_catalog, public
    as $$
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
$$;

create trigger payments_check before insert on payments
    for each row execute function carego.payments_check();
create trigger payments_append_only before update or delete or truncate on payments
    for each statement execute function carego.forbid_change();
create trigger payments_audit after insert on payments
    for each row execute function carego.audit_row('facility_id');
