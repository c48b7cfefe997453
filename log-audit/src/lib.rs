//! The check behind the suite-wide log audit: does a log line carry a credential?
//!
//! Two kinds of evidence: the exact test credentials the suite uses (listed in
//! `scripts/log-audit-secrets.txt`), whole or any [`SLICE`] characters of one (a cut leaves
//! a credential's start or end), and shapes no log line of ours should ever have whatever
//! the value: a PEM block, a JWT, a bearer or basic authorization header with a value.

/// How many characters of a listed credential in a row fail a line: error texts are cut to a
/// length (a broker's body to 200 characters, an echoed alert value to 64), and a credential
/// the cut split leaves its start or its end.
pub const SLICE: usize = 12;

/// The listed credentials, ready to be looked for in every line at once: in any letter
/// case, whole or any [`SLICE`] characters of one, and in their base64 forms
/// (`base64_forms`), by one automaton each: with the keys its tests generate
/// (`shared::telemetry::list_for_audit`), a suite lists a few hundred values.
#[derive(Debug)]
pub struct Listed {
    /// What each listed value starts with, to name it in a finding without printing it.
    heads: Vec<String>,
    /// Lower-case pieces of the values; which value each is from.
    pieces: aho_corasick::AhoCorasick,
    piece_of: Vec<usize>,
    /// The values' base64 forms; which value each is from.
    forms: aho_corasick::AhoCorasick,
    form_of: Vec<usize>,
}

impl Listed {
    /// The values to look for (empty ones are left out).
    ///
    /// # Panics
    /// Never for patterns of this size (the automaton's limits are far above them).
    #[allow(
        clippy::expect_used,
        reason = "the automaton's size limits are not reached"
    )]
    pub fn new(values: &[String]) -> Self {
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        let (mut pieces, mut piece_of, mut forms, mut form_of) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (n, v) in values.iter().enumerate() {
            let chars: Vec<char> = v.to_lowercase().chars().collect();
            if chars.len() <= SLICE {
                pieces.push(chars.iter().collect::<String>());
                piece_of.push(n);
            } else {
                for w in chars.windows(SLICE) {
                    pieces.push(w.iter().collect());
                    piece_of.push(n);
                }
            }
            for f in base64_forms(v) {
                forms.push(f);
                form_of.push(n);
            }
        }
        Self {
            heads: values.iter().map(|v| v.chars().take(4).collect()).collect(),
            pieces: aho_corasick::AhoCorasick::new(&pieces).expect("pieces"),
            piece_of,
            forms: aho_corasick::AhoCorasick::new(&forms).expect("forms"),
            form_of,
        }
    }

    /// How many values are listed.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }
}

/// Why `line` fails the audit, if it does. A listed credential is looked for in any letter
/// case (the webhook's secret is redacted so, and a redaction that broke must not pass), in
/// the line as written and with its percent-encoding (a URL, a form body) and JSON string
/// escapes (`\u0040`) undone, and in base64 (standard or URL-safe) wherever it stands in
/// what was encoded (an HTTP Basic header's `user:password`, Databento's key).
pub fn finding(line: &str, listed: &Listed) -> Option<String> {
    let decoded = [
        line.to_lowercase(),
        percent_encoding::percent_decode_str(line)
            .decode_utf8_lossy()
            .to_lowercase(),
        json_unescaped(line).to_lowercase(),
    ];
    let found = decoded
        .iter()
        .find_map(|l| listed.pieces.find(l.as_str()))
        .map(|m| listed.piece_of[m.pattern().as_usize()])
        .or_else(|| {
            listed
                .forms
                .find(line)
                .map(|m| listed.form_of[m.pattern().as_usize()])
        });
    if let Some(n) = found {
        // Say which entry without printing it whole.
        return Some(format!("listed credential {}…", listed.heads[n]));
    }
    if line.contains("-----BEGIN") {
        return Some("PEM block".into());
    }
    if has_jwt(line) {
        return Some("JWT".into());
    }
    // In any letter case (`authorization: bearer …`), after the separators the clients'
    // redaction skips (spaces, tabs, `\u0020`, `%20`, `+`, `:`); a value of 8 token
    // characters or more, so that prose ("the bearer of") is not taken for one.
    let lower = line.to_ascii_lowercase();
    if lower.match_indices("bearer").any(|(i, _)| {
        after_separators(&line[i + "bearer".len()..]).is_some_and(|value| {
            value
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
                .count()
                >= 8
        })
    }) {
        return Some("bearer header value".into());
    }
    // An `Authorization: Basic …` header (Databento's key is sent so), in any letter case.
    if lower.match_indices("basic").any(|(i, _)| {
        // Bytes: 24 back may fall inside a character. `to_ascii_lowercase` keeps every
        // byte's place, so `i` is a place in `line` too.
        let before = &lower.as_bytes()[i.saturating_sub(24)..i];
        before.windows(13).any(|w| w == b"authorization")
            && after_separators(&line[i + "basic".len()..])
                .and_then(|value| value.chars().next())
                .is_some_and(|c| c.is_ascii_alphanumeric())
    }) {
        return Some("basic authorization value".into());
    }
    None
}

