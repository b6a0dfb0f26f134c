//! What every response carries at the edge: security headers, CORS for the
//! configured browser origins, and compression of large text responses.

use std::io::Write as _;

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, header},
    middleware::Cors,
};

/// Smaller responses are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 1024;

/// CORS for the configured origins only (never `*`; credentials are never
/// allowed: the API takes bearer tokens, not cookies). Installed only when
/// origins are configured; without them there are no CORS headers at all.
pub fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods(["GET", "POST", "PATCH", "DELETE"])
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "x-change-reason",
            "x-request-id",
        ])
        .expose_headers(["x-request-id", "idempotent-replayed", "retry-after", "www-authenticate"])
        .allow_credentials(false)
        .max_age(600)
}

/// `X-Content-Type-Options`, `Referrer-Policy`, framing forbidden, and
/// `Cache-Control: no-store` on every API answer (they are per caller),
/// unless the handler chose its own (the public catalog's cached answers).
pub struct SecurityHeaders;

impl<E: Endpoint<Output = Response>> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint(ep)
    }
}

pub struct SecurityHeadersEndpoint<E>(E);

impl<E: Endpoint<Output = Response>> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let api = req.uri().path().starts_with("/api/");
        let mut resp = self.0.call(req).await?;
        let headers = resp.headers_mut();
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
        if api {
            headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        }
        Ok(resp)
    }
}

/// Brotli or gzip, as the client accepts (brotli preferred), for text
/// responses of 1 KiB or more. Fast settings: the CPU goes to requests.
pub struct Compress;

impl<E: Endpoint<Output = Response>> Middleware<E> for Compress {
    type Output = CompressEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        CompressEndpoint(ep)
    }
}

pub struct CompressEndpoint<E>(E);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// The best encoding `accept` allows (a `q=0` refuses one).
    fn choose(accept: &str) -> Option<Self> {
        let allowed = |name: &str| {
            accept.split(',').any(|part| {
                let mut it = part.split(';').map(str::trim);
                it.next().is_some_and(|n| n.eq_ignore_ascii_case(name))
                    && !it.any(|p| p.replace(' ', "").starts_with("q=0") && !p.contains("q=0."))
            })
        };
        if allowed("br") {
            Some(Self::Brotli)
        } else if allowed("gzip") {
            Some(Self::Gzip)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    fn compress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Brotli => {
                let mut out = Vec::with_capacity(data.len() / 4);
                let params = brotli::enc::BrotliEncoderParams { quality: 4, ..Default::default() };
                brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
                Ok(out)
            }
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(data)?;
                encoder.finish()
            }
        }
    }
}

fn compressible(resp: &Response) -> bool {
    let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    // An event stream never ends: buffering it to compress would hold every event back.
    !resp.headers().contains_key(header::CONTENT_ENCODING)
        && !content_type.starts_with("text/event-stream")
        && ["json", "text/", "javascript", "html", "css"].iter().any(|t| content_type.contains(t))
}

impl<E: Endpoint<Output = Response>> Endpoint for CompressEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let accept = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
        let encoding = Encoding::choose(accept);
        let mut resp = self.0.call(req).await?;
        let Some(encoding) = encoding.filter(|_| compressible(&resp)) else { return Ok(resp) };
        resp.headers_mut().append(header::VARY, HeaderValue::from_static("accept-encoding"));
        let body = resp.take_body().into_bytes().await?;
        if body.len() < MIN_COMPRESS_BYTES {
            resp.set_body(body);
            return Ok(resp);
        }
        let (compressed, body) = tokio::task::spawn_blocking(move || (encoding.compress(&body), body))
            .await
            .map_err(crate::error::Error::internal)?;
        match compressed {
            Ok(data) => {
                resp.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.name()));
                resp.headers_mut().remove(header::CONTENT_LENGTH);
                resp.set_body(Body::from(data));
            }
            Err(_) => resp.set_body(body),
        }
        Ok(resp.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        assert_eq!(Encoding::choose("gzip, deflate, br"), Some(Encoding::Brotli));
        assert_eq!(Encoding::choose("gzip"), Some(Encoding::Gzip));
        assert_eq!(Encoding::choose("br;q=0, gzip"), Some(Encoding::Gzip));
        assert_eq!(Encoding::choose("br;q=0.5"), Some(Encoding::Brotli));
        assert_eq!(Encoding::choose("identity"), None);
        assert_eq!(Encoding::choose(""), None);
    }

    #[test]
    fn both_encodings_round_trip() {
        use std::io::Read as _;
        let data = b"{\"items\": []} ".repeat(200);
        let gz = Encoding::Gzip.compress(&data).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let br = Encoding::Brotli.compress(&data).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, data);
        assert!(br.len() < data.len() / 4);
    }
}
