//! Unknown API keys under load: a partner's valid traffic (its facility's
//! patient list with `X-API-Key`) measured alone, then while another client
//! floods the server with random well-formed keys — from one address (the
//! limiter answers it 429 from memory after its first failures), and from a
//! fresh address per request (each random key then reaches the database
//! once: the worst case the per-address limit cannot help with).
//!
//! The server trusts 127.0.0.1 as a proxy, so each side names its client
//! address in `X-Forwarded-For`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::histogram;

/// Keys the valid side cycles through: each allows 10,000 requests a
/// minute, the most a key may.
const KEYS: usize = 64;
const PARTNER: &str = "198.51.100.10";
const FLOODER: &str = "198.51.100.66";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flood {
    None,
    OneAddress,
    EveryRequestANewAddress,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Self::None => "no flood",
            Self::OneAddress => "flood from one address",
            Self::EveryRequestANewAddress => "flood, a new address per request",
        }
    }
}

pub struct KeyRow {
    name: &'static str,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Errors on the valid side (should be none).
    errors: u64,
    flood_rps: f64,
    /// Flood answers: 401 (looked up, or remembered) and 429 (limited).
    flood_401: u64,
    flood_429: u64,
}

impl KeyRow {
    pub fn table_row(&self) -> String {
        format!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.0} | {} | {} |",
            self.name,
            self.rps,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.flood_rps,
            self.flood_401,
            self.flood_429
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.name, "validRps": self.rps, "validP50Ms": self.p50_ms, "validP99Ms": self.p99_ms,
            "validErrors": self.errors, "floodRps": self.flood_rps, "flood401": self.flood_401,
            "flood429": self.flood_429,
        })
    }
}

pub const TABLE_HEAD: &str = "| API keys | valid req/s | p50 ms | p99 ms | valid errors | flood req/s | flood 401 | flood 429 |\n|---|---:|---:|---:|---:|---:|---:|---:|";

/// Makes the keys as `admin_token` (a facility admin), then runs the three
/// scenarios: `concurrency` valid workers, and as many flooding ones.
pub async fn run(
    base: &str,
    admin_token: &str,
    concurrency: usize,
    warmup: u64,
    seconds: u64,
) -> anyhow::Result<Vec<KeyRow>> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(2 * concurrency).build()?;
    let mut keys = Vec::new();
    for i in 0..KEYS {
        let res = client
            .post(format!("{base}/api/v1/api-keys"))
            .header("authorization", format!("Bearer {admin_token}"))
            .json(&json!({"name": format!("bench {i}"), "scopes": ["patients:read"],
                          "rateLimitPerMinute": 10000, "dailyQuota": 10000000}))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "making a key: HTTP {}", res.status());
        let body: Value = res.json().await?;
        keys.push(body["secret"].as_str().unwrap_or_default().to_owned());
    }
    let keys = Arc::new(keys);
    let mut rows = Vec::new();
    for flood in [Flood::None, Flood::OneAddress, Flood::EveryRequestANewAddress] {
        // Warm up (and let the limiter's minute turn between scenarios).
        drive(&client, base, &keys, flood, concurrency, Duration::from_secs(warmup)).await;
        let row = drive(&client, base, &keys, flood, concurrency, Duration::from_secs(seconds)).await;
        eprintln!(
            "  api keys, {:<34} valid {:>7.0} req/s p99 {:>6.2} ms   flood {:>7.0} req/s ({} 401, {} 429)",
            row.name, row.rps, row.p99_ms, row.flood_rps, row.flood_401, row.flood_429
        );
        rows.push(row);
    }
    Ok(rows)
}

async fn drive(
    client: &reqwest::Client,
    base: &str,
    keys: &Arc<Vec<String>>,
    flood: Flood,
    concurrency: usize,
    length: Duration,
) -> KeyRow {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let valid: Vec<_> = (0..concurrency)
        .map(|w| {
            let (client, stop, keys, base, errors) =
                (client.clone(), stop.clone(), keys.clone(), base.to_owned(), errors.clone());
            tokio::spawn(async move {
                let mut hist = histogram();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let key = &keys[i % keys.len()];
                    i += concurrency;
                    let started = Instant::now();
                    let sent = client
                        .get(format!("{base}/api/v1/patients?limit=20"))
                        .header("x-forwarded-for", PARTNER)
                        .header("x-api-key", key)
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == 200 => {
                            let _ = resp.bytes().await;
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    hist.record(started.elapsed().as_micros() as u64).unwrap();
                }
                hist
            })
        })
        .collect();
    let (flood_401, flood_429) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flooders: Vec<_> = (0..if flood == Flood::None { 0 } else { concurrency })
        .map(|w| {
            let (client, stop, base) = (client.clone(), stop.clone(), base.to_owned());
            let (n401, n429) = (flood_401.clone(), flood_429.clone());
            tokio::spawn(async move {
                let mut n: u32 = w as u32;
                while !stop.load(Ordering::Relaxed) {
                    n = n.wrapping_add(7919);
                    let from = match flood {
                        Flood::EveryRequestANewAddress => {
                            format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
                        }
                        _ => FLOODER.to_owned(),
                    };
                    let sent = client
                        .get(format!("{base}/api/v1/patients?limit=20"))
                        .header("x-forwarded-for", from)
                        .header("x-api-key", carego::auth::api_keys::generate())
                        .send()
                        .await;
                    match sent.map(|r| r.status().as_u16()) {
                        Ok(401) => n401.fetch_add(1, Ordering::Relaxed),
                        Ok(429) => n429.fetch_add(1, Ordering::Relaxed),
                        _ => 0,
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = histogram();
    for w in valid {
        if let Ok(h) = w.await {
            let _ = total.add(h);
        }
    }
    for f in flooders {
        let _ = f.await;
    }
    let (n401, n429) = (flood_401.load(Ordering::Relaxed), flood_429.load(Ordering::Relaxed));
    KeyRow {
        name: flood.name(),
        rps: total.len() as f64 / elapsed,
        p50_ms: total.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: total.value_at_quantile(0.99) as f64 / 1000.0,
        errors: errors.load(Ordering::Relaxed),
        flood_rps: (n401 + n429) as f64 / elapsed,
        flood_401: n401,
        flood_429: n429,
    }
}
