//! The status endpoints, from real API Gateway events: each broker's health as recorded by
//! executors and the token refresher, 503 when degraded, and nothing but times and kinds.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use serde_json::json;
use shared::clock::Clock;
use shared::health::{FailureKind, HealthEvent, HealthStore, MemoryHealth};
use shared::routing::Broker;
use std::sync::Arc;

fn get(path: &str) -> Event {
    Event {
        method: "GET",
        ..Event::post(path, Vec::new())
    }
}

#[tokio::test]
async fn each_broker_reports_its_own_health() {
    let (ingest, _, clock) = ingest();
    let health = Arc::new(MemoryHealth::default());
    let ingest = ingest.with_health(health.clone());
    let send = |e: Event| {
        let ingest = &ingest;
        async move { reply(ingest::lambda::serve(ingest, e.rest()).await.unwrap()) }
    };

    // Nothing recorded yet: unknown, but the endpoint itself is fine.
    let (status, body) = send(get("/oandastatus")).await;
    assert_eq!((status, body["status"].clone()), (200, json!("unknown")));

    let t1 = clock.now() - Duration::minutes(2);
    health
        .record(Broker::Oanda, t1, HealthEvent::Success)
        .await
        .unwrap();
    let (status, body) = send(get("/oandastatus")).await;
    assert_eq!(status, 200);
    assert_eq!(body["broker"], "oanda");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["last_success"], json!(t1));
    assert!(body.get("token_expires_at").is_none());

    let t2 = clock.now() - Duration::minutes(1);
    health
        .record(
            Broker::Coinbase,
            t2,
            HealthEvent::Failure(FailureKind::Unknown),
        )
        .await
        .unwrap();
    let (status, body) = send(get("/coinbasestatus")).await;
    assert_eq!((status, body["status"].clone()), (503, json!("degraded")));
    assert_eq!(body["last_failure_kind"], "unknown");
    // OANDA is unaffected by Coinbase's trouble.
    assert_eq!(send(get("/oandastatus")).await.0, 200);

    health
        .record(
            Broker::Tradovate,
            t2,
            HealthEvent::Token {
                expires_at: clock.now() + Duration::minutes(50),
            },
        )
        .await
        .unwrap();
    let (status, body) = send(get("/tradovatestatus")).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_expires_in_secs"], 3000);
    assert!(body["last_token_failure"].is_null(), "{body}");
    // A failed refresh after that token degrades the path and says when.
    health
        .record(
            Broker::Tradovate,
            clock.now(),
            HealthEvent::Failure(FailureKind::TokenRefresh),
        )
        .await
        .unwrap();
    let (status, body) = send(get("/tradovatestatus")).await;
    assert_eq!((status, body["status"].clone()), (503, json!("degraded")));
    assert_eq!(body["last_token_failure"], json!(clock.now()));
    // A token stored after it clears it: ok, and no longer shown.
    let expires_at = clock.now() + Duration::minutes(50);
    clock.advance(Duration::seconds(1));
    health
        .record(
            Broker::Tradovate,
            clock.now(),
            HealthEvent::Token { expires_at },
        )
        .await
        .unwrap();
    let (status, body) = send(get("/tradovatestatus")).await;
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    assert!(body["last_token_failure"].is_null(), "{body}");
    clock.advance(Duration::minutes(51));
    let (status, body) = send(get("/tradovatestatus")).await;
    assert_eq!((status, body["status"].clone()), (503, json!("degraded")));
    assert!(body["token_expires_in_secs"].as_i64().unwrap() < 0);
}

#[tokio::test]
async fn status_routes_are_get_only_and_unknown_brokers_are_not_found() {
    let (ingest, queue, _) = ingest();
    assert_eq!(
        send(&ingest, Event::post("/oandastatus", "{}").rest())
            .await
            .0,
        405
    );
    assert_eq!(send(&ingest, get("/krakenstatus").rest()).await.0, 404);
    // Without a health table the answer is "unknown", not an error.
    let (status, body) = send(&ingest, get("/tradovatestatus").http_v2()).await;
    assert_eq!((status, body["status"].clone()), (200, json!("unknown")));
    assert!(queue.messages().is_empty());
}

/// A health table that cannot be read.
struct Broken;

impl HealthStore for Broken {
    async fn record(
        &self,
        _: Broker,
        _: chrono::DateTime<chrono::Utc>,
        _: shared::health::HealthEvent,
    ) -> Result<(), shared::health::HealthError> {
        Ok(())
    }

    async fn read(
        &self,
        _: Broker,
    ) -> Result<shared::health::BrokerHealth, shared::health::HealthError> {
        Err(shared::health::HealthError(
            "read on table tv-health: AccessDeniedException".into(),
        ))
    }
}

#[tokio::test]
async fn an_unreadable_health_table_is_a_503_with_its_own_code_and_no_details() {
    let (ingest, _, _) = ingest();
    let ingest = ingest.with_health(Broken);
    let (status, body) = reply(
        ingest::lambda::serve(&ingest, get("/oandastatus").rest())
            .await
            .unwrap(),
    );
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "health_unavailable");
    assert_eq!(body["error"]["message"], "broker health could not be read");
}

#[tokio::test]
async fn a_405_names_the_methods_its_route_answers() {
    let (ingest, queue, _) = ingest();
    let allow = |e: lambda_http::Request| {
        let ingest = &ingest;
        async move {
            let resp = ingest::lambda::serve(ingest, e).await.unwrap();
            (
                resp.status().as_u16(),
                resp.headers()
                    .get("allow")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }
    };
    let delete = |path: &str| Event {
        method: "DELETE",
        ..Event::post(path, Vec::new())
    };
    assert_eq!(
        allow(Event::post("/oandastatus", "{}").rest()).await,
        (405, Some("GET".to_owned()))
    );
    assert_eq!(
        allow(Event::post("/healthcheck", "{}").http_v2()).await,
        (405, Some("GET".to_owned()))
    );
    assert_eq!(
        allow(get("/webhook").rest()).await,
        (405, Some("POST".to_owned()))
    );
    assert_eq!(
        allow(delete("/webhook/some-secret").http_v2()).await,
        (405, Some("POST".to_owned()))
    );
    assert_eq!(allow(get("/healthcheck").rest()).await, (200, None));
    assert!(queue.messages().is_empty());
}
