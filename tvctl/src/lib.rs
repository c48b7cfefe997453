//! The parts of `tvctl` other crates use: the journal report (`tvctl report`, and the bench in
//! `perf`) and the TradingView alert template (`tvctl alert-template`).

pub mod report;
pub mod template;

/// A URL as `tvctl` prints it in a message: scheme, host and port, and the path's first
/// segment, `/…` standing for the rest; no user or password, no query. The webhook URL carries
/// the secret in its path (`/webhook/<secret>`, as `alert-template` gives it), and a base URL
/// can carry a password (`http://user:pw@host`). Text that does not parse as a URL is not
/// shown at all: it may be a secret pasted in the wrong place.
pub fn shown_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "the URL given (not shown: it does not parse as a URL)".into();
    };
    let host = parsed.host_str().unwrap_or("");
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = parsed.path().strip_prefix('/').unwrap_or(parsed.path());
    let path = match path.split_once('/') {
        Some((first, _)) => format!("/{first}/…"),
        None => format!("/{path}"),
    };
    format!("{}://{host}{port}{path}", parsed.scheme())
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_url_is_shown_without_its_secret_parts() {
        assert_eq!(
            shown_url("http://127.0.0.1:8080/webhook/MYSECRETVALUE123456"),
            "http://127.0.0.1:8080/webhook/…"
        );
        assert_eq!(
            shown_url("https://trader:pw-91c2@status.example:8443/oandastatus?token=abc"),
            "https://status.example:8443/oandastatus"
        );
        assert_eq!(shown_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        let shown = shown_url("not a url MYSECRETVALUE123456");
        assert!(!shown.contains("MYSECRET"), "{shown}");
    }
}
