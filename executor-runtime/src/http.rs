//! What the broker clients' reads share: one GET sorted into found, not found (404) or
//! failed, and transport errors told without their URL (it can carry an account id).

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

/// Why one read failed, before each broker maps it to its own error.
#[derive(Debug)]
pub enum ReadFailure {
    /// No answer, no whole body, or a body that does not parse: worth another try.
    Unreachable(String),
    /// The broker answered with an error status; the body is the broker's to interpret.
    Status(StatusCode, Vec<u8>),
}

/// Sends a GET; `None` on 404.
pub async fn get_json<T: DeserializeOwned>(
    request: RequestBuilder,
) -> Result<Option<T>, ReadFailure> {
    let resp = request
        .send()
        .await
        .map_err(|e| ReadFailure::Unreachable(describe(e)))?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ReadFailure::Unreachable(describe(e)))?;
    if !status.is_success() {
        return Err(ReadFailure::Status(status, bytes.to_vec()));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ReadFailure::Unreachable(format!("unreadable {status} body: {e}")))
}

/// A transport error in a few words, without the URL. Tokens travel in headers and are never
/// part of a reqwest error.
pub fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}
