//! The webhook core, independent of Lambda: a plain request in, a status and JSON body out.

use crate::error::{AuthFailure, IngestError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::RoutingTable;
use shared::alert::{Freshness, MAX_BODY_BYTES, RawAlert};
use shared::clock::Clock;
use shared::error::AlertError;
use shared::message::{SIGNAL_VERSION, SignalMessage};
use shared::ports::{FifoMessage, FifoQueue};
use std::net::IpAddr;
use subtle::ConstantTimeEq;
use tracing::{Instrument, info, info_span, warn};

/// What the edge extracted from the HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    /// The path without the API Gateway stage.
    pub path: &'a str,
    pub source_ip: Option<IpAddr>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn error(err: &IngestError) -> Self {
        Self {
            status: err.status(),
            body: json!({"error": {"code": err.code(), "message": err.public_message()}}),
        }
    }
}

pub struct Ingest<Q, C> {
    queue: Q,
    clock: C,
    /// Only the digest is kept: comparing digests is constant-time whatever the lengths.
    secret_digest: [u8; 32],
    freshness: Freshness,
    allowlist: Option<Vec<IpAddr>>,
    routing: RoutingTable,
}

impl<Q, C> std::fmt::Debug for Ingest<Q, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("secret", &"[REDACTED]")
            .field("freshness", &self.freshness)
            .field("allowlist", &self.allowlist)
            .finish_non_exhaustive()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl<Q: FifoQueue, C: Clock> Ingest<Q, C> {
    pub fn new(
        queue: Q,
        clock: C,
        secret: &SecretString,
        freshness: Freshness,
        allowlist: Option<Vec<IpAddr>>,
        routing: RoutingTable,
    ) -> Self {
        Self {
            queue,
            clock,
            secret_digest: digest(secret.expose_secret().as_bytes()),
            freshness,
            allowlist,
            routing,
        }
    }

    pub async fn handle(&self, req: WebhookRequest<'_>) -> Reply {
        let path = req.path.trim_end_matches('/');
        let result = match (req.method, path) {
            ("GET", "/healthcheck") => {
                return Reply {
                    status: 200,
                    body: json!({"status": "ok"}),
                };
            }
            (_, "/healthcheck") => Err(IngestError::MethodNotAllowed),
            ("POST", "/webhook") => self.webhook(None, req).await,
            ("POST", p) => match p.strip_prefix("/webhook/") {
                Some(secret) if !secret.is_empty() && !secret.contains('/') => {
                    self.webhook(Some(secret), req).await
                }
                _ => Err(IngestError::NotFound),
            },
            (_, p) if p == "/webhook" || p.starts_with("/webhook/") => {
                Err(IngestError::MethodNotAllowed)
            }
            _ => Err(IngestError::NotFound),
        };
        match result {
            Ok(reply) => reply,
            Err(err) => {
                match &err {
                    IngestError::Unauthorized(why) => {
                        warn!(code = err.code(), reason = why.as_str(), source_ip = ?req.source_ip, "alert refused")
                    }
                    IngestError::Enqueue(e) => {
                        warn!(code = err.code(), error = %e, "alert not enqueued")
                    }
                    // The path may hold the secret: never log it.
                    IngestError::NotFound | IngestError::MethodNotAllowed => {
                        warn!(code = err.code(), method = req.method, "no such route")
                    }
                    IngestError::Alert(e) => warn!(code = err.code(), error = %e, "alert refused"),
                }
                Reply::error(&err)
            }
        }
    }

    fn check_secret(&self, candidate: Option<&str>) -> Result<(), IngestError> {
        let candidate = candidate.ok_or(IngestError::Unauthorized(AuthFailure::NoSecret))?;
        if bool::from(digest(candidate.as_bytes()).ct_eq(&self.secret_digest)) {
            Ok(())
        } else {
            Err(IngestError::Unauthorized(AuthFailure::WrongSecret))
        }
    }

    async fn webhook(
        &self,
        path_secret: Option<&str>,
        req: WebhookRequest<'_>,
    ) -> Result<Reply, IngestError> {
        let received_at = self.clock.now();
        if req.body.len() > MAX_BODY_BYTES {
            return Err(AlertError::PayloadTooLarge {
                size: req.body.len(),
                limit: MAX_BODY_BYTES,
            }
            .into());
        }
        if let Some(allowed) = &self.allowlist
            && !req.source_ip.is_some_and(|ip| allowed.contains(&ip))
        {
            return Err(IngestError::Unauthorized(AuthFailure::SourceIpNotAllowed));
        }
        // A secret in the path is checked before the body is even parsed; a secret in the
        // body needs the JSON first.
        if path_secret.is_some() {
            self.check_secret(path_secret)?;
        }
        let raw = RawAlert::parse(req.body)?;
        if path_secret.is_none() {
            self.check_secret(raw.passphrase().map(|s| s.expose_secret()))?;
        }
        let valid = raw.validate()?;
        let span = info_span!("signal", signal_id = %valid.signal_id);
        async {
            let route = valid.route_and_check(&self.routing, received_at, self.freshness)?;
            let message = SignalMessage {
                version: SIGNAL_VERSION,
                signal_id: valid.signal_id.clone(),
                received_at,
                enqueued_at: self.clock.now(),
                alert: valid.alert,
                raw: valid.canonical,
                replay_forced: false,
            };
            let body = serde_json::to_string(&message).map_err(|e| {
                IngestError::Enqueue(shared::ports::QueueError::Refused {
                    queue: "signals".into(),
                    reason: format!("signal could not be serialised: {e}"),
                })
            })?;
            let group_id = message.group_id();
            self.queue
                .send(FifoMessage {
                    group_id: group_id.clone(),
                    dedup_id: message.signal_id.to_string(),
                    body,
                })
                .await
                .map_err(IngestError::Enqueue)?;
            info!(
                action = %message.alert.action,
                symbol = %message.alert.market_data.symbol,
                broker = %route.broker,
                instrument = %route.instrument,
                group = %group_id,
                "alert enqueued"
            );
            Ok(Reply {
                status: 200,
                body: json!({
                    "signal_id": message.signal_id,
                    "status": "enqueued",
                    "broker": route.broker,
                    "instrument": route.instrument,
                }),
            })
        }
        .instrument(span)
        .await
    }
}
