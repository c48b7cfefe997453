//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds `migrations/` at
//! compile time, and a new file there changes no source file, so without this a build would
//! keep migrating to the schema of the last one. The build script sqlx's documentation of
//! `migrate!` recommends ("Triggering Recompilation on Migration Changes",
//! <https://docs.rs/sqlx/latest/sqlx/macro.migrate.html>).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
