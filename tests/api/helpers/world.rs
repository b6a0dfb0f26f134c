//! The people and places tests act with: logged-in actors, facilities,
//! staff and patients, built through the API as a client would.

use serde_json::json;
use uuid::Uuid;

use super::{PASSWORD, Res, TestApp};
use poem::http::Method;

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub email: String,
    pub facility_id: Option<Uuid>,
    pub token: String,
    pub refresh: String,
}

impl Actor {
    /// The session their access token names (its `sid` claim).
    pub fn session_id(&self) -> Uuid {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let payload = self.token.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["sid"].as_str().unwrap().parse().unwrap()
    }
}

impl TestApp {
    pub async fn login_actor(&self, email: &str) -> Actor {
        let res = self.login(email, PASSWORD).await;
        res.assert_status(200);
        Actor {
            id: res.body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email: email.to_owned(),
            facility_id: res.body["user"]["facilityId"].as_str().map(|s| s.parse().unwrap()),
            token: res.body["accessToken"].as_str().unwrap().to_owned(),
            refresh: res.body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// A super admin, created the way an operator would (system context).
    pub async fn super_admin(&self) -> Actor {
        let email = format!("{}@platform.example", self.unique("root"));
        let hash = carego::auth::password::hash(PASSWORD.to_owned()).await.unwrap();
        let mut tx = self.db.begin_system("test setup").await.unwrap();
        let email_v = carego::domain::contact::Email::parse(&email).unwrap();
        carego::db::accounts::users::insert(
            &mut tx,
            &carego::db::accounts::users::NewUser {
                facility_id: None,
                email: Some(&email_v),
                phone: None,
                password_hash: Some(hash),
                role: carego::identity::Role::SuperAdmin,
                first_name: "Root",
                last_name: "Admin",
                job_title: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.login_actor(&email).await
    }

    /// A facility created by `sa`, and its first admin, logged in.
    pub async fn facility(&self, sa: &Actor) -> (Uuid, Actor) {
        let slug = self.unique("facility-");
        let admin_email = format!("admin@{slug}.example");
        let res = self
            .post(
                sa,
                "/api/v1/facilities",
                json!({
                    "slug": slug, "name": format!("Facility {slug}"), "kind": "rehab_centre",
                    "admin": {"email": admin_email, "password": PASSWORD, "firstName": "Ada", "lastName": "Admin"}
                }),
            )
            .await;
        res.assert_status(201);
        let id = res.body["facility"]["id"].as_str().unwrap().parse().unwrap();
        (id, self.login_actor(&admin_email).await)
    }

    /// A staff member created by `admin` in the admin's facility, logged in.
    pub async fn staff(&self, admin: &Actor, job_title: &str) -> Actor {
        let email = format!("{}@staff.example", self.unique(job_title));
        self.post(
            admin,
            "/api/v1/users",
            json!({"email": email, "password": PASSWORD, "role": "staff", "firstName": "Sam", "lastName": "Staff", "jobTitle": job_title}),
        )
        .await
        .assert_status(201);
        self.login_actor(&email).await
    }

    /// Two facilities with an admin and a nurse each, and a super admin.
    pub async fn two_facilities(&self) -> World {
        let sa = self.super_admin().await;
        let (a, admin_a) = self.facility(&sa).await;
        let (b, admin_b) = self.facility(&sa).await;
        let staff_a = self.staff(&admin_a, "nurse").await;
        let staff_b = self.staff(&admin_b, "nurse").await;
        World { sa, a, b, admin_a, admin_b, staff_a, staff_b }
    }

    /// A patient created by `creator`; returns its id and registration key.
    pub async fn patient(&self, creator: &Actor) -> (Uuid, String) {
        let res = self
            .post(
                creator,
                "/api/v1/patients",
                json!({"firstName": "Pat", "lastName": self.unique("Ient"), "dateOfBirth": "1990-04-01",
                       "admissionDate": "2026-01-10", "sobrietyDate": "2026-01-01"}),
            )
            .await;
        res.assert_status(201);
        let id = res.body["patient"]["id"].as_str().unwrap().parse().unwrap();
        (id, res.body["registrationKey"].as_str().unwrap().to_owned())
    }

    pub async fn register(&self, key: &str, email: &str) -> Res {
        self.call(
            Method::POST,
            "/api/v1/auth/patient/register",
            None,
            Some(json!({"registrationKey": key, "password": PASSWORD, "email": email})),
        )
        .await
    }

    /// Registers with `key` and logs in as the patient.
    pub async fn patient_actor(&self, key: &str) -> Actor {
        let email = format!("{}@patients.example", self.unique("patient"));
        self.register(key, &email).await.assert_status(201);
        self.login_actor(&email).await
    }

    pub async fn assign(&self, admin: &Actor, patient: Uuid, staff: &Actor) -> Uuid {
        let res = self
            .post(
                admin,
                &format!("/api/v1/patients/{patient}/assignments"),
                json!({"staffId": staff.id, "role": "nurse"}),
            )
            .await;
        res.assert_status(201);
        res.body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn clinic(&self) -> Clinic {
        let w = self.two_facilities().await;
        let nurse_a2 = self.staff(&w.admin_a, "nurse").await;
        let (p1, key1) = self.patient(&w.admin_a).await;
        self.assign(&w.admin_a, p1, &w.staff_a).await;
        let patient1 = self.patient_actor(&key1).await;
        let (p2, key2) = self.patient(&w.admin_a).await;
        let patient2 = self.patient_actor(&key2).await;
        let (pb, keyb) = self.patient(&w.admin_b).await;
        self.assign(&w.admin_b, pb, &w.staff_b).await;
        let patient_b = self.patient_actor(&keyb).await;
        Clinic { w, nurse_a2, p1, patient1, p2, patient2, pb, patient_b }
    }

    /// Counts rows of `table` as the superuser (what is really there).
    pub async fn count(&self, table: &str) -> i64 {
        self.superuser().await.query_one(&format!("select count(*) from {table}"), &[]).await.unwrap().get(0)
    }
}

/// Facility A with a nurse caring for patient 1 (registered), an unassigned
/// nurse, and patient 2 (registered, nobody's caseload); facility B with its
/// own admin, nurse and registered patient; and a super admin.
pub struct Clinic {
    pub w: World,
    pub nurse_a2: Actor,
    pub p1: Uuid,
    pub patient1: Actor,
    pub p2: Uuid,
    pub patient2: Actor,
    pub pb: Uuid,
    pub patient_b: Actor,
}

pub struct World {
    pub sa: Actor,
    pub a: Uuid,
    pub b: Uuid,
    pub admin_a: Actor,
    pub admin_b: Actor,
    pub staff_a: Actor,
    pub staff_b: Actor,
}

impl TestApp {
    /// A client, a student or a teacher (`kind`) of `admin`'s facility, logged in.
    pub async fn learner(&self, admin: &Actor, kind: &str) -> Actor {
        let email = format!("{}@learners.example", self.unique(kind));
        let (path, profile) = match kind {
            "client" => ("/api/v1/clients", json!({"careRecipientName": "Kamla Devi"})),
            "teacher" => ("/api/v1/teachers", json!({"subjects": ["First aid"]})),
            _ => ("/api/v1/students", json!({"education": "Class XII"})),
        };
        let account = json!({"email": email, "password": PASSWORD, "firstName": "Lata", "lastName": "Sen"});
        self.post(admin, path, json!({"account": account, "profile": profile})).await.assert_status(201);
        self.login_actor(&email).await
    }

    /// A city of the catalog, added by `sa`.
    pub async fn city(&self, sa: &Actor) -> Uuid {
        let slug = self.unique("city-");
        let res =
            self.post(sa, "/api/v1/cities", json!({"slug": slug, "name": format!("City {slug}")})).await;
        res.assert_status(201).body["id"].as_str().unwrap().parse().unwrap()
    }

    /// The website's lead form, sent anonymously; its reference.
    pub async fn submit_lead(&self, body: serde_json::Value) -> Uuid {
        let res = self.call(Method::POST, "/api/v1/public/leads", None, Some(body)).await;
        res.assert_status(202).body["reference"].as_str().unwrap().parse().unwrap()
    }
}
