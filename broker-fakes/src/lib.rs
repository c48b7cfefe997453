//! Fake broker servers for tests: OANDA v20, Tradovate REST and Coinbase Advanced Trade,
//! served by axum on 127.0.0.1 with scripted faults. They record what a real server would
//! refuse in `violations()`, so a test can assert the client never sent it.
// The fakes hold only made-up credentials; their handles need no Debug.
#![allow(missing_debug_implementations)]
// A fake broker keeps the broker's own time (transaction times, fill times), as the real
// server does with its clock: not a decision of this project's to pin.
#![allow(clippy::disallowed_methods)]

pub mod coinbase;
pub mod oanda;
pub mod tradovate;

use std::sync::{Arc, Mutex};

/// Reads a fake fails for a while: the next `n` GET requests whose path contains a given
/// part answer 503 (or another status) with the broker's error body, and carry nothing out
/// (a server error, an outage or a rate limit, as any broker can answer). Cloning shares the
/// state.
#[derive(Clone)]
pub struct ReadOutage {
    left: Arc<Mutex<Option<Failing>>>,
    body: serde_json::Value,
}

/// An outage's reads: those whose path contains `part`, the first `skip` let through, the
/// `left` after them answered `status`.
struct Failing {
    part: String,
    skip: usize,
    left: usize,
    status: axum::http::StatusCode,
}

impl ReadOutage {
    /// No outage yet; `body` is what a failed read answers.
    pub fn new(body: serde_json::Value) -> Self {
        Self {
            left: Arc::new(Mutex::new(None)),
            body,
        }
    }

    /// Fails the next `n` GET requests whose path contains `part` (503).
    pub fn fail(&self, part: &str, n: usize) {
        self.fail_with(part, n, axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }

    /// Fails the next `n` GET requests whose path contains `part` with `status` (a broker's
    /// documented 429 of a rate limit, say).
    pub fn fail_with(&self, part: &str, n: usize, status: axum::http::StatusCode) {
        self.fail_after(part, 0, n, status);
    }

    /// Lets the next `skip` GET requests whose path contains `part` through, then fails the
    /// `n` after them with `status` (a limit reached in the middle of a signal, say).
    pub fn fail_after(&self, part: &str, skip: usize, n: usize, status: axum::http::StatusCode) {
        *self.left.lock().unwrap_or_else(|e| e.into_inner()) = Some(Failing {
            part: part.to_owned(),
            skip,
            left: n,
            status,
        });
    }

    /// How many failed reads the outage has left to answer.
    pub fn left(&self) -> usize {
        self.left
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |f| f.left)
    }

    /// The middleware: a GET under the outage answers its status, the rest go on.
    pub async fn layer(
        axum::extract::State(outage): axum::extract::State<Self>,
        req: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if req.method() == axum::http::Method::GET {
            // Decided under the lock, answered after it (a guard is not held across an await).
            let failed = {
                let mut left = outage.left.lock().unwrap_or_else(|e| e.into_inner());
                match left.as_mut() {
                    Some(f) if f.left > 0 && req.uri().path().contains(f.part.as_str()) => {
                        if f.skip > 0 {
                            f.skip -= 1;
                            None
                        } else {
                            f.left -= 1;
                            Some(f.status)
                        }
                    }
                    _ => None,
                }
            };
            if let Some(status) = failed {
                return (status, axum::Json(outage.body.clone())).into_response();
            }
        }
        next.run(req).await
    }
}

/// A server that is not a broker: every request is answered `status` with a plain-text page
/// repeating the request line and its headers, `Authorization` included, as a debugging
/// server, a misconfigured proxy or a wrong base URL can. A client's error built from such an
/// answer must not carry the credential it sent.
pub struct EchoServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl EchoServer {
    /// Serves on a free port of 127.0.0.1 until the test's runtime ends.
    pub async fn start(status: u16) -> Self {
        Self::serve(status, false).await
    }

    /// The same page as a JSON answer, in each field a broker's error has (`message`,
    /// `error`, `errorMessage`, `errorCode`, `errorText`), as a gateway answering in JSON can.
    pub async fn start_json(status: u16) -> Self {
        Self::serve(status, true).await
    }

    async fn serve(status: u16, json: bool) -> Self {
        let status =
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| async move {
            let mut page = format!("{} {}\n", req.method(), req.uri());
            for (name, value) in req.headers() {
                page.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
            }
            if json {
                let fields = ["message", "error", "errorMessage", "errorCode", "errorText"];
                let body: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .map(|f| ((*f).to_owned(), serde_json::Value::String(page.clone())))
                    .collect();
                axum::response::IntoResponse::into_response((status, axum::Json(body)))
            } else {
                axum::response::IntoResponse::into_response((status, page))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind 127.0.0.1: {e}"));
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("local addr: {e}"))
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url }
    }
}
