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

pub async fn serve<Q: FifoQueue, C: Clock, H: HealthStore>(
    ingest: &Ingest<Q, C, H>,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let reply = ingest
        .handle(WebhookRequest {
            method: req.method().as_str(),
            // REST APIs put the stage in `uri().path()`; the raw path is the route.
            path: req.raw_http_path(),
            source_ip: source_ip(&req),
            body: req.body().as_ref(),
        })
        .await;
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .body(Body::Text(reply.body.to_string()))?)
}
