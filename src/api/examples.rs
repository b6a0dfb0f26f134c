//! Examples for the contract: every request body and every main response,
//! as an integrator would send and receive them. `contract::finish` puts
//! each on its schema; a test sends every request example to the server and
//! checks it passes validation, and schemathesis replays them in its
//! examples phase.

use serde_json::{Value, json};

const FACILITY: &str = "3f0b9a52-6c1e-4d0a-9a4f-2b6f1c7d8e90";
const NURSE: &str = "9b8a7c6d-5e4f-4321-8fed-cba987654321";
const PATIENT: &str = "5c3d1e2f-0a9b-4c8d-9e7f-6a5b4c3d2e1f";
const PATIENT_USER: &str = "2d4e6f80-1a3b-4c5d-8e9f-a0b1c2d3e4f5";
const CARE_LOG: &str = "8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a0";
const VITALS: &str = "1f2e3d4c-5b6a-4798-8675-a4b3c2d1e0f9";
const ATTENDANCE: &str = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d";
const ASSIGNMENT: &str = "4d3c2b1a-0f9e-48d7-b6c5-a4f3e2d1c0b9";
const SESSION: &str = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
const AUDIT: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
const CHECK_IN: &str = "7e1a2b3c-4d5e-4f60-8172-93a4b5c6d7e8";
const CRAVING: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const MEETING: &str = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e";
const RESET: &str = "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f";
const PATIENT_B: &str = "d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70";
const PRESCRIPTION: &str = "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a80";
const DOSE: &str = "f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f7a8b91";
const GOAL: &str = "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9ca2";
const PROGRESS: &str = "b8c9d0e1-f2a3-4b4c-9d5e-6f7a8b9cadb3";
const TEMPLATE: &str = "c9d0e1f2-a3b4-4c5d-8e6f-7a8b9cadbec4";
const PLAN: &str = "d0e1f2a3-b4c5-4d6e-9f7a-8b9cadbecfd5";
const PLAN_V1: &str = "e1f2a3b4-c5d6-4e7f-8a8b-9cadbecfd0e6";
const CONVERSATION: &str = "f2a3b4c5-d6e7-4f8a-9b9c-adbecfd0e1f7";
const MESSAGE: &str = "a3b4c5d6-e7f8-4a9b-8cad-becfd0e1f2a8";
const ANNOUNCEMENT: &str = "b4c5d6e7-f8a9-4bac-9dbe-cfd0e1f2a3b9";
const ALERT: &str = "c5d6e7f8-a9ba-4cbd-8ecf-d0e1f2a3b4ca";
const DOCUMENT: &str = "d6e7f8a9-bacb-4dce-9fd0-e1f2a3b4c5db";
const CITY: &str = "e7f8a9ba-cbdc-4edf-8a01-f2a3b4c5d6ec";
const SERVICE: &str = "f8a9bacb-dced-4fe0-9b12-a3b4c5d6e7fd";
const COURSE: &str = "a9bacbdc-edfe-40f1-8c23-b4c5d6e7f80e";
const LEAD: &str = "bacbdced-fe0f-4102-9d34-c5d6e7f8091f";
const LEAD_NOTE: &str = "cbdcedfe-0f10-4213-8e45-d6e7f8091a20";
const CLIENT_USER: &str = "dcedfe0f-1021-4324-9f56-e7f8091a2b31";
const TRAINING_CENTRE: &str = "edfe0f10-2132-4435-8067-f8091a2b3c42";
const FACILITY_ADMIN_OF_CENTRE: &str = "43546576-8798-4a9b-86cd-5e6f708192a8";
const TEACHER: &str = "fe0f1021-3243-4546-9178-091a2b3c4d53";
const BATCH: &str = "0f102132-4354-4657-8289-1a2b3c4d5e64";
const ENROLLMENT: &str = "10213243-5465-4768-939a-2b3c4d5e6f75";
const CERTIFICATE: &str = "21324354-6576-4879-84ab-3c4d5e6f7086";
const STUDENT_USER: &str = "32435465-7687-498a-95bc-4d5e6f708197";
const PLAN_ID: &str = "54657687-98a9-4bac-97de-6f708192a3b9";
const INVOICE: &str = "65768798-a9ba-4cbd-88ef-708192a3b4ca";
const INVOICE_LINE: &str = "768798a9-bacb-4dce-99f0-8192a3b4c5db";
const PAYMENT: &str = "8798a9ba-cbdc-4edf-8a01-92a3b4c5d6ec";
const API_KEY: &str = "98a9bacb-dced-4fe0-9b12-a3b4c5d6e7fe";
const INTEGRATION: &str = "a9bacbdc-edfe-40f1-8c23-b4c5d6e7f80f";
const WEBHOOK: &str = "bacbdced-fe0f-4102-9d34-c5d6e7f80920";
const WEBHOOK_DELIVERY: &str = "cbdcedfe-0f10-4213-8e45-d6e7f8091a31";
const AT: &str = "2026-11-20T08:30:00Z";
const LATER: &str = "2026-11-20T08:34:00Z";

fn webhook() -> Value {
    json!({"id": WEBHOOK, "facilityId": FACILITY, "url": "https://hooks.acme-ehr.example/carego",
           "events": ["care_log.written", "crisis_alert.raised"], "description": "Acme EHR sync", "active": true,
           "createdBy": NURSE, "createdAt": AT})
}

fn api_key() -> Value {
    json!({"id": API_KEY, "facilityId": FACILITY, "integrationId": INTEGRATION, "name": "Acme EHR sync",
           "prefix": "cgk_7Hq2LmX9", "scopes": ["patients:read", "care-logs:write"], "rateLimitPerMinute": 120,
           "dailyQuota": 10000, "expiresAt": "2027-11-20T08:30:00Z", "createdBy": NURSE, "createdAt": AT,
           "lastUsedAt": LATER, "status": "active"})
}

