//! The API Gateway edge: REST (v1) and HTTP API (v2) proxy events in, proxy responses out.

use crate::handler::{Ingest, WebhookRequest};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::clock::Clock;
use shared::health::HealthStore;
use shared::ports::FifoQueue;
use std::net::IpAddr;

/// The caller's address as API Gateway saw it (not a header the caller could forge).
fn source_ip(req: &Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        _ => None,
    }?;
    ip.parse().ok()
}

/// The route of a request: the raw path, less a named stage an HTTP API (v2) puts at its
/// start (`/prod/webhook` on stage `prod`; only the `$default` stage is left out of
/// `rawPath`, <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>).
/// A REST API (v1) gives the resource path without the stage already.
fn route(req: &Request) -> &str {
    let raw = req.raw_http_path();
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return raw;
    };
    match ctx.stage.as_deref() {
        Some(stage) if stage != "$default" && !stage.is_empty() => raw
            .strip_prefix('/')
            .and_then(|r| r.strip_prefix(stage))
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .map_or(raw, |r| if r.is_empty() { "/" } else { r }),
        _ => raw,
    }
}

/// A webhook request (not a status route, whose 503 means a broker is degraded) answered 5xx:
/// an alert that was not queued, which TradingView sends again only a few times.
fn webhook_server_error(path: &str, status: u16) -> bool {
    status >= 500 && path.trim_end_matches('/').starts_with("/webhook")
}

/// The CloudWatch embedded-metric line for one webhook request answered 5xx: metric
/// `WebhookServerErrors` (Count) in namespace `TvPipeline`, without dimensions. The stage's
/// `5XXError` counts the status routes' 503s too, so an alarm on it could stay in alarm for a
/// degraded broker and miss an alert that was not queued. `at_ms`: milliseconds since the epoch.
/// Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
pub fn webhook_server_errors_line(at_ms: i64) -> String {
    shared::telemetry::emf_count_line("WebhookServerErrors", 1, at_ms, &[], &[])
}

/// A request to a route other than the webhook's (`/healthcheck`, `/<broker>status`): the
/// gateway routes only the webhook and those to ingest.
fn status_request(path: &str) -> bool {
    !path.trim_end_matches('/').starts_with("/webhook")
}

/// The CloudWatch embedded-metric line for one status-route request ingest answered: metric
/// `StatusRequests` (Count) in namespace `TvPipeline`, without dimensions. The refused-ratio
/// alarm takes them off the stage's `Count`, which holds every route: an uptime check polling
/// the status routes (one a minute, as the CDK app's README suggests) otherwise outnumbered a
/// few alerts all refused, and the alarm stayed quiet while every alert was lost.
pub fn status_requests_line(at_ms: i64) -> String {
    shared::telemetry::emf_count_line("StatusRequests", 1, at_ms, &[], &[])
}

pub async fn serve<Q: FifoQueue, C: Clock, H: HealthStore>(
    ingest: &Ingest<Q, C, H>,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let reply = ingest
        .handle(WebhookRequest {
            method: req.method().as_str(),
            // REST APIs put the stage in `uri().path()`; the raw path is the route (less an
            // HTTP API's named stage).
            path: route(&req),
            source_ip: source_ip(&req),
            body: req.body().as_ref(),
        })
        .await;
    // Lambda turns embedded-metric lines on stdout into metrics; best effort, as the other
    // functions' metric lines.
    let at_ms = ingest.now().timestamp_millis();
    let line = if webhook_server_error(route(&req), reply.status) {
        Some(webhook_server_errors_line(at_ms))
    } else if status_request(route(&req)) {
        Some(status_requests_line(at_ms))
    } else {
        None
    };
    if let Some(line) = line {
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    if let Some(allow) = reply.allow {
        response = response.header("allow", allow);
    }
    Ok(response.body(Body::Text(reply.body.to_string()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_webhook_route_answered_5xx_counts() {
        assert!(webhook_server_error("/webhook", 503));
        assert!(webhook_server_error("/webhook/abc/", 500));
        assert!(!webhook_server_error("/webhook", 422));
        assert!(!webhook_server_error("/tradovatestatus", 503));
        assert!(!webhook_server_error("/healthcheck", 503));
    }

    #[test]
    fn only_a_route_other_than_the_webhook_counts_as_a_status_request() {
        for path in ["/healthcheck", "/oandastatus", "/tradovatestatus/"] {
            assert!(status_request(path), "{path}");
        }
        for path in ["/webhook", "/webhook/", "/webhook/abc"] {
            assert!(!status_request(path), "{path}");
        }
        let line: serde_json::Value =
            serde_json::from_str(&status_requests_line(1_700_000_000_000)).unwrap();
        let m = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "TvPipeline");
        assert_eq!(m["Metrics"][0]["Name"], "StatusRequests");
        assert_eq!(line["StatusRequests"], 1);
    }

    #[test]
    fn the_metric_line_is_embedded_metric_format() {
        let line: serde_json::Value =
            serde_json::from_str(&webhook_server_errors_line(1_700_000_000_000)).unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let m = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "TvPipeline");
        assert_eq!(m["Metrics"][0]["Name"], "WebhookServerErrors");
        assert_eq!(line["WebhookServerErrors"], 1);
    }
}
