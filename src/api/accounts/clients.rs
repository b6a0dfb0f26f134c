//! Clients, students and teachers: accounts made with their profile in one
//! transaction, by a facility admin (super admins name the facility), or by
//! converting a lead (`api::catalog::leads`).

use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use super::users::parse_contact;
use crate::api::accounts::users::User;
use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{CITY, CLIENT_USER, Example, FACILITY, LATER, TEACHER, TRAINING_CENTRE, page};
use crate::domain::ids::CityId;
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{
        ApiTags, Created,
        body::JsonBody,
        idempotency::{self, Creates, IdempotencyKey},
        page::Page,
    },
    auth::{BearerAuth, password},
    db::{
        Db,
        accounts::{clients, facilities, users::NewUser},
    },
    domain::{
        contact::{Email, Phone},
        ids::{FacilityId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result, Validator},
    identity::{Principal, Role},
};
use chrono::NaiveDate;

/// The account of a new client or student. Without a password it is `pending` until an
/// admin sets one.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountRequest {
    /// Super admins name the facility; facility admins may omit it (their own).
    pub facility_id: Opt<FacilityId>,
    /// Email address (stored lower-case); unique across the platform.
    #[oai(validator(max_length = 254))]
    pub email: Opt<Text>,
    /// Phone number: 10–15 digits, optionally starting with `+`; unique across the platform.
    #[oai(validator(max_length = 32))]
    pub phone: Opt<Text>,
    /// At least 10 characters; without one the account is `pending`.
    #[oai(validator(min_length = 10, max_length = 128))]
    pub password: Opt<Text>,
    /// Given name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Text,
    /// Family name (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Text,
}

/// A new client.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClientRequest {
    /// The account.
    pub account: AccountRequest,
    /// Who the care is for.
    pub profile: ClientProfile,
}

/// A new student.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewStudentRequest {
    /// The account.
    pub account: AccountRequest,
    /// The profile.
    pub profile: StudentProfile,
}

/// A new teacher.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTeacherRequest {
    /// The account.
    pub account: AccountRequest,
    /// The profile.
    pub profile: TeacherProfile,
}

/// An account that passed validation, its password hashed.
pub struct ValidAccount {
    pub facility_id: Option<FacilityId>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub password_hash: Option<String>,
    pub first_name: String,
    pub last_name: String,
}

impl AccountRequest {
    /// Checks the fields (errors under `account.`) and hashes the password.
    /// With `contact_elsewhere`, an email or phone may be left to the caller
    /// to fill in (a conversion takes the lead's).
    pub async fn validate(&self, contact_elsewhere: bool) -> Result<ValidAccount> {
        let mut v = Validator::default();
        let contact = parse_contact(&mut v, "account.", self.email.as_deref(), self.phone.as_deref());
        v.check(
            contact_elsewhere || contact.email.is_some() || contact.phone.is_some(),
            "account.email",
            "give an email or a phone number (or both)",
        );
        if let Some(Err(msg)) = self.password.as_deref().map(password::validate) {
            v.check(false, "account.password", msg);
        }
        v.check(!self.first_name.trim().is_empty(), "account.firstName", "must not be blank");
        v.check(!self.last_name.trim().is_empty(), "account.lastName", "must not be blank");
        v.finish()?;
        let password_hash = match self.password.as_deref() {
            Some(p) => Some(password::hash(p.to_owned()).await?),
            None => None,
        };
        Ok(ValidAccount {
            facility_id: self.facility_id.0,
            email: contact.email,
            phone: contact.phone,
            password_hash,
            first_name: self.first_name.trim().to_owned(),
            last_name: self.last_name.trim().to_owned(),
        })
    }
}

impl ValidAccount {
    /// The account to insert: in the facility named, else the caller's own
    /// (a facility admin naming another one is refused by RLS).
    pub fn new_user(&self, role: Role, caller: &Principal) -> Result<NewUser<'_>> {
        let facility = self.facility_id.or(caller.facility_id);
        if facility.is_none() {
            return Err(Error::invalid("account.facilityId", "name the facility the account belongs to"));
        }
        Ok(NewUser {
            facility_id: facility,
            email: self.email.as_ref(),
            phone: self.phone.as_ref(),
            password_hash: self.password_hash.clone(),
            role,
            first_name: &self.first_name,
            last_name: &self.last_name,
            job_title: None,
        })
    }
}