fn document() -> Value {
    json!({"id": DOCUMENT, "patientId": PATIENT, "kind": "lab_result", "title": "Blood panel 2026-11-19",
           "visibleToPatient": true, "status": "ready", "contentType": "application/pdf", "sizeBytes": 48213,
           "sha256": "9f2c5e1a7b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
           "createdBy": NURSE, "createdAt": AT, "readyAt": LATER})
}

fn check_in_request() -> Value {
    json!({"id": CHECK_IN, "checkedInAt": AT, "mood": 6, "tired": true, "sleepHours": 6.5,
           "cravingIntensity": 3, "notes": "Slept badly, better after breakfast."})
}

fn check_in() -> Value {
    json!({"id": CHECK_IN, "patientId": PATIENT, "checkedInAt": AT, "mood": 6, "hungry": false, "angry": false,
           "lonely": false, "tired": true, "sleepHours": 6.5, "cravingIntensity": 3,
           "notes": "Slept badly, better after breakfast.", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

fn craving_request() -> Value {
    json!({"id": CRAVING, "occurredAt": AT, "intensity": 7, "trigger": "passed my old bar",
           "copingStrategy": "called my sponsor", "outcome": "resisted"})
}

fn craving() -> Value {
    json!({"id": CRAVING, "patientId": PATIENT, "occurredAt": AT, "intensity": 7, "trigger": "passed my old bar",
           "copingStrategy": "called my sponsor", "outcome": "resisted", "recordedBy": PATIENT_USER,
           "recordedAt": AT})
}

fn meeting_request() -> Value {
    json!({"id": MEETING, "kind": "na", "attendedOn": "2026-11-19", "place": "Community hall, Baner"})
}

fn meeting() -> Value {
    json!({"id": MEETING, "patientId": PATIENT, "kind": "na", "attendedOn": "2026-11-19",
           "place": "Community hall, Baner", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

fn reset_request() -> Value {
    json!({"id": RESET, "since": "2026-11-18", "reason": "Drank at a family wedding on the 17th."})
}

fn reset() -> Value {
    json!({"id": RESET, "patientId": PATIENT, "since": "2026-11-18", "previousSince": "2026-10-30",
           "reason": "Drank at a family wedding on the 17th.", "recordedBy": PATIENT_USER, "recordedAt": AT})
}

fn prescription() -> Value {
    json!({"id": PRESCRIPTION, "patientId": PATIENT, "drug": "Naltrexone", "dose": "50 mg", "route": "oral",
           "schedule": "once daily, 08:00", "startsOn": "2026-11-02", "prescriber": "Dr. A. Menon",
           "status": "active", "createdBy": NURSE, "createdAt": AT, "updatedAt": AT,
           "adherence": {"taken": 17, "late": 2, "missed": 1, "refused": 0, "rate": 0.95}})
}

fn dose_request() -> Value {
    json!({"id": DOSE, "prescriptionId": PRESCRIPTION, "status": "taken", "scheduledAt": "2026-11-20T08:00:00Z",
           "takenAt": "2026-11-20T08:05:00Z"})
}

fn dose() -> Value {
    json!({"id": DOSE, "patientId": PATIENT, "prescriptionId": PRESCRIPTION, "status": "taken",
           "scheduledAt": "2026-11-20T08:00:00Z", "takenAt": "2026-11-20T08:05:00Z", "recordedBy": PATIENT_USER,
           "recordedAt": AT})
}

fn goal_request() -> Value {
    json!({"id": GOAL, "category": "sobriety", "description": "Go to NA meetings regularly",
           "measurableTarget": "3 meetings a week for 8 weeks", "targetDate": "2027-01-15"})
}

fn goal() -> Value {
    json!({"id": GOAL, "patientId": PATIENT, "category": "sobriety", "description": "Go to NA meetings regularly",
           "measurableTarget": "3 meetings a week for 8 weeks", "targetDate": "2027-01-15", "status": "active",
           "origin": "patient", "createdBy": PATIENT_USER, "createdAt": AT, "updatedAt": AT, "progressEntries": 2,
           "progressPct": 40, "lastProgressAt": AT})
}

fn progress_request() -> Value {
    json!({"id": PROGRESS, "goalId": GOAL, "note": "Three meetings this week.", "progressPct": 40})
}

fn progress() -> Value {
    json!({"id": PROGRESS, "patientId": PATIENT, "goalId": GOAL, "note": "Three meetings this week.",
           "progressPct": 40, "recordedBy": PATIENT_USER, "recordedAt": AT})
}

fn plan_template() -> Value {
    json!({"id": TEMPLATE, "name": "Alcohol use disorder, residential", "problems": ["Alcohol use disorder"],
           "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
           "reviewIntervalDays": 30, "createdBy": NURSE, "createdAt": AT})
}

fn treatment_plan() -> Value {
    json!({"id": PLAN, "patientId": PATIENT, "title": "Residential programme", "createdBy": NURSE,
           "createdAt": AT, "reviewOverdue": false,
           "versions": [{"id": PLAN_V1, "version": 1, "problems": ["Alcohol use disorder", "Insomnia"],
                         "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
                         "reviewDate": "2026-12-20", "templateId": TEMPLATE, "status": "signed", "createdBy": NURSE,
                         "createdAt": AT, "updatedAt": AT, "signedBy": NURSE, "signedAt": AT,
                         "acknowledgedBy": PATIENT_USER, "acknowledgedAt": AT}]})
}

fn user() -> Value {
    json!({"id": NURSE, "facilityId": FACILITY, "email": "nina.rao@sunrise.example", "role": "staff",
           "status": "active", "firstName": "Nina", "lastName": "Rao", "jobTitle": "nurse",
           "onCall": false, "passwordChangedAt": AT, "createdAt": AT, "updatedAt": AT})
}

fn facility() -> Value {
    json!({"id": FACILITY, "slug": "sunrise-rehab", "name": "Sunrise Recovery Centre", "kind": "rehab_centre",
           "status": "active", "timezone": "Asia/Kolkata", "city": "Pune", "crisisEscalationMinutes": 10,
           "createdAt": AT, "updatedAt": AT})
}

fn patient() -> Value {
    json!({"id": PATIENT, "facilityId": FACILITY, "mrn": "SR-0042", "userId": PATIENT_USER, "firstName": "Kiran",
           "lastName": "Bose", "dateOfBirth": "1990-05-17", "status": "active", "admissionDate": "2026-11-02",
           "sobrietyDate": "2026-10-30", "primaryCounsellorId": NURSE, "room": "B-12",
           "emergencyContact": {"name": "Ravi Bose", "phone": "+919800000000", "relationship": "brother"},
           "createdAt": AT, "updatedAt": AT})
}

fn care_log() -> Value {
    let version = |id: &str, body: &str, reason: Option<&str>| {
        let mut v = json!({"id": id, "kind": "medication_administered", "body": body, "occurredAt": AT,
                           "visibleToPatient": false, "authorId": NURSE, "recordedAt": AT});
        if let Some(reason) = reason {
            v["amendmentReason"] = json!(reason);
        }
        v
    };
    json!({"id": CARE_LOG, "patientId": PATIENT, "original": version(CARE_LOG, "Paracetamol 1 g", None),
           "amendments": [version("8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a1", "Paracetamol 500 mg",
                                  Some("wrong dose recorded"))]})
}

fn vitals() -> Value {
    json!({"id": VITALS, "patientId": PATIENT, "amendments": [],
           "original": {"id": VITALS, "measuredAt": AT, "systolic": 122, "diastolic": 78, "pulse": 72,
                        "temperatureC": 36.8, "spo2": 98, "visibleToPatient": true, "recordedBy": NURSE,
                        "recordedAt": AT}})
}

fn attendance() -> Value {
    json!({"id": ATTENDANCE, "staffId": NURSE, "amendments": [],
           "original": {"id": ATTENDANCE, "event": "check_in", "at": AT, "patientId": PATIENT,
                        "recordedBy": NURSE, "recordedAt": AT}})
}

fn assignment() -> Value {
    json!({"id": ASSIGNMENT, "patientId": PATIENT, "staffId": NURSE, "role": "nurse", "startsAt": AT,
           "createdAt": AT})
}

fn audit_entry() -> Value {
    json!({"id": AUDIT, "facilityId": FACILITY, "chainSeq": 1042, "chainLane": 0, "actorId": NURSE, "actorRole": "staff",
           "action": "create", "entityType": "care_logs", "entityId": CARE_LOG,
           "newValues": {"kind": "medication_administered", "body": "Paracetamol 1 g"},
           "requestId": "6f1c2a4e-2b8d-4c52-9a43-1f0e7d3b9c10", "ip": "203.0.113.7", "createdAt": AT,
           "hash": "9f2c4b7e1d0a8c6e5b3f2a1d0c9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f2e1d0"})
}

fn tokens() -> Value {
    json!({"accessToken": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsyMDI2MTEyMiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
           "refreshToken": "Zm9yLWV4YW1wbGUtb25seS1yZWZyZXNoLXRva2Vu", "tokenType": "Bearer", "expiresIn": 900})
}

fn conversation() -> Value {
    json!({"id": CONVERSATION, "kind": "direct", "createdBy": PATIENT_USER, "createdAt": AT,
           "lastMessageAt": LATER, "unread": 1,
           "members": [{"userId": PATIENT_USER, "name": "Kiran Bose", "role": "patient", "lastReadAt": LATER},
                       {"userId": NURSE, "name": "Nina Rao", "role": "staff", "lastReadAt": AT}]})
}

fn message() -> Value {
    json!({"id": MESSAGE, "conversationId": CONVERSATION, "senderId": PATIENT_USER, "kind": "message",
           "body": "Can we talk before group today?", "attachments": [DOCUMENT], "createdAt": LATER})
}

fn announcement() -> Value {
    json!({"id": ANNOUNCEMENT, "audience": "everyone", "title": "Fire drill on Friday",
           "body": "At 3 pm; meet in the garden.", "createdBy": NURSE, "createdAt": AT,
           "acknowledgedAt": LATER, "audienceSize": 58, "acknowledgements": 31})
}

fn crisis_alert() -> Value {
    json!({"id": ALERT, "patientId": PATIENT, "raisedBy": PATIENT_USER, "severity": "high",
           "location": "Garden, by the gate", "note": "Panicking, need someone.", "raisedAt": AT,
           "acknowledgedAt": LATER, "acknowledgedBy": NURSE})
}

fn city() -> Value {
    json!({"id": CITY, "slug": "jaipur", "name": "Jaipur", "region": "Rajasthan", "active": true})
}

fn provider() -> Value {
    json!({"id": FACILITY, "slug": "sunrise-care", "name": "Sunrise Home Care", "phone": "+911234567890",
           "email": "hello@sunrise.example"})
}

fn public_service() -> Value {
    json!({"id": SERVICE, "slug": "sunrise-care.home-nursing", "name": "Home nursing",
           "summary": "A trained nurse at home, by the visit or around the clock.",
           "description": "Wound care, injections, medication rounds and vitals, by nurses with three years' experience.",
           "cityId": CITY, "cityName": "Jaipur", "priceFrom": {"amountMinor": 79900, "currency": "INR"},
           "provider": provider()})
}

fn public_course() -> Value {
    json!({"id": COURSE, "slug": "sunrise-academy.caregiver-basics", "title": "Caregiver basics",
           "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "cityName": "Jaipur",
           "durationHours": 120, "fee": {"amountMinor": 1500000, "currency": "INR"},
           "provider": {"id": TRAINING_CENTRE, "slug": "sunrise-academy", "name": "Sunrise Academy"}})
}

fn service() -> Value {
    json!({"id": SERVICE, "facilityId": FACILITY, "slug": "home-nursing", "name": "Home nursing",
           "summary": "A trained nurse at home, by the visit or around the clock.", "cityId": CITY,
           "priceFrom": {"amountMinor": 79900, "currency": "INR"}, "published": true,
           "createdAt": AT, "updatedAt": AT})
}

fn course() -> Value {
    json!({"id": COURSE, "facilityId": TRAINING_CENTRE, "slug": "caregiver-basics", "title": "Caregiver basics",
           "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "durationHours": 120,
           "fee": {"amountMinor": 1500000, "currency": "INR"}, "published": true, "createdAt": AT, "updatedAt": AT})
}

fn lead() -> Value {
    json!({"id": LEAD, "facilityId": FACILITY, "leadType": "service", "name": "Asha Verma",
           "phone": "+919812345678", "email": "asha@example.com", "cityId": CITY, "serviceId": SERVICE,
           "message": "Nursing for my father after his surgery, mornings.", "status": "contacted",
           "assignedTo": NURSE, "createdAt": AT, "updatedAt": LATER})
}

fn client_account() -> Value {
    json!({"id": CLIENT_USER, "facilityId": FACILITY, "email": "asha@example.com", "phone": "+919812345678",
           "role": "client", "status": "active", "firstName": "Asha", "lastName": "Verma", "onCall": false,
           "passwordChangedAt": LATER, "createdAt": LATER, "updatedAt": LATER})
}

fn client_profile() -> Value {
    json!({"careRecipientName": "Mohan Verma", "careRecipientRelation": "father",
           "careRecipientBornOn": "1951-04-02", "careNeeds": "Post-operative wound care; diabetic.",
           "address": "12 Civil Lines, Jaipur", "cityId": CITY, "preferredLanguage": "hi"})
}

fn student_profile() -> Value {
    json!({"bornOn": "2004-09-17", "education": "Class XII", "guardianName": "Sunita Meena",
           "guardianPhone": "+919876543210", "cityId": CITY})
}

fn student() -> Value {
    let mut account = client_account();
    account["role"] = json!("student");
    json!({"account": account, "profile": student_profile()})
}

fn batch() -> Value {
    json!({"id": BATCH, "courseId": COURSE, "name": "January 2027 weekend", "teacherId": TEACHER,
           "startsOn": "2027-01-09", "endsOn": "2027-02-14", "schedule": "Saturdays and Sundays, 10:00–13:00",
           "capacity": 25, "enrolled": 18, "status": "open", "createdAt": AT, "updatedAt": AT})
}

fn enrollment(status: &str) -> Value {
    let mut e = json!({"id": ENROLLMENT, "batchId": BATCH, "studentId": STUDENT_USER, "status": status,
                       "enrolledAt": AT});
    if status == "completed" {
        e["completedAt"] = json!(LATER);
    }
    e
}

fn certificate() -> Value {
    json!({"id": CERTIFICATE, "facilityId": TRAINING_CENTRE, "enrollmentId": ENROLLMENT, "studentId": STUDENT_USER,
           "courseId": COURSE, "code": "CERT-7K9M-P4N8-X2Q5", "studentName": "Ravi Meena",
           "courseTitle": "Caregiver basics", "issuedAt": LATER, "issuedBy": FACILITY_ADMIN_OF_CENTRE})
}

fn class_attendance() -> Value {
    json!({"id": ENROLLMENT, "batchId": BATCH, "studentId": STUDENT_USER, "sessionOn": "2027-01-09",
           "status": "present", "recordedBy": TEACHER, "recordedAt": LATER})
}

fn teacher() -> Value {
    let mut account = client_account();
    account["id"] = json!(TEACHER);
    account["role"] = json!("teacher");
    json!({"account": account, "profile": {"subjects": ["First aid", "Dementia care"],
                                           "bio": "Twelve years as a ward nurse."}})
}

fn plan() -> Value {
    json!({"id": PLAN_ID, "name": "Home nursing, 12-hour shift", "serviceId": SERVICE, "priceMinor": 180000,
           "currency": "INR", "period": "per_visit", "active": true, "createdAt": AT, "updatedAt": AT})
}

fn invoice() -> Value {
    json!({"id": INVOICE, "facilityId": FACILITY, "kind": "invoice", "number": "INV-2026-000042",
           "customerId": CLIENT_USER, "status": "issued", "currency": "INR", "subtotalMinor": 540000,
           "taxMinor": 97200, "totalMinor": 637200, "paidMinor": 300000, "dueOn": "2026-12-15",
           "issuedAt": LATER, "createdAt": AT, "updatedAt": LATER,
           "lines": [{"id": INVOICE_LINE, "position": 1, "description": "Home nursing, 12-hour shift",
                      "planId": PLAN_ID, "quantity": 3, "unitPriceMinor": 180000, "taxRateBp": 1800,
                      "subtotalMinor": 540000, "taxMinor": 97200}]})
}

fn payment() -> Value {
    json!({"id": PAYMENT, "invoiceId": INVOICE, "amountMinor": 300000, "method": "upi",
           "reference": "UPI 4021 9983 1177", "receivedAt": LATER, "recordedBy": NURSE, "recordedAt": LATER})
}

fn line_request() -> Value {
    json!({"description": "Home nursing, 12-hour shift", "planId": PLAN_ID, "quantity": 3,
           "unitPriceMinor": 180000, "taxRateBp": 1800})
}

fn page(item: Value) -> Value {
    json!({"items": [item], "nextCursor": "MTc2MzYyNzQwMDAwMDAwMHw4ZTdkNmM1Yg"})
}

/// `(schema name, example)` for every request body and main response.
pub fn all() -> Vec<(&'static str, Value)> {
    let mut login = tokens();
    login["user"] = user();
    vec![
        // Requests.
        ("LoginRequest", json!({"email": "nina.rao@sunrise.example", "password": "a long passphrase"})),
        (
            "PatientRegisterRequest",
            json!({"registrationKey": "K9M2-P4N8-REC7-X3Y4", "password": "a long passphrase",
                   "email": "kiran@patients.example"}),
        ),
        ("RefreshRequest", json!({"refreshToken": "Zm9yLWV4YW1wbGUtb25seS1yZWZyZXNoLXRva2Vu"})),
        (
            "ChangePasswordRequest",
            json!({"currentPassword": "a long passphrase", "newPassword": "an even longer one"}),
        ),
        (
            "CreateFacilityRequest",
            json!({"slug": "harbor-home-care", "name": "Harbor Home Care", "kind": "home_care",
                   "timezone": "Europe/Lisbon", "city": "Lisbon", "email": "office@harbor.example",
                   "admin": {"email": "admin@harbor.example", "firstName": "Ines", "lastName": "Costa"}}),
        ),
        (
            "UpdateFacilityRequest",
            json!({"name": "Harbor Home Care Lisbon", "city": "Lisbon", "phone": null}),
        ),
        ("StatusChangeReason", json!({"reason": "contract paused"})),
        (
            "NewUserRequest",
            json!({"facilityId": FACILITY, "email": "nina.rao@sunrise.example", "password": "a long passphrase",
                   "role": "staff", "firstName": "Nina", "lastName": "Rao", "jobTitle": "nurse"}),
        ),
        ("UpdateUserRequest", json!({"jobTitle": "senior nurse", "phone": "+91 98765 43210"})),
        ("StatusChangeRequest", json!({"status": "suspended", "reason": "on leave until review"})),
        (
            "NewPatientRequest",
            json!({"facilityId": FACILITY, "firstName": "Kiran", "lastName": "Bose", "dateOfBirth": "1990-05-17",
                   "admissionDate": "2026-11-02", "mrn": "SR-0042", "room": "B-12",
                   "emergencyContact": {"name": "Ravi Bose", "phone": "+919800000000", "relationship": "brother"}}),
        ),
        ("UpdatePatientRequest", json!({"room": "C-3", "notes": null})),
        ("NewAssignmentRequest", json!({"staffId": NURSE, "role": "nurse"})),
        (
            "NewCareLogRequest",
            json!({"kind": "medication_administered", "body": "Paracetamol 1 g", "occurredAt": AT}),
        ),
        ("CareLogAmendmentRequest", json!({"reason": "wrong dose recorded", "body": "Paracetamol 500 mg"})),
        (
            "NewVitalsRequest",
            json!({"systolic": 122, "diastolic": 78, "pulse": 72, "temperatureC": 36.8, "spo2": 98,
                   "visibleToPatient": true}),
        ),
        (
            "VitalsAmendmentRequest",
            json!({"reason": "cuff too small; re-measured", "systolic": 118, "diastolic": 76}),
        ),
        ("NewAttendanceRequest", json!({"event": "check_in", "patientId": PATIENT, "note": "morning visit"})),
        ("AttendanceAmendmentRequest", json!({"reason": "forgot to check in", "at": AT})),
        ("NewCheckInRequest", check_in_request()),
        ("NewCravingRequest", craving_request()),
        ("NewMeetingRequest", meeting_request()),
        ("NewSobrietyResetRequest", reset_request()),
        (
            "NewPrescriptionRequest",
            json!({"drug": "Naltrexone", "dose": "50 mg", "route": "oral", "schedule": "once daily, 08:00",
                   "startsOn": "2026-11-02", "prescriber": "Dr. A. Menon", "notes": "Take with food."}),
        ),
        ("UpdatePrescriptionRequest", json!({"dose": "25 mg", "endsOn": "2027-02-01"})),
        (
            "StopPrescriptionRequest",
            json!({"reason": "Liver function tests raised; reviewed with Dr. Menon."}),
        ),
        ("NewDoseEventRequest", dose_request()),
        ("NewGoalRequest", goal_request()),
        ("UpdateGoalRequest", json!({"status": "achieved"})),
        ("NewGoalProgressRequest", progress_request()),
        (
            "NewPlanTemplateRequest",
            json!({"name": "Alcohol use disorder, residential", "problems": ["Alcohol use disorder"],
                   "goals": ["90 days sober"], "interventions": ["CBT twice weekly", "NA meetings"],
                   "reviewIntervalDays": 30}),
        ),
        (
            "NewTreatmentPlanRequest",
            json!({"title": "Residential programme", "templateId": TEMPLATE, "problems": ["Insomnia"]}),
        ),
        (
            "TreatmentPlanDraftRequest",
            json!({"interventions": ["CBT weekly", "NA meetings"], "reviewDate": "2027-01-20"}),
        ),
        (
            "SyncBatchRequest",
            json!({"records": [
                {"type": "check_in", "patientId": PATIENT, "checkIn": check_in_request()},
                {"type": "craving", "patientId": PATIENT, "craving": craving_request()},
                {"type": "meeting", "patientId": PATIENT, "meeting": meeting_request()},
                {"type": "dose_event", "patientId": PATIENT, "doseEvent": dose_request()},
            ]}),
        ),
        // Responses.
        ("Health", json!({"status": "ok"})),
        ("TokenPair", tokens()),
        ("LoginResponse", login),
        ("User", user()),
        ("Facility", facility()),
        ("FacilityCreated", json!({"facility": facility(), "admin": user()})),
        ("Patient", patient()),
        (
            "PatientCreated",
            json!({"patient": patient(), "registrationKey": "K9M2-P4N8-REC7-X3Y4", "keyExpiresAt": AT}),
        ),
        ("RegistrationKey", json!({"registrationKey": "P4N8-K9M2-X3Y4-REC7", "keyExpiresAt": AT})),
        (
            "Dashboard",
            json!({"patientId": PATIENT, "status": "active", "daysSober": 23, "openAssignments": 2,
            "lastCareLog": {"id": CARE_LOG, "kind": "progress", "occurredAt": AT},
            "lastVitals": {"id": VITALS, "measuredAt": AT, "systolic": 122, "diastolic": 78, "pulse": 72},
            "last7Days": {"careLogs": 9, "incidents": 0, "vitals": 5},
            "recovery": {
                "checkInStreak": 6, "lastCheckInAt": AT,
                "mood": {"average7d": 5.2, "average30d": 6.4, "change7d": -1.3},
                "cravings": {"last7d": 5, "previous7d": 2, "used7d": 1},
                "doseAdherence30d": 0.9,
                "goals": {"active": 2, "achieved": 1, "averageProgressPct": 35.0},
                "attention": {"needed": true, "acknowledged": false, "factors": [
                    {"code": "craving_spike", "detail": "4 cravings in the last 3 days against 2 in the 14 days before."}
                ]}}}),
        ),
        ("Assignment", assignment()),
        ("CareLog", care_log()),
        ("Vitals", vitals()),
        ("Attendance", attendance()),
        ("AuditEntry", audit_entry()),
        ("Verification", json!({"ok": true, "checked": 1042})),
        (
            "SessionList",
            json!({"items": [{"id": SESSION, "current": true, "createdAt": AT, "expiresAt": "2026-11-27T08:30:00Z",
                              "userAgent": "Carego/2.3 (Android 15)", "ip": "203.0.113.7"}]}),
        ),
        ("CheckIn", check_in()),
        ("Craving", craving()),
        ("Meeting", meeting()),
        ("SobrietyReset", reset()),
        (
            "Sobriety",
            json!({"patientId": PATIENT, "since": "2026-11-18", "daysSober": 4, "longestDays": 19, "resets": 1,
                   "lastResetAt": AT}),
        ),
        (
            "SyncBatchResult",
            json!({"results": [
                {"index": 0, "type": "check_in", "id": CHECK_IN, "status": "created"},
                {"index": 1, "type": "craving", "id": CRAVING, "status": "replayed"},
                {"index": 2, "type": "meeting", "id": MEETING, "status": "rejected",
                 "problem": {"type": "urn:carego:problem:validation_failed", "title": "Bad Request", "status": 400,
                             "detail": "One or more fields are invalid.", "code": "validation_failed",
                             "errors": [{"field": "records[2].meeting.attendedOn",
                                         "message": "must not be in the future"}]}},
            ], "created": 1, "replayed": 1, "rejected": 1}),
        ),
        (
            "Changes",
            json!({"items": [
                {"type": "check_in", "action": "upsert", "id": CHECK_IN, "patientId": PATIENT, "checkIn": check_in()},
                {"type": "sobriety_reset", "action": "upsert", "id": RESET, "patientId": PATIENT,
                 "sobrietyReset": reset()},
                {"type": "goal", "action": "upsert", "id": GOAL, "patientId": PATIENT, "goal": goal()},
                {"type": "patient", "action": "tombstone", "id": PATIENT_B, "patientId": PATIENT_B},
            ], "nextCursor": "1187", "hasMore": false}),
        ),
        ("Prescription", prescription()),
        ("DoseEvent", dose()),
        ("Goal", goal()),
        ("GoalProgress", progress()),
        ("Page_Prescription", page(prescription())),
        ("Page_DoseEvent", page(dose())),
        ("Page_Goal", page(goal())),
        ("Page_GoalProgress", page(progress())),
        ("PlanTemplate", plan_template()),
        ("TreatmentPlan", treatment_plan()),
        (
            "StaffWorkload",
            json!({"staffId": NURSE, "caseload": 14, "overdueReviews": 2, "withoutCheckIn48h": [PATIENT],
                   "missedDoses7d": [], "unacknowledgedAttention": [PATIENT]}),
        ),
        (
            "WeeklyMetricsList",
            json!({"items": [{"weekStart": "2026-11-16", "occupancy": 42, "admissions": 3, "discharges": 2,
                              "checkInCompliance": 0.87, "doseAdherence": 0.93, "averageMood": 6.4,
                              "checkIns": 256, "refreshedAt": AT}]}),
        ),
        ("AcknowledgeAttentionRequest", json!({"note": "Called her; moved the next session to tomorrow."})),
        (
            "Attention",
            json!({"needed": true, "acknowledged": true,
                   "factors": [{"code": "missed_doses", "detail": "3 doses missed or refused in the last 7 days."}],
                   "lastAcknowledgement": {"by": NURSE, "at": AT, "factors": ["missed_doses"],
                                           "note": "Called her; moved the next session to tomorrow."}}),
        ),
        ("OverdueReviews", json!({"items": [treatment_plan()]})),
        ("Page_PlanTemplate", page(plan_template())),
        ("Page_TreatmentPlan", page(treatment_plan())),
        ("Page_CheckIn", page(check_in())),
        ("Page_Craving", page(craving())),
        ("Page_Meeting", page(meeting())),
        ("Page_SobrietyReset", page(reset())),
        ("Page_User", page(user())),
        ("Page_Facility", page(facility())),
        ("Page_Patient", page(patient())),
        ("Page_Assignment", page(assignment())),
        ("Page_CareLog", page(care_log())),
        ("Page_Vitals", page(vitals())),
        ("Page_Attendance", page(attendance())),
        ("Page_AuditEntry", page(audit_entry())),
        // Communication.
        ("NewConversationRequest", json!({"kind": "direct", "members": [NURSE]})),
        ("Conversation", conversation()),
        ("Page_Conversation", page(conversation())),
        ("NewMessageRequest", json!({"id": MESSAGE, "body": "Can we talk before group today?"})),
        ("Message", message()),
        ("Page_Message", page(message())),
        (
            "NewAnnouncementRequest",
            json!({"audience": "everyone", "title": "Fire drill on Friday", "body": "At 3 pm; meet in the garden."}),
        ),
        ("Announcement", announcement()),
        ("Page_Announcement", page(announcement())),
        ("Page_AnnouncementAcknowledgement", page(json!({"userId": PATIENT_USER, "acknowledgedAt": LATER}))),
        (
            "NewCrisisAlertRequest",
            json!({"id": ALERT, "severity": "high", "location": "Garden, by the gate",
                   "note": "Panicking, need someone."}),
        ),
        ("ResolveCrisisAlertRequest", json!({"resolution": "Sat with her; calm; counsellor informed."})),
        ("CrisisAlert", crisis_alert()),
        ("Page_CrisisAlert", page(crisis_alert())),
        ("Ticket", json!({"ticket": "cgst_Zm9yLWV4YW1wbGUtb25seS1zdHJlYW0tdGlja2V0", "expiresAt": AT})),
        (
            "NewDocumentRequest",
            json!({"id": DOCUMENT, "kind": "lab_result", "title": "Blood panel 2026-11-19", "visibleToPatient": true}),
        ),
        ("Document", document()),
        (
            "FileProgressReportRequest",
            json!({"id": DOCUMENT, "from": "2026-10-22", "to": "2026-11-20", "visibleToPatient": true}),
        ),
        ("Page_Document", page(document())),
        ("CatalogList_City", json!({"items": [city()]})),
        ("City", city()),
        ("NewCityRequest", json!({"slug": "jaipur", "name": "Jaipur", "region": "Rajasthan"})),
        ("CityUpdateRequest", json!({"name": "Jaipur", "region": "Rajasthan", "active": true})),
        ("CatalogList_PublicService", json!({"items": [public_service()]})),
        ("PublicService", public_service()),
        ("CatalogList_PublicCourse", json!({"items": [public_course()]})),
        (
            "CatalogList_TrainingCentre",
            json!({"items": [{"id": TRAINING_CENTRE, "slug": "sunrise-academy", "name": "Sunrise Academy",
                              "phone": "+911234567891", "cityIds": [CITY], "courses": 3}]}),
        ),
        (
            "LeadRequest",
            json!({"leadType": "service", "name": "Asha Verma", "phone": "+91 98123 45678",
                   "email": "asha@example.com", "cityId": CITY, "serviceId": SERVICE,
                   "message": "Nursing for my father after his surgery, mornings."}),
        ),
        ("LeadReceipt", json!({"reference": LEAD})),
        ("Service", service()),
        ("Page_Service", page(service())),
        (
            "ServiceRequest",
            json!({"slug": "home-nursing", "name": "Home nursing",
                   "summary": "A trained nurse at home, by the visit or around the clock.", "cityId": CITY,
                   "priceFrom": {"amountMinor": 79900, "currency": "INR"}, "published": true}),
        ),
        ("Course", course()),
        ("Page_Course", page(course())),
        (
            "CourseRequest",
            json!({"slug": "caregiver-basics", "title": "Caregiver basics",
                   "summary": "Six weeks from first aid to dementia care.", "cityId": CITY, "durationHours": 120,
                   "fee": {"amountMinor": 1500000, "currency": "INR"}, "published": true}),
        ),
        ("Lead", lead()),
        ("Page_Lead", page(lead())),
        ("LeadNoteRequest", json!({"body": "Called back; visit on Monday at 10."})),
        (
            "LeadNote",
            json!({"id": LEAD_NOTE, "leadId": LEAD, "body": "Called back; visit on Monday at 10.",
                   "recordedBy": NURSE, "recordedAt": LATER}),
        ),
        (
            "Page_LeadNote",
            page(json!({"id": LEAD_NOTE, "leadId": LEAD, "body": "Called back; visit on Monday at 10.",
                        "recordedBy": NURSE, "recordedAt": LATER})),
        ),
        (
            "Page_LeadEvent",
            page(json!({"id": LEAD_NOTE, "status": "contacted", "assignedTo": NURSE, "facilityId": FACILITY,
                        "actorId": NURSE, "actorRole": "facility_admin", "at": LATER})),
        ),
        ("LeadAssignmentRequest", json!({"staffId": NURSE})),
        ("LeadStatusRequest", json!({"status": "contacted"})),
        ("LeadRejectionRequest", json!({"reason": "Outside our service area."})),
        ("LeadRoutingRequest", json!({"facilityId": FACILITY})),
        (
            "LeadConversionRequest",
            json!({"kind": "client", "reason": "Assessment visit done; care starts Monday.",
                   "account": {"firstName": "Asha", "lastName": "Verma", "password": "correct horse battery"},
                   "clientProfile": client_profile()}),
        ),
        (
            "LeadConversion",
            json!({"lead": {"id": LEAD, "facilityId": FACILITY, "leadType": "service", "name": "Asha Verma",
                            "phone": "+919812345678", "serviceId": SERVICE, "status": "converted",
                            "convertedUserId": CLIENT_USER, "convertedAt": LATER, "createdAt": AT, "updatedAt": LATER},
                   "account": client_account()}),
        ),
        ("Client", json!({"account": client_account(), "profile": client_profile()})),
        ("Page_Client", page(json!({"account": client_account(), "profile": client_profile()}))),
        (
            "NewClientRequest",
            json!({"account": {"facilityId": FACILITY, "email": "asha@example.com", "firstName": "Asha", "lastName": "Verma"},
                   "profile": client_profile()}),
        ),
        ("Teacher", teacher()),
        ("Page_Teacher", page(teacher())),
        (
            "NewTeacherRequest",
            json!({"account": {"facilityId": TRAINING_CENTRE, "email": "meera@academy.example",
                               "firstName": "Meera", "lastName": "Iyer"},
                   "profile": {"subjects": ["First aid"], "bio": "Twelve years as a ward nurse."}}),
        ),
        ("Batch", batch()),
        ("Page_Batch", page(batch())),
        (
            "BatchRequest",
            json!({"name": "January 2027 weekend", "startsOn": "2027-01-09", "endsOn": "2027-02-14",
                   "schedule": "Saturdays and Sundays, 10:00–13:00", "capacity": 25}),
        ),
        ("EnrollmentRequest", json!({"studentId": STUDENT_USER})),
        ("Enrollment", enrollment("enrolled")),
        ("Page_Enrollment", page(enrollment("enrolled"))),
        ("Completion", json!({"enrollment": enrollment("completed"), "certificate": certificate()})),
        (
            "ClassAttendanceRequest",
            json!({"sessionOn": "2027-01-09", "records": [{"studentId": STUDENT_USER, "status": "present"},
                                                        {"studentId": CLIENT_USER, "status": "late", "note": "Bus"}]}),
        ),
        ("ClassAttendanceList", json!({"items": [class_attendance()]})),
        ("Page_ClassAttendance", page(class_attendance())),
        ("Certificate", certificate()),
        ("Page_Certificate", page(certificate())),
        ("RevocationRequest", json!({"reason": "Issued in error: the final assessment was not passed."})),
        (
            "CertificateVerification",
            json!({"code": "CERT-7K9M-P4N8-X2Q5", "status": "valid", "studentName": "Ravi Meena",
                   "courseTitle": "Caregiver basics", "issuedBy": "Sunrise Academy", "issuedOn": "2026-11-20"}),
        ),
        (
            "StaffProfileRequest",
            json!({"skills": ["Wound care", "Dementia care"], "certifications": ["BLS 2026"],
                   "languages": ["hi", "en"], "availability": "Weekdays 8:00–20:00; alternate weekends"}),
        ),
        (
            "StaffProfile",
            json!({"userId": NURSE, "skills": ["Wound care", "Dementia care"], "certifications": ["BLS 2026"],
                   "languages": ["hi", "en"], "availability": "Weekdays 8:00–20:00; alternate weekends",
                   "updatedAt": LATER}),
        ),
        ("CareRecipientRequest", json!({"patientId": PATIENT})),
        (
            "CareRecipient",
            json!({"patientId": PATIENT, "firstName": "Mohan", "lastName": "Verma", "status": "active", "linkedAt": LATER}),
        ),
        (
            "Page_CareRecipient",
            page(json!({"patientId": PATIENT, "firstName": "Mohan", "lastName": "Verma", "status": "active",
                        "linkedAt": LATER})),
        ),
        (
            "Page_SharedCareLog",
            page(json!({"id": CARE_LOG, "patientId": PATIENT, "kind": "note",
                        "body": "Dressing changed; wound healing well.", "occurredAt": AT, "recordedAt": LATER})),
        ),
        (
            "Page_Visit",
            page(
                json!({"id": ATTENDANCE, "patientId": PATIENT, "staffId": NURSE, "event": "check_in", "at": AT}),
            ),
        ),
        ("Plan", plan()),
        ("Page_Plan", page(plan())),
        (
            "MfaStatus",
            json!({"enabled": true, "sessionVerified": false, "requiredByFacility": true, "recoveryCodesLeft": 9,
                   "locked": false}),
        ),
        (
            "MfaEnrolment",
            json!({"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                   "otpauthUri": "otpauth://totp/Carego:nurse@sunrise.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Carego&algorithm=SHA1&digits=6&period=30"}),
        ),
        ("MfaCodeRequest", json!({"code": "492039"})),
        ("MfaVerifyRequest", json!({"code": "492039"})),
        (
            "MfaRecoveryCodes",
            json!({"recoveryCodes": ["7KQ4M-XP2RT", "H9W3C-ND6FJ", "T2MZ8-QK4VB", "R6YH2-WC9PM", "E3JX7-GV5NK",
                                     "M8PD4-ZT2QH", "C5VN9-RK3WX", "Y4HQ6-JM8TD", "N2XC7-PB5RG", "W9KT3-HF6ZM"]}),
        ),
        ("MfaPolicy", json!({"requireMfa": true})),
        ("Webhook", webhook()),
        ("Page_Webhook", page(webhook())),
        (
            "WebhookCreated",
            json!({"webhook": webhook(), "secret": "whsec_q1oTn4mRk0bWJ8cX2yVf7aL3sE9dH6gP5uZtNwQeYxA"}),
        ),
        (
            "NewWebhookRequest",
            json!({"url": "https://hooks.acme-ehr.example/carego", "events": ["care_log.written", "crisis_alert.raised"],
                   "description": "Acme EHR sync", "facilityId": FACILITY}),
        ),
        (
            "Page_WebhookDelivery",
            page(json!({"id": WEBHOOK_DELIVERY, "webhookId": WEBHOOK, "event": "care_log.written",
                        "payload": {"id": WEBHOOK_DELIVERY, "event": "care_log.written", "facilityId": FACILITY,
                                    "occurredAt": AT, "data": {"id": CARE_LOG}},
                        "status": "delivered", "attempts": 2, "lastStatusCode": 200, "createdAt": AT,
                        "lastAttemptAt": LATER, "deliveredAt": LATER})),
        ),
        ("ApiKey", api_key()),
        ("Page_ApiKey", page(api_key())),
        (
            "ApiKeyCreated",
            json!({"apiKey": api_key(), "secret": "cgk_7Hq2LmX9pR4sT6vW8yZ1aB3cD5eF7gH92kFq1Z"}),
        ),
        (
            "NewApiKeyRequest",
            json!({"name": "Acme EHR sync", "scopes": ["patients:read", "care-logs:write"],
                   "expiresAt": "2027-11-20T08:30:00Z", "rateLimitPerMinute": 120, "dailyQuota": 10000,
                   "facilityId": FACILITY}),
        ),
        ("RotateApiKeyRequest", json!({"overlapHours": 24})),
        (
            "PlanRequest",
            json!({"name": "Home nursing, 12-hour shift", "serviceId": SERVICE, "priceMinor": 180000,
                   "currency": "INR", "period": "per_visit"}),
        ),
        ("Invoice", invoice()),
        (
            "Page_Invoice",
            page({
                let mut i = invoice();
                i.as_object_mut().unwrap().remove("lines");
                i
            }),
        ),
        (
            "NewInvoiceRequest",
            json!({"customerId": CLIENT_USER, "currency": "INR", "dueOn": "2026-12-15", "lines": [line_request()]}),
        ),
        ("InvoiceLinesRequest", json!({"lines": [line_request()]})),
        ("VoidRequest", json!({"reason": "Billed to the wrong customer."})),
        ("CreditNoteRequest", json!({"reason": "One shift was not worked."})),
        (
            "PaymentRequest",
            json!({"amountMinor": 300000, "method": "upi", "reference": "UPI 4021 9983 1177"}),
        ),
        ("Payment", payment()),
        ("Page_Payment", page(payment())),
        (
            "BalanceList",
            json!({"items": [{"currency": "INR", "invoicedMinor": 637200, "creditedMinor": 0,
                              "paidMinor": 300000, "outstandingMinor": 337200}]}),
        ),
        ("Student", student()),
        ("Page_Student", page(student())),
        (
            "NewStudentRequest",
            json!({"account": {"facilityId": TRAINING_CENTRE, "phone": "+919811122233", "firstName": "Ravi", "lastName": "Meena"},
                   "profile": student_profile()}),
        ),
    ]
}
