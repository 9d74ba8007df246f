//! The alert sinks: a JSON-lines audit file, a CloudEvents 1.0 webhook and
//! Prometheus Alertmanager's v2 API. HTTP goes through hyper's client
//! (plain `http://`); a bearer token is only ever read from a file and never
//! appears in a message.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::{rfc3339, Alert, Error, Settings, SinkSpec, EVENT_TYPE};

/// Why one delivery attempt failed. Messages never hold the alert (only
/// fingerprints are in it anyway) nor the bearer token.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The audit file could not be written.
    #[error("cannot write the audit file: {0}")]
    Audit(#[source] std::io::Error),
    /// The alert could not be encoded.
    #[error("cannot encode the alert: {0}")]
    Encode(#[from] serde_json::Error),
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The request failed on the way (connect, send, receive).
    #[error("request: {0}")]
    Transport(#[from] hyper_util::client::legacy::Error),
    /// The receiver answered with a status other than 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
    /// No answer within the sink's timeout.
    #[error("timed out")]
    Timeout,
}

type Http = Client<HttpConnector, Full<Bytes>>;

/// One configured sink.
pub struct Sink {
    kind: Kind,
    timeout: Duration,
    /// How long an Alertmanager alert stays active after its last sighting.
    hold: Duration,
}

enum Kind {
    Audit(File),
    Webhook {
        http: Http,
        uri: Uri,
        token: Option<HeaderValue>,
    },
    Alertmanager {
        http: Http,
        uri: Uri,
    },
}

fn http_uri(sink: &'static str, url: &str, path: Option<&str>) -> Result<Uri, Error> {
    let bad = |msg: &str| Error::Sink {
        sink,
        msg: msg.to_string(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only http:// URLs are supported"));
    }
    let Some(auth) = uri.authority() else {
        return Err(bad("the URL has no host"));
    };
    if auth.as_str().contains('@') {
        return Err(bad("credentials in the URL are refused; use a token file"));
    }
    match path {
        None => Ok(uri),
        Some(p) => {
            let base = uri.path().trim_end_matches('/');
            format!("http://{auth}{base}{p}")
                .parse()
                .map_err(|_| bad("not a URL"))
        }
    }
}

fn read_token(path: &Path) -> Result<HeaderValue, Error> {
    let bad = |msg: String| Error::Sink {
        sink: "webhook",
        msg,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read token file {}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad(format!("token file {} is empty", path.display())));
    }
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        bad(format!(
            "token file {} holds an invalid token",
            path.display()
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn client() -> Http {
    let mut c = HttpConnector::new();
    c.set_connect_timeout(Some(Duration::from_secs(5)));
    c.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(c)
}

impl Sink {
    /// Builds a sink (opens the audit file, reads the token file).
    pub fn new(spec: &SinkSpec, settings: &Settings) -> Result<Sink, Error> {
        let kind = match spec {
            SinkSpec::Audit(p) => {
                let mut o = OpenOptions::new();
                o.append(true).create(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                Kind::Audit(o.open(p).map_err(|e| Error::Sink {
                    sink: "audit",
                    msg: format!("cannot open {}: {e}", p.display()),
                })?)
            }
            SinkSpec::Webhook { url, token_file } => Kind::Webhook {
                http: client(),
                uri: http_uri("webhook", url, None)?,
                token: token_file.as_deref().map(read_token).transpose()?,
            },
            SinkSpec::Alertmanager { url } => Kind::Alertmanager {
                http: client(),
                uri: http_uri("alertmanager", url, Some("/api/v2/alerts"))?,
            },
        };
        Ok(Sink {
            kind,
            timeout: settings.timeout,
            hold: settings.window.max(Duration::from_secs(300)),
        })
    }

    /// The `sink` metric label.
    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Audit(_) => "audit",
            Kind::Webhook { .. } => "webhook",
            Kind::Alertmanager { .. } => "alertmanager",
        }
    }

    /// Delivers one alert (one attempt).
    pub async fn deliver(&mut self, alert: &Alert) -> Result<(), DeliveryError> {
        match &mut self.kind {
            Kind::Audit(f) => {
                let mut line = serde_json::to_vec(alert)?;
                line.push(b'\n');
                f.write_all(&line).map_err(DeliveryError::Audit)
            }
            Kind::Webhook { http, uri, token } => {
                let body = serde_json::to_vec(&cloudevent(alert))?;
                post(
                    http,
                    uri,
                    "application/cloudevents+json; charset=utf-8",
                    token.as_ref(),
                    body,
                    self.timeout,
                )
                .await
            }
            Kind::Alertmanager { http, uri } => {
                let ends = rfc3339(SystemTime::now() + self.hold);
                let body = serde_json::to_vec(&alertmanager(alert, &ends))?;
                post(http, uri, "application/json", None, body, self.timeout).await
            }
        }
    }
}

/// The CloudEvents 1.0 structured-mode event for `alert`.
pub fn cloudevent(alert: &Alert) -> serde_json::Value {
    let s = &alert.source;
    let mut source = format!("/redactd/{}", s.mode);
    if let Some(l) = &s.listener {
        source.push('/');
        source.push_str(l);
    }
    json!({
        "specversion": "1.0",
        "id": alert.id,
        "source": source,
        "type": EVENT_TYPE,
        "subject": alert.rule,
        "time": alert.last_seen,
        "datacontenttype": "application/json",
        "data": alert,
    })
}

/// The Alertmanager v2 `POST /api/v2/alerts` body for `alert`.
///
/// Alertmanager tells alerts apart by their labels, so the keyed
/// fingerprint is one: two different secrets of one rule on one listener
/// are two alerts (as an annotation, the second would overwrite the
/// first). It is an HMAC under redactd's key, not the secret, and its
/// cardinality is the number of distinct secrets found, which dedup
/// (`max_tracked`) and the rate limit already bound.
pub fn alertmanager(alert: &Alert, ends_at: &str) -> serde_json::Value {
    let listener = alert
        .source
        .listener
        .clone()
        .unwrap_or_else(|| alert.source.mode.clone());
    json!([{
        "labels": {
            "alertname": "SecretDetected",
            "rule": alert.rule,
            "severity": alert.severity,
            "listener": listener,
            "fingerprint": alert.fingerprint,
        },
        "annotations": {
            "remediation": alert.remediation,
            "count": alert.count.to_string(),
            "first_seen": alert.first_seen,
        },
        "startsAt": alert.first_seen,
        "endsAt": ends_at,
    }])
}

async fn post(
    http: &Http,
    uri: &Uri,
    content_type: &'static str,
    token: Option<&HeaderValue>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri.clone())
        .header(CONTENT_TYPE, content_type)
        .header(USER_AGENT, concat!("redactd/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, t.clone());
    }
    let req = req.body(Full::new(Bytes::from(body)))?;
    let exchange = async {
        let resp = http.request(req).await?;
        let status = resp.status();
        // Read (and discard) the body so the connection can be reused.
        let _ = resp.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::Timeout),
    }
}
