//! What the `tvctl` tests share: `tvctl dev` as a child process on a free port.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Every broker variable (`executor_*::config::VARIABLES`).
pub const BROKER_VARIABLES: [&str; 15] = [
    "OANDA_ACCOUNT",
    "OANDA_SECRET",
    "OANDA_BASE_URL",
    "TRADOVATE_USERNAME",
    "TRADOVATE_PASSWORD",
    "TRADOVATE_APP_ID",
    "TRADOVATE_DEVICE_ID",
    "TRADOVATE_CID",
    "TRADOVATE_SEC",
    "TRADOVATE_APP_VERSION",
    "TRADOVATE_ACCOUNT",
    "TRADOVATE_BASE_URL",
    "COINBASE_API_KEY_NAME",
    "COINBASE_PRIVATE_KEY",
    "COINBASE_BASE_URL",
];

/// A running `tvctl dev`, killed when dropped.
pub struct Stack {
    child: Child,
    pub base: String,
    /// The console lines printed after `listening on`, as they come.
    console: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl Stack {
    /// The console lines printed so far after `listening on` (the last 10,000).
    pub fn console(&self) -> Vec<String> {
        self.console.lock().unwrap().iter().cloned().collect()
    }

    /// The console once `done` holds for it, or as it is after `within`.
    pub fn console_when(
        &self,
        within: std::time::Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let lines = self.console();
            if done(&lines) || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tvctl dev --port 0` on `journal`, with paper brokers and the local secret (the
/// shell's broker, secret and risk settings removed), and waits for its address.
pub fn start(journal: &std::path::Path) -> Stack {
    start_with(journal, &[])
}

/// [`start`] with these environment variables set besides.
pub fn start_with(journal: &std::path::Path, env: &[(&str, &str)]) -> Stack {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tvctl"));
    cmd.envs(env.iter().copied());
    // Any broker variable of this shell would make that broker real.
    for v in BROKER_VARIABLES {
        cmd.env_remove(v);
    }
    // The local executors' risk settings: each broker's own, as a developer's shell may set.
    for broker in ["OANDA", "TRADOVATE", "COINBASE"] {
        cmd.env_remove(format!("{broker}_RISK_CONFIG"));
        cmd.env_remove(format!("{broker}_RISK_CONFIG_FILE"));
    }
    let mut child = cmd
        .args(["dev", "--port", "0", "--journal"])
        .arg(journal)
        .env_remove("WEBHOOK_SECRET")
        .env_remove("RISK_CONFIG")
        .env_remove("RISK_CONFIG_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("tvctl dev exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    // Keep draining stdout so the process never blocks on a full pipe; the last lines are
    // kept for the tests that read the console (a bounded number: load tests print many).
    let console = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let kept = console.clone();
    std::thread::spawn(move || {
        for line in lines.by_ref() {
            let Ok(line) = line else { continue };
            let mut kept = kept.lock().unwrap();
            if kept.len() == 10_000 {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    });
    Stack {
        child,
        base,
        console,
    }
}
