//! The website's catalog for the side-by-side benchmark: one city whose
//! service list holds one published service of each seeded facility
//! (and a draft each, which the public must not see). The server answers
//! from its cache (and 304 to a matching `If-None-Match`); pgbench runs, as
//! `carego_public`, the very query the server caches.

use std::sync::OnceLock;

use uuid::Uuid;

struct Catalog {
    city: String,
    etag: String,
}

static CATALOG: OnceLock<Catalog> = OnceLock::new();

pub fn city() -> String {
    CATALOG.get().expect("seeded").city.clone()
}

pub fn path() -> String {
    format!("/api/v1/public/services?cityId={}", city())
}

pub fn etag() -> String {
    CATALOG.get().expect("seeded").etag.clone()
}

/// Seeds it once (as the superuser) and learns the list's `ETag`.
pub async fn seed(su: &tokio_postgres::Client, base: &str, facilities: usize) -> anyhow::Result<()> {
    if CATALOG.get().is_some() {
        return Ok(());
    }
    let city: Uuid = su
        .query_one("insert into cities (slug, name) values ('bench-city', 'Bench City') returning id", &[])
        .await?
        .get(0);
    let published = su
        .execute(
            "insert into services (facility_id, slug, name, summary, city_id, price_from_minor, currency, published)
             select f.id, s.slug, 'Home nursing ' || f.slug, 'A nurse at home, by the visit.', $1, 79900, 'INR',
                    s.slug = 'home-nursing'
               from (select id, slug from facilities order by slug limit $2) f
              cross join (values ('home-nursing'), ('draft')) s(slug)",
            &[&city, &(facilities as i64)],
        )
        .await?;
    let res = reqwest::get(format!("{base}/api/v1/public/services?cityId={city}")).await?;
    let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: serde_json::Value = res.json().await?;
    let listed = body["items"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(listed * 2 == published as usize, "the list shows {listed} of {published} services");
    eprintln!("catalog: {listed} published services (and as many drafts) in one city");
    let _ = CATALOG.set(Catalog { city: city.to_string(), etag });
    Ok(())
}
