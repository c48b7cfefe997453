//! One list of broker settings: the variables each executor's settings type reads
//! (`executor_*::config::VARIABLES`) are the rows of the README's broker table and the list the
//! CDK stack's test checks every deployed function's environment against
//! (`cdk/test/broker-settings.json`, read by `cdk/test/settings.test.ts`).
//!
//! A change to a variable fails here until both files follow; `UPDATE_SETTINGS_DOCS=1 cargo
//! test -p local-stack --test settings_doc` rewrites them.
#![allow(clippy::unwrap_used)]

use shared::config::Variable;
use std::path::PathBuf;

const BEGIN: &str = "<!-- broker-settings:begin: generated from executor_*::config::VARIABLES by local-stack/tests/settings_doc.rs -->";
const END: &str = "<!-- broker-settings:end -->";

fn brokers() -> [(&'static str, Vec<Variable>); 3] {
    [
        (
            "executor-oanda, local stack",
            executor_oanda::config::VARIABLES.to_vec(),
        ),
        (
            "executor-tradovate, token-refresher, local stack",
            executor_tradovate::config::VARIABLES.to_vec(),
        ),
        (
            "executor-coinbase, local stack",
            executor_coinbase::config::VARIABLES.to_vec(),
        ),
    ]
}

fn row(who: &str, v: &Variable) -> String {
    let name = if v.secret {
        format!(
            "`{0}` (in AWS `{0}_PARAM`: the name of an SSM SecureString)",
            v.name
        )
    } else {
        format!("`{}`", v.name)
    };
    let default = match (v.default, v.required) {
        (Some(d), _) => format!("`{d}`"),
        (None, true) => "required".to_owned(),
        (None, false) => "unset".to_owned(),
    };
    format!("| {who} | {name}: {} | {default} |", v.about)
}

fn table() -> String {
    let mut out = vec![
        BEGIN.to_owned(),
        "| Used by | Setting | Default |".to_owned(),
        "|---|---|---|".to_owned(),
    ];
    for (who, vars) in brokers() {
        out.extend(vars.iter().map(|v| row(who, v)));
    }
    for v in executor_tradovate::config::DEPLOYED {
        out.push(row("executor-tradovate, token-refresher", v));
    }
    out.push(END.to_owned());
    out.join("\n")
}

fn variable_json(v: &Variable) -> serde_json::Value {
    serde_json::json!({
        "name": v.name,
        "secret": v.secret,
        "required": v.required,
        "default": v.default,
    })
}

fn deployed_json() -> String {
    let tradovate: Vec<_> = executor_tradovate::config::VARIABLES
        .iter()
        .chain(executor_tradovate::config::DEPLOYED)
        .map(variable_json)
        .collect();
    let json = serde_json::json!({
        "executor-oanda": executor_oanda::config::VARIABLES.iter().map(variable_json).collect::<Vec<_>>(),
        "executor-tradovate": tradovate,
        "token-refresher": tradovate,
        "executor-coinbase": executor_coinbase::config::VARIABLES.iter().map(variable_json).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&json).unwrap() + "\n"
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn update() -> bool {
    std::env::var("UPDATE_SETTINGS_DOCS").is_ok_and(|v| v == "1")
}

#[test]
fn readme_broker_table_is_the_settings_types_list() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md lacks the broker settings markers {BEGIN} … {END}");
    };
    let current = &readme[b..e + END.len()];
    let want = table();
    if current != want {
        if update() {
            let next = format!("{}{want}{}", &readme[..b], &readme[e + END.len()..]);
            std::fs::write(&path, next).unwrap();
        } else {
            panic!(
                "README.md's broker settings table is stale; run UPDATE_SETTINGS_DOCS=1 cargo test \
                 -p local-stack --test settings_doc, or paste:\n{want}"
            );
        }
    }
}

#[test]
fn cdk_checks_the_same_list() {
    let path = root().join("cdk/test/broker-settings.json");
    let want = deployed_json();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != want {
        if update() {
            std::fs::write(&path, want).unwrap();
        } else {
            panic!(
                "{} is stale; run UPDATE_SETTINGS_DOCS=1 cargo test -p local-stack --test \
                 settings_doc",
                path.display()
            );
        }
    }
}

#[test]
fn every_variable_is_named_once_and_by_its_broker() {
    for (prefix, vars) in [
        ("OANDA_", executor_oanda::config::VARIABLES),
        ("TRADOVATE_", executor_tradovate::config::VARIABLES),
        ("COINBASE_", executor_coinbase::config::VARIABLES),
    ] {
        let mut names: Vec<_> = vars.iter().map(|v| v.name).collect();
        assert!(names.iter().all(|n| n.starts_with(prefix)), "{names:?}");
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            vars.len(),
            "a variable listed twice: {names:?}"
        );
        // A credential has no default: a default secret would trade on someone's account.
        assert!(vars.iter().all(|v| !(v.secret && v.default.is_some())));
    }
}