pub struct ClientsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("createClient")
            .conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN])
            .names_a_record_outside_its_path(),
        Contract::of("createStudent")
            .conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN])
            .names_a_record_outside_its_path(),
        Contract::of("createTeacher")
            .conflicts(&[Conflict::EMAIL_TAKEN, Conflict::PHONE_TAKEN])
            .names_a_record_outside_its_path(),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<Client>(
            json!({"account": client_account_example(), "profile": client_profile_example()}),
        ),
        Example::of::<Page<Client>>(page(
            json!({"account": client_account_example(), "profile": client_profile_example()}),
        )),
        Example::of::<NewClientRequest>(
            json!({"account": {"facilityId": FACILITY, "email": "asha@example.com", "firstName": "Asha", "lastName": "Verma"},
                   "profile": client_profile_example()}),
        ),
        Example::of::<Teacher>(teacher_example()),
        Example::of::<Page<Teacher>>(page(teacher_example())),
        Example::of::<NewTeacherRequest>(
            json!({"account": {"facilityId": TRAINING_CENTRE, "email": "meera@academy.example",
                               "firstName": "Meera", "lastName": "Iyer"},
                   "profile": {"subjects": ["First aid"], "bio": "Twelve years as a ward nurse."}}),
        ),
        Example::of::<Student>(student_example()),
        Example::of::<Page<Student>>(page(student_example())),
        Example::of::<NewStudentRequest>(
            json!({"account": {"facilityId": TRAINING_CENTRE, "phone": "+919811122233", "firstName": "Ravi", "lastName": "Meena"},
                   "profile": student_profile_example()}),
        ),
    ]
}

/// A client's account; the student and teacher examples vary it, and the lead conversion
/// example shows the account it made.
pub(crate) fn client_account_example() -> Value {
    json!({"id": CLIENT_USER, "facilityId": FACILITY, "email": "asha@example.com", "phone": "+919812345678",
           "role": "client", "status": "active", "firstName": "Asha", "lastName": "Verma", "onCall": false,
           "passwordChangedAt": LATER, "createdAt": LATER, "updatedAt": LATER})
}

/// Also the profile in the lead conversion request example.
pub(crate) fn client_profile_example() -> Value {
    json!({"careRecipientName": "Mohan Verma", "careRecipientRelation": "father",
           "careRecipientBornOn": "1951-04-02", "careNeeds": "Post-operative wound care; diabetic.",
           "address": "12 Civil Lines, Jaipur", "cityId": CITY, "preferredLanguage": "hi"})
}

fn student_profile_example() -> Value {
    json!({"bornOn": "2004-09-17", "education": "Class XII", "guardianName": "Sunita Meena",
           "guardianPhone": "+919876543210", "cityId": CITY})
}

fn student_example() -> Value {
    let mut account = client_account_example();
    account["role"] = json!("student");
    json!({"account": account, "profile": student_profile_example()})
}

