//! The live-event scenario: 1,000 event streams (every user of 50
//! facilities) held open on the release server, then announcements
//! published through the API, paced, round-robin over the facilities. It
//! measures how long an event takes from its commit to each subscriber, and
//! what an idle subscriber costs the server in memory.
//!
//! The commit happens between the writer sending its request and reading
//! the answer, so latency is given both ways: from the answer (the commit
//! is confirmed; a lower bound, zero when the event came first) and from the
//! request (an upper bound).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use carego::{
    auth::jwt::JwtKeys,
    domain::ids::{FacilityId, SessionId, UserId},
    identity::Role,
};
use serde_json::{Value, json};
use uuid::Uuid;

pub const FACILITIES: usize = 50;
const USERS_PER_FACILITY: usize = 20;

pub struct LiveFigures {
    pub subscribers: usize,
    pub announcements: usize,
    pub delivered: usize,
    pub expected: i64,
    pub from_commit_p50_ms: f64,
    pub from_commit_p99_ms: f64,
    pub from_request_p50_ms: f64,
    pub from_request_p99_ms: f64,
    pub rss_before_mb: f64,
    pub rss_idle_mb: f64,
    pub idle_kib_per_subscriber: f64,
}

impl LiveFigures {
    pub fn to_json(&self) -> Value {
        json!({
            "subscribers": self.subscribers, "facilities": FACILITIES, "announcements": self.announcements,
            "delivered": self.delivered, "expected": self.expected,
            "fromCommitP50Ms": self.from_commit_p50_ms, "fromCommitP99Ms": self.from_commit_p99_ms,
            "fromRequestP50Ms": self.from_request_p50_ms, "fromRequestP99Ms": self.from_request_p99_ms,
            "serverRssBeforeMb": self.rss_before_mb, "serverRssIdleMb": self.rss_idle_mb,
            "idleKibPerSubscriber": self.idle_kib_per_subscriber,
        })
    }
}

/// Who subscribes: every user of facilities 1..=50 (their admin writes).
struct Subscriber {
    facility: usize,
    role: Role,
    token: String,
}

async fn subscribers(su: &tokio_postgres::Client, keys: &JwtKeys) -> anyhow::Result<Vec<Subscriber>> {
    let rows = su
        .query(
            "insert into sessions (facility_id, user_id, expires_at)
             select md5('bf' || f)::uuid, md5('bu' || f || '-' || s)::uuid, now() + interval '1 day'
               from generate_series(1, $1::int) f, generate_series(1, $2::int) s
             returning facility_id, user_id, id,
                       (select u.role = 'facility_admin' from users u where u.id = user_id) as admin,
                       (select f.slug from facilities f where f.id = facility_id) as slug",
            &[&(FACILITIES as i32), &(USERS_PER_FACILITY as i32)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let role = if r.get::<_, bool>("admin") { Role::FacilityAdmin } else { Role::Staff };
            let slug: String = r.get("slug");
            let token = keys.issue(
                UserId(r.get("user_id")),
                SessionId(r.get("id")),
                role,
                Some(FacilityId(r.get("facility_id"))),
                Duration::from_secs(3600),
            )?;
            let facility = slug.trim_start_matches("bench-").parse()?;
            Ok(Subscriber { facility, role, token })
        })
        .collect()
}

/// One stream: connects (retrying a busy server), counts itself connected,
/// then records each event's subject and arrival until told to stop.
async fn listen(
    client: reqwest::Client,
    url: String,
    token: String,
    connected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<(String, Instant)> {
    let mut res = loop {
        match client.get(&url).bearer_auth(&token).send().await {
            Ok(res) if res.status() == 200 => break res,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    connected.fetch_add(1, Ordering::Relaxed);
    let (mut buf, mut got) = (String::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), res.chunk()).await {
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(_) => break,
            Err(_) => continue,
        }
        let arrived = Instant::now();
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                let event: Value = serde_json::from_str(data).unwrap_or_default();
                if let Some(subject) = event["subjectId"].as_str() {
                    got.push((subject.to_owned(), arrived));
                }
            }
        }
    }
    got
}

pub async fn run(
    base: &str,
    su: &tokio_postgres::Client,
    keys: &JwtKeys,
    server_pid: u32,
    announcements: usize,
) -> anyhow::Result<LiveFigures> {
    let who = subscribers(su, keys).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = super::rss_kb(server_pid).unwrap_or(0);

    // Open every stream, fifty at a time, as a fleet of apps coming online would.
    let (connected, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let mut streams = Vec::new();
    for (i, s) in who.iter().enumerate() {
        let task = listen(
            client.clone(),
            format!("{base}/api/v1/events"),
            s.token.clone(),
            connected.clone(),
            stop.clone(),
        );
        streams.push(tokio::spawn(task));
        if i % 50 == 49 {
            while connected.load(Ordering::Relaxed) < i + 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    while connected.load(Ordering::Relaxed) < who.len() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Idle for a moment (no heartbeat falls in it), then what they cost.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = super::rss_kb(server_pid).unwrap_or(0);

    // The facilities' admins publish, one announcement every 20 ms, round-robin.
    let admins: HashMap<usize, &str> = who
        .iter()
        .filter(|s| s.role == Role::FacilityAdmin)
        .map(|s| (s.facility, s.token.as_str()))
        .collect();
    let writer = reqwest::Client::new();
    let mut published: HashMap<String, (Instant, Instant)> = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..announcements {
        let token = admins[&(1 + i % FACILITIES)];
        let body = json!({"audience": "staff", "title": format!("Bench notice {i}"), "body": "Read me."});
        let sent = Instant::now();
        let res =
            writer.post(format!("{base}/api/v1/announcements")).bearer_auth(token).json(&body).send().await?;
        anyhow::ensure!(res.status() == 201, "announcement {i}: HTTP {}", res.status());
        let id = res.json::<Value>().await?["id"].as_str().unwrap_or_default().to_owned();
        published.insert(id.clone(), (sent, Instant::now()));
        ids.push(Uuid::parse_str(&id)?);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);

    let (mut from_commit, mut from_request) = (super::histogram(), super::histogram());
    let mut delivered = 0;
    for stream in streams {
        for (subject, arrived) in stream.await? {
            if let Some((sent, acked)) = published.get(&subject) {
                delivered += 1;
                from_commit.record(arrived.saturating_duration_since(*acked).as_micros() as u64)?;
                from_request.record(arrived.duration_since(*sent).as_micros() as u64)?;
            }
        }
    }
    let expected: i64 = su
        .query_one(
            "select count(*) from events where kind = 'announcement.published' and subject_id = any($1)",
            &[&ids],
        )
        .await?
        .get(0);
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(LiveFigures {
        subscribers: who.len(),
        announcements,
        delivered,
        expected,
        from_commit_p50_ms: ms(&from_commit, 0.50),
        from_commit_p99_ms: ms(&from_commit, 0.99),
        from_request_p50_ms: ms(&from_request, 0.50),
        from_request_p99_ms: ms(&from_request, 0.99),
        rss_before_mb: rss_before as f64 / 1024.0,
        rss_idle_mb: rss_idle as f64 / 1024.0,
        idle_kib_per_subscriber: rss_idle.saturating_sub(rss_before) as f64 / who.len() as f64,
    })
}
