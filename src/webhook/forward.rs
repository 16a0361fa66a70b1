//! Webhooks forwarded between sharded replicas. Stage: trigger (I/O: HTTP from one replica to
//! another, on the URL each advertises on its shard Leases).
//!
//! A forge sends an event to any replica (behind one Service). The sets of shards another
//! replica holds are that replica's to refresh: rather than an annotation written on each of
//! them through the API server (and removed again after their reconcile: two writes per set),
//! the receiving replica sends the event once to each owning replica, which refreshes them in
//! process. What is sent is an [`Envelope`]: the forge's request as it came (headers and body,
//! so the owner verifies the forge's signature itself: a forwarded event is trusted no more than
//! one straight from the forge) and the sets to refresh. An owner never forwards again: a set
//! whose shard moved meanwhile gets the refresh annotation there. A forward that fails (the
//! owner unreachable, an error answer) falls back to the annotation at the sender, so no
//! refresh is lost either way.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::shard::Peer;

/// The path a replica receives forwarded webhooks on.
pub const FORWARDED_PATH: &str = "/api/webhook/forwarded";

/// How long a forward may take before the sender falls back to the annotation.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Headers that describe one hop, not the forge's request.
const HOP_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
];

/// A forge's event as one replica forwards it to another.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending replica's identity (logs).
    pub from: String,
    /// The forge request's headers (hop-by-hop ones left out).
    pub headers: Vec<(String, String)>,
    /// The forge request's body, base64.
    pub body: String,
    /// The sets to refresh, as `namespace/name`.
    pub sets: Vec<String>,
}

impl Envelope {
    /// Wraps the forge's request.
    pub fn new(from: &str, headers: &HeaderMap, body: &[u8], sets: Vec<String>) -> Envelope {
        Envelope {
            from: from.to_string(),
            headers: headers
                .iter()
                .filter(|(name, _)| !HOP_HEADERS.contains(&name.as_str()))
                .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
                .collect(),
            body: base64::engine::general_purpose::STANDARD.encode(body),
            sets,
        }
    }

    /// The forge's request again: headers and body.
    pub fn request(&self) -> Result<(HeaderMap, Vec<u8>), String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|e| format!("header {name:?}: {e}"))?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|e| format!("header {name}: {e}"))?;
            headers.append(name, value);
        }
        let body = base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .map_err(|e| format!("body: {e}"))?;
        Ok((headers, body))
    }
}

/// Sends `envelope` to `peer`; Ok when it answered 2xx.
pub async fn send(client: &reqwest::Client, peer: &Peer, envelope: &Envelope) -> Result<(), String> {
    let url = format!("{}{FORWARDED_PATH}", peer.url.trim_end_matches('/'));
    let body = serde_json::to_vec(envelope).map_err(|e| format!("forwarding to {}: {e}", peer.identity))?;
    let answer = client
        .post(&url)
        .timeout(TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("forwarding to {} at {url}: {e}", peer.identity))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = answer.text().await.unwrap_or_default();
        Err(format!(
            "forwarding to {} at {url}: {status} {}",
            peer.identity,
            text.chars().take(300).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_carries_the_forge_request_but_not_the_hop() {
        let mut headers = HeaderMap::new();
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha256=ab"));
        headers.insert("x-github-event", HeaderValue::from_static("push"));
        headers.insert("host", HeaderValue::from_static("appset:8080"));
        headers.insert("content-length", HeaderValue::from_static("3"));
        let body = b"{\"\xff\"}";
        let envelope = Envelope::new("a", &headers, body, vec!["ns/s".into()]);
        let wire = serde_json::to_string(&envelope).unwrap();
        let back: Envelope = serde_json::from_str(&wire).unwrap();
        let (h, b) = back.request().unwrap();
        assert_eq!(b, body, "bytes, even not UTF-8, come back unchanged");
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["x-hub-signature-256"], "sha256=ab");
        assert_eq!(back.sets, ["ns/s"]);
        let bad = Envelope {
            body: "%%%".into(),
            ..back
        };
        assert!(bad.request().unwrap_err().starts_with("body:"));
    }
}