/// The base64 text `value` leaves wherever it stands in what was encoded: for each of the
/// three places its first byte can take in a 3-byte group, standard and URL-safe, the
/// characters only its own bytes decide (the group it shares with what comes before, and
/// the one it ends part-way, depend on the neighbours). Shorter than 8 characters (a value
/// of a few bytes) is too likely by chance and left out.
fn base64_forms(value: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for lead in 0..3 {
        let mut bytes = vec![0u8; lead];
        bytes.extend_from_slice(value.as_bytes());
        // Whole groups only; past the first when it holds a filler byte.
        let end = bytes.len() / 3 * 4;
        let start = if lead == 0 { 0 } else { 4 };
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let text = engine.encode(&bytes);
            if end >= start + 8 {
                forms.push(text[start..end].to_owned());
            }
        }
    }
    forms
}

/// `line` with JSON's string escapes undone (`\u0040` is `@`, `\/` is `/`), as a log line
/// may carry a value escaped twice; an escape that does not read is kept as it is.
fn json_unescaped(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (ch, used) = match after.chars().next() {
            Some('u') => match after
                .get(1..5)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
            {
                Some(c) => (Some(c), 5),
                None => (None, 0),
            },
            Some(c @ ('/' | '\\' | '"')) => (Some(c), 1),
            _ => (None, 0),
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push('\\'),
        }
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

/// `text` after the separators an authorization scheme and its value may have between them
/// (spaces, tabs, a JSON-escaped space `\u0020`, `%20`, `+`, `:`), at least one; `None`
/// when there is none (the scheme's word runs on: `bearers`).
fn after_separators(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let next = [" ", "\t", "\\u0020", "%20", "+", ":"]
            .iter()
            .find_map(|sep| rest.strip_prefix(sep));
        match next {
            Some(r) => rest = r,
            None => break,
        }
    }
    (rest.len() < text.len()).then_some(rest)
}

/// `eyJ…` (base64url of `{"`) followed by a dot and a second base64url segment.
fn has_jwt(line: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    line.match_indices("eyJ").any(|(i, _)| {
        let rest = &line[i..];
        let head = rest.chars().take_while(|c| b64(*c)).count();
        head >= 10
            && rest[head..].starts_with('.')
            && rest[head + 1..].chars().take_while(|c| b64(*c)).count() >= 10
    })
}

