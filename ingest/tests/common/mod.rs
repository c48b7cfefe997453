//! Builds real API Gateway proxy events (from the fixtures the `aws_lambda_events` crate ships)
//! around a chosen method, path, body and source address.
#![allow(dead_code, clippy::unwrap_used)]

use base64::Engine;
use chrono::{DateTime, Utc};
use ingest::Ingest;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::RoutingTable;
use shared::alert::Freshness;
use shared::clock::ManualClock;
use std::path::PathBuf;
use std::sync::Arc;
use test_kit::fifo::MemoryFifoQueue;

pub const SECRET: &str = "tv-secret-0123456789";
pub const TRADINGVIEW_IP: &str = "52.89.214.238";

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn alert(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/alerts")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A sample alert with the passphrase set in its body.
pub fn alert_with_passphrase(name: &str, passphrase: &str) -> String {
    let mut doc = alert(name);
    doc["passphrase"] = json!(passphrase);
    serde_json::to_string_pretty(&doc).unwrap()
}

pub struct Event {
    pub method: &'static str,
    pub path: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub base64: bool,
    pub source_ip: &'static str,
}

impl Event {
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: "POST",
            path: path.into(),
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            base64: false,
            source_ip: TRADINGVIEW_IP,
        }
    }

    pub fn json(mut self) -> Self {
        self.content_type = "application/json";
        self
    }

    pub fn base64(mut self) -> Self {
        self.base64 = true;
        self
    }

    pub fn with_source_ip(mut self, ip: &'static str) -> Self {
        self.source_ip = ip;
        self
    }

    fn body_field(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        if self.base64 {
            json!(base64::engine::general_purpose::STANDARD.encode(&self.body))
        } else {
            json!(String::from_utf8(self.body.clone()).unwrap())
        }
    }

    /// An API Gateway REST API (payload v1) event on stage `prod`.
    pub fn rest(&self) -> lambda_http::Request {
        let mut ev = fixture("apigw-rest-request.json");
        let resource = if self.path.starts_with("/webhook/") {
            "/webhook/{secret}"
        } else {
            self.path.as_str()
        };
        ev["resource"] = json!(resource);
        ev["path"] = json!(self.path);
        ev["httpMethod"] = json!(self.method);
        ev["headers"]["Content-Type"] = json!(self.content_type);
        ev["multiValueHeaders"]["Content-Type"] = json!([self.content_type]);
        ev["queryStringParameters"] = Value::Null;
        ev["multiValueQueryStringParameters"] = Value::Null;
        ev["pathParameters"] = match self.path.strip_prefix("/webhook/") {
            Some(secret) => json!({"secret": secret}),
            None => Value::Null,
        };
        ev["requestContext"]["stage"] = json!("prod");
        ev["requestContext"]["path"] = json!(format!("/prod{}", self.path));
        ev["requestContext"]["resourcePath"] = json!(resource);
        ev["requestContext"]["httpMethod"] = json!(self.method);
        ev["requestContext"]["identity"]["sourceIp"] = json!(self.source_ip);
        ev["body"] = self.body_field();
        ev["isBase64Encoded"] = json!(self.base64);
        lambda_http::request::from_str(&ev.to_string()).unwrap()
    }

    /// An HTTP API (payload v2) event, the shape Function URLs and `cargo lambda watch` use.
    pub fn http_v2(&self) -> lambda_http::Request {
        self.http_v2_on("$default")
    }

    /// As [`Self::http_v2`], on the named `stage`: its name starts `rawPath` (only
    /// `$default` is left out), the path as API Gateway sends it.
    pub fn http_v2_on(&self, stage: &str) -> lambda_http::Request {
        let mut ev = fixture("apigw-http-v2-request.json");
        ev["requestContext"]["stage"] = json!(stage);
        ev["rawPath"] = match stage {
            "$default" => json!(self.path),
            named => json!(format!("/{named}{}", self.path)),
        };
        ev["routeKey"] = json!("$default");
        ev["headers"]["content-type"] = json!(self.content_type);
        ev["headers"]["content-length"] = json!(self.body.len().to_string());
        ev["requestContext"]["http"]["method"] = json!(self.method);
        ev["requestContext"]["http"]["path"] = json!(self.path);
        ev["requestContext"]["http"]["sourceIp"] = json!(self.source_ip);
        ev["body"] = self.body_field();
        ev["isBase64Encoded"] = json!(self.base64);
        lambda_http::request::from_str(&ev.to_string()).unwrap()
    }
}

/// Status and JSON body of a Lambda HTTP response.
pub fn reply(resp: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    // A 405 names the methods the route answers (RFC 9110, 15.5.6), and only a 405.
    assert_eq!(resp.headers().contains_key("allow"), status == 405);
    let body: &[u8] = resp.body().as_ref();
    (status, serde_json::from_slice(body).unwrap())
}

pub fn now() -> DateTime<Utc> {
    "2026-11-23T14:32:02Z".parse().unwrap()
}

pub type TestIngest = Ingest<Arc<MemoryFifoQueue<ManualClock>>, ManualClock>;

pub fn ingest_with(
    allowlist: Option<Vec<std::net::IpAddr>>,
) -> (TestIngest, Arc<MemoryFifoQueue<ManualClock>>, ManualClock) {
    shared::telemetry::init_test_logs();
    let clock = ManualClock::new(now());
    let queue = Arc::new(MemoryFifoQueue::new("signals", clock.clone()));
    let ingest = Ingest::new(
        queue.clone(),
        clock.clone(),
        &SecretString::from(SECRET),
        Freshness::default(),
        allowlist,
        RoutingTable::embedded(),
    );
    (ingest, queue, clock)
}

pub fn ingest() -> (TestIngest, Arc<MemoryFifoQueue<ManualClock>>, ManualClock) {
    ingest_with(None)
}

pub async fn send(ingest: &TestIngest, req: lambda_http::Request) -> (u16, Value) {
    reply(ingest::lambda::serve(ingest, req).await.unwrap())
}