fn teacher_example() -> Value {
    let mut account = client_account_example();
    account["id"] = json!(TEACHER);
    account["role"] = json!("teacher");
    json!({"account": account, "profile": {"subjects": ["First aid", "Dementia care"],
                                           "bio": "Twelve years as a ward nurse."}})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Clients")]
impl ClientsApi {
    /// Clients.
    ///
    /// The facility's clients with their profiles, newest first. Facility admins (super admins:
    /// every facility's).
    #[oai(path = "/clients", method = "get", operation_id = "listClients")]
    async fn list_clients(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Client>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| clients::list_clients(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a client.
    ///
    /// Facility admins: the account (role `client`) and its profile, together. A facility named
    /// that the caller cannot see is 404.
    #[oai(path = "/clients", method = "post", operation_id = "createClient")]
    async fn create_client(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewClientRequest>,
    ) -> Result<Created<Client>> {
        let account = body.0.account.validate(false).await?;
        let profile = &body.0.profile;
        let work = async |tx: &mut _| {
            let user = account.new_user(Role::Client, &auth.0)?;
            facilities::get(tx, user.facility_id.expect("new_user names one")).await?;
            clients::create_client(tx, &user, &profile.into()).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateClient, &body.0, work).await
    }

    /// A client.
    ///
    /// Facility admins; a client, themselves.
    #[oai(path = "/clients/:id", method = "get", operation_id = "getClient")]
    async fn get_client(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<Client>> {
        self.db.run(&auth.0, async |tx| clients::get_client(tx, id.0).await).await.map(wire)
    }

    /// Students.
    ///
    /// The facility's students with their profiles, newest first. Facility admins (super
    /// admins: every facility's).
    #[oai(path = "/students", method = "get", operation_id = "listStudents")]
    async fn list_students(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Student>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| clients::list_students(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a student.
    ///
    /// Facility admins: the account (role `student`) and its profile, together. A facility named
    /// that the caller cannot see is 404.
    #[oai(path = "/students", method = "post", operation_id = "createStudent")]
    async fn create_student(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewStudentRequest>,
    ) -> Result<Created<Student>> {
        let account = body.0.account.validate(false).await?;
        let profile = &body.0.profile;
        let work = async |tx: &mut _| {
            let user = account.new_user(Role::Student, &auth.0)?;
            facilities::get(tx, user.facility_id.expect("new_user names one")).await?;
            clients::create_student(tx, &user, &profile.into()).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateStudent, &body.0, work).await
    }

    /// A student.
    ///
    /// Facility admins; a student, themselves.
    #[oai(path = "/students/:id", method = "get", operation_id = "getStudent")]
    async fn get_student(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<Student>> {
        self.db.run(&auth.0, async |tx| clients::get_student(tx, id.0).await).await.map(wire)
    }

    /// Teachers.
    ///
    /// The facility's teachers with their profiles, newest first. Facility admins (super
    /// admins: every facility's).
    #[oai(path = "/teachers", method = "get", operation_id = "listTeachers")]
    async fn list_teachers(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Teacher>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| clients::list_teachers(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Add a teacher.
    ///
    /// Facility admins: the account (role `teacher`) and its profile, together. A teacher sees
    /// the batches they teach and records their attendance; nothing clinical. A facility named
    /// that the caller cannot see is 404.
    #[oai(path = "/teachers", method = "post", operation_id = "createTeacher")]
    async fn create_teacher(
        &self,
        auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKey>>,
        body: JsonBody<NewTeacherRequest>,
    ) -> Result<Created<Teacher>> {
        let b = &body.0;
        let mut v = Validator::default();
        v.check(
            b.profile.subjects.iter().all(|s| (1..=100).contains(&s.trim().chars().count())),
            "profile.subjects",
            "each subject is 1–100 characters",
        );
        v.finish()?;
        let account = b.account.validate(false).await?;
        let work = async |tx: &mut _| {
            let user = account.new_user(Role::Teacher, &auth.0)?;
            facilities::get(tx, user.facility_id.expect("new_user names one")).await?;
            clients::create_teacher(tx, &user, &(&b.profile).into()).await
        };
        idempotency::create(&self.db, &auth.0, key.0, Creates::CreateTeacher, &body.0, work).await
    }

    /// A teacher.
    ///
    /// Facility admins; a teacher, themselves.
    #[oai(path = "/teachers/:id", method = "get", operation_id = "getTeacher")]
    async fn get_teacher(&self, auth: BearerAuth, id: Path<UserId>) -> Result<Json<Teacher>> {
        self.db.run(&auth.0, async |tx| clients::get_teacher(tx, id.0).await).await.map(wire)
    }
}

/// Who a client books care for, and where.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientProfile {
    /// The person who receives the care (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub care_recipient_name: String,
    /// How they are related to the client: mother, self... (1–100 characters).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub care_recipient_relation: Option<String>,
    /// The care recipient's date of birth.
    pub care_recipient_born_on: Option<NaiveDate>,
    /// What care they need (1–5000 characters).
    #[oai(validator(min_length = 1, max_length = 5000))]
    pub care_needs: Option<String>,
    /// Where the care is given (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub address: Option<String>,
    /// The city of that address.
    pub city_id: Option<CityId>,
    /// BCP 47 language tag, e.g. `hi` or `en-IN`.
    #[oai(validator(pattern = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"))]
    pub preferred_language: Option<String>,
}

impl From<crate::db::accounts::clients::ClientProfile> for ClientProfile {
    fn from(row: crate::db::accounts::clients::ClientProfile) -> Self {
        Self {
            care_recipient_name: row.care_recipient_name,
            care_recipient_relation: row.care_recipient_relation,
            care_recipient_born_on: row.care_recipient_born_on,
            care_needs: row.care_needs,
            address: row.address,
            city_id: row.city_id,
            preferred_language: row.preferred_language,
        }
    }
}

/// The request's client profile as the row `db` stores.
impl From<&ClientProfile> for crate::db::accounts::clients::ClientProfile {
    fn from(wire: &ClientProfile) -> Self {
        Self {
            care_recipient_name: wire.care_recipient_name.clone(),
            care_recipient_relation: wire.care_recipient_relation.clone(),
            care_recipient_born_on: wire.care_recipient_born_on,
            care_needs: wire.care_needs.clone(),
            address: wire.address.clone(),
            city_id: wire.city_id,
            preferred_language: wire.preferred_language.clone(),
        }
    }
}

/// A student's profile.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct StudentProfile {
    /// Date of birth.
    pub born_on: Option<NaiveDate>,
    /// Schooling so far (1–500 characters).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub education: Option<String>,
    /// A parent or guardian (1–200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub guardian_name: Option<String>,
    /// Their phone number: 10–15 digits, optionally starting with `+`.
    #[oai(validator(pattern = r"^\+?[0-9]{10,15}$"))]
    pub guardian_phone: Option<String>,
    /// Where the student lives.
    pub city_id: Option<CityId>,
}

impl From<crate::db::accounts::clients::StudentProfile> for StudentProfile {
    fn from(row: crate::db::accounts::clients::StudentProfile) -> Self {
        Self {
            born_on: row.born_on,
            education: row.education,
            guardian_name: row.guardian_name,
            guardian_phone: row.guardian_phone,
            city_id: row.city_id,
        }
    }
}

/// The request's student profile as the row `db` stores.
impl From<&StudentProfile> for crate::db::accounts::clients::StudentProfile {
    fn from(wire: &StudentProfile) -> Self {
        Self {
            born_on: wire.born_on,
            education: wire.education.clone(),
            guardian_name: wire.guardian_name.clone(),
            guardian_phone: wire.guardian_phone.clone(),
            city_id: wire.city_id,
        }
    }
}

/// A teacher's profile.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct TeacherProfile {
    /// What they teach (at most 20, each 1–100 characters).
    #[oai(validator(max_items = 20))]
    pub subjects: Vec<String>,
    /// A few lines about them (1–2000 characters).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub bio: Option<String>,
}

impl From<crate::db::accounts::clients::TeacherProfile> for TeacherProfile {
    fn from(row: crate::db::accounts::clients::TeacherProfile) -> Self {
        Self { subjects: row.subjects, bio: row.bio }
    }
}

/// The request's teacher profile as the row `db` stores.
impl From<&TeacherProfile> for crate::db::accounts::clients::TeacherProfile {
    fn from(wire: &TeacherProfile) -> Self {
        Self { subjects: wire.subjects.clone(), bio: wire.bio.clone() }
    }
}

/// A teacher: the account and its profile.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Teacher {
    /// The account.
    pub account: User,
    /// The profile.
    pub profile: TeacherProfile,
}

impl From<crate::db::accounts::clients::Teacher> for Teacher {
    fn from(row: crate::db::accounts::clients::Teacher) -> Self {
        Self { account: row.account.into(), profile: row.profile.into() }
    }
}

/// A client: the account and its profile.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Client {
    /// The account.
    pub account: User,
    /// The profile.
    pub profile: ClientProfile,
}

impl From<crate::db::accounts::clients::Client> for Client {
    fn from(row: crate::db::accounts::clients::Client) -> Self {
        Self { account: row.account.into(), profile: row.profile.into() }
    }
}

/// A student: the account and its profile.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Student {
    /// The account.
    pub account: User,
    /// The profile.
    pub profile: StudentProfile,
}

impl From<crate::db::accounts::clients::Student> for Student {
    fn from(row: crate::db::accounts::clients::Student) -> Self {
        Self { account: row.account.into(), profile: row.profile.into() }
    }
}