/// The listed credentials: one per line, `#` comments and blank lines ignored.
pub fn parse_secrets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Listed {
        Listed::new(&parse_secrets("# test values\n\ntv-secret-0123456789\n"))
    }

    #[test]
    fn planted_credentials_are_found() {
        let cases = [
            r#"{"message":"x","secret":"tv-secret-0123456789"}"#,
            r#"{"key":"-----BEGIN EC PRIVATE KEY-----\nMHc"}"#,
            r#"{"auth":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJvcmdhbml6YXRpb25zIn0.sig"}"#,
            r#"{"header":"Authorization: Bearer abc123def"}"#,
            r#"{"headers":{"authorization":"Basic ZGIta2V5Og=="}}"#,
            r#"{"message":"sent with AUTHORIZATION: basic ZGIta2V5Og=="}"#,
            r#"{"h":"authorization: bearer 0a1b2c3d4e5f67890abc"}"#,
            r#"{"h":"BEARER 0a1b2c3d4e5f67890abc"}"#,
            // A credential cut at its end or start by a length limit.
            r#"{"error":"xxxx tv-secret-01234"}"#,
            r#"{"error":"…et-0123456789 rest"}"#,
            // In another case, as the webhook's redaction takes it.
            "x TV-SECRET-0123456789 y",
            // After the separators the clients' redaction skips.
            r#"{"h":"authorization: bearer  0a1b2c3d4e5f67890abc"}"#,
            "authorization=Bearer%200a1b2c3d4e5f67890abc",
            r#"{"h":"Bearer\u00200a1b2c3d4e5f67890abc"}"#,
            r#"{"h":"Authorization: Basic  ZGIta2V5Og=="}"#,
            // Base64 of the value, and of `value:` (an HTTP Basic header's value alone).
            "value=dHYtc2VjcmV0LTAxMjM0NTY3ODk6",
            "dHYtc2VjcmV0LTAxMjM0NTY3ODk=",
        ];
        for line in cases {
            assert!(finding(line, &listed()).is_some(), "{line}");
        }
    }

    /// A listed value written in an encoding: percent-encoded, JSON-escaped, or base64 at any
    /// place in what was encoded (an HTTP Basic `user:password`, a document encoded whole),
    /// standard or URL-safe.
    #[test]
    fn encoded_credentials_are_found() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let listed = Listed::new(&parse_secrets("tv-secret@0123456789?\n"));
        let mut cases = vec![
            "url=https://h/webhook/tv-secret%400123456789%3F".to_owned(),
            r#"{"body":"tv-secret\u00400123456789"}"#.to_owned(),
        ];
        for before in ["", "u", "us", "user:", r#"{"passphrase":""#] {
            let whole = format!("{before}tv-secret@0123456789?");
            cases.push(format!("Authorization: Token {}", STANDARD.encode(&whole)));
            cases.push(format!("x={}", URL_SAFE_NO_PAD.encode(&whole)));
        }
        for line in &cases {
            assert!(finding(line, &listed).is_some(), "{line}");
        }
        // What decodes to something else passes.
        for line in [
            "url=https://h/webhook/tv-secret%410123456789",
            &STANDARD.encode("tv-secret-0123"),
        ] {
            assert_eq!(finding(line, &listed), None, "{line}");
        }
    }

    #[test]
    fn json_escapes_are_undone_and_broken_ones_kept() {
        assert_eq!(json_unescaped(r#"a\u0040b\/c\"d\\e"#), r#"a@b/c"d\e"#);
        assert_eq!(json_unescaped(r#"\uZZZZ\x\"#), r#"\uZZZZ\x\"#);
    }

    #[test]
    fn ordinary_lines_pass() {
        let cases = [
            r#"{"level":"INFO","message":"order sent","signal_id":"8d6c2c6e3f0b5a7e9a512b0d7e1f4c11"}"#,
            r#"{"message":"token refreshed","token":"[REDACTED]","header":"Bearer [REDACTED]"}"#,
            r#"{"message":"eyJ alone is not a token"}"#,
            r#"{"message":"basic checks passed","authorization":"[REDACTED]"}"#,
            r#"{"message":"ééééééééééééé basic checks"}"#,
            r#"{"message":"the bearer of the news"}"#,
            r#"{"message":"tv-secret-0 is eleven characters of it"}"#,
        ];
        for line in cases {
            assert_eq!(finding(line, &listed()), None, "{line}");
        }
    }

    #[test]
    fn the_finding_names_the_entry_without_printing_it() {
        let f = finding("x tv-secret-0123456789 y", &listed()).unwrap_or_default();
        assert!(!f.contains("0123456789"), "{f}");
    }
}
