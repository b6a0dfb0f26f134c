//! The one LISTEN connection per server process, and the hub that fans its
//! notifications out to the streams and the job worker.
//!
//! It is a dedicated connection, never a pooled one: a pooled connection
//! serves other requests between notifications and drops them when it is
//! recycled. NOTIFY payloads carry only `facility:seq` (carego_events) or
//! nothing (carego_jobs, carego_catalog); a woken stream reads what is new in its own
//! tenant transaction, so RLS authorises every delivery.
//!
//! Each facility has a `watch` channel holding a wake-up counter: a burst
//! of notifications while a stream is busy collapses into one wake-up
//! (coalescing), and an idle stream holds a receiver, not a connection.
//! When the connection drops, it is re-made with backoff; once LISTEN is
//! in place again, every stream is woken, so what committed while nobody
//! was listening is read then (the streams' cursors make that exact).

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{Notify, watch},
};
use tokio_postgres::{AsyncMessage, Connection, NoTls};

use crate::domain::ids::FacilityId;

pub const EVENTS_CHANNEL: &str = "carego_events";
pub const JOBS_CHANNEL: &str = "carego_jobs";
/// Something in the public catalog changed (V28): drop cached answers.
pub const CATALOG_CHANNEL: &str = "carego_catalog";

/// Wake-ups, by facility, for whoever waits on them.
#[derive(Default)]
pub struct Hub {
    facilities: Mutex<HashMap<FacilityId, watch::Sender<u64>>>,
    jobs: Notify,
    /// Times LISTEN was (re-)established: tests and the health of the
    /// connection.
    listening: watch::Sender<u64>,
    /// Bumped on every catalog change anywhere, and whenever LISTEN is
    /// re-made (what changed meanwhile went unheard): a cached catalog
    /// answer of an older generation is stale.
    catalog: AtomicU64,
}

impl Hub {
    /// A receiver that changes whenever the facility has news.
    pub fn subscribe(&self, facility: FacilityId) -> watch::Receiver<u64> {
        let mut map = self.facilities.lock().expect("hub lock");
        map.entry(facility).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// Wakes the facility's streams; forgets a facility nobody watches.
    pub fn wake(&self, facility: FacilityId) {
        let mut map = self.facilities.lock().expect("hub lock");
        if let Some(tx) = map.get(&facility) {
            if tx.receiver_count() == 0 {
                map.remove(&facility);
            } else {
                tx.send_modify(|n| *n += 1);
            }
        }
    }

    /// Wakes every stream (after the connection was re-made).
    pub fn wake_all(&self) {
        let mut map = self.facilities.lock().expect("hub lock");
        map.retain(|_, tx| tx.receiver_count() > 0);
        for tx in map.values() {
            tx.send_modify(|n| *n += 1);
        }
    }

    /// Streams currently subscribed, across facilities.
    pub fn subscribers(&self) -> usize {
        self.facilities.lock().expect("hub lock").values().map(|tx| tx.receiver_count()).sum()
    }

    /// Resolves when a job was enqueued somewhere (or LISTEN was re-made);
    /// `enable` it before looking for work so nothing slips in between.
    pub fn jobs_enqueued(&self) -> tokio::sync::futures::Notified<'_> {
        self.jobs.notified()
    }

    /// Changes each time LISTEN is (re-)established.
    pub fn listening(&self) -> watch::Receiver<u64> {
        self.listening.subscribe()
    }

    /// The catalog's current generation (see the field).
    pub fn catalog_generation(&self) -> u64 {
        self.catalog.load(Ordering::Acquire)
    }

    fn on_notification(&self, channel: &str, payload: &str) {
        match channel {
            EVENTS_CHANNEL => {
                let facility = payload.split(':').next().and_then(|f| f.parse::<uuid::Uuid>().ok());
                match facility {
                    Some(f) => self.wake(FacilityId(f)),
                    None => tracing::warn!(payload, "malformed event notification"),
                }
            }
            JOBS_CHANNEL => self.jobs.notify_waiters(),
            CATALOG_CHANNEL => {
                self.catalog.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
        }
    }

    fn on_listening(&self) {
        self.catalog.fetch_add(1, Ordering::AcqRel);
        self.listening.send_modify(|n| *n += 1);
        self.wake_all();
        self.jobs.notify_waiters();
    }
}

/// Keeps the LISTEN connection up until the task is aborted.
pub async fn run(
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    hub: std::sync::Arc<Hub>,
) {
    let mut config = config;
    config.application_name("carego-listen");
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = match &tls {
            Some(tls) => match config.connect(tls.clone()).await {
                Ok((client, connection)) => listen(client, connection, &hub).await,
                Err(e) => Err(e),
            },
            None => match config.connect(NoTls).await {
                Ok((client, connection)) => listen(client, connection, &hub).await,
                Err(e) => Err(e),
            },
        };
        match outcome {
            // It was up: start the backoff afresh.
            Ok(()) => backoff = Duration::from_millis(200),
            Err(e) => tracing::warn!(error = %e, "LISTEN connection failed; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// LISTENs on the three channels and forwards notifications until the
/// connection ends (`Ok`: it had been established).
async fn listen<S, T>(
    client: tokio_postgres::Client,
    mut connection: Connection<S, T>,
    hub: &Hub,
) -> Result<(), tokio_postgres::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let sql = format!("LISTEN {EVENTS_CHANNEL}; LISTEN {JOBS_CHANNEL}; LISTEN {CATALOG_CHANNEL}");
    // The connection only makes progress while polled: drive it alongside.
    let listened = {
        let subscribe = client.batch_execute(&sql);
        tokio::pin!(subscribe);
        loop {
            tokio::select! {
                done = &mut subscribe => break done,
                msg = messages.next() => match msg {
                    Some(Ok(AsyncMessage::Notification(n))) => hub.on_notification(n.channel(), n.payload()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
            }
        }
    };
    listened?;
    hub.on_listening();
    tracing::info!("listening for events and jobs");
    while let Some(msg) = messages.next().await {
        match msg {
            Ok(AsyncMessage::Notification(n)) => hub.on_notification(n.channel(), n.payload()),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection lost");
                break;
            }
        }
    }
    drop(client);
    Ok(())
}
