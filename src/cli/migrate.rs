//! `udap-server migrate`: create or upgrade the schema and exit (issue 9). `serve` does the same at
//! start; this lets an operator migrate once, before rolling out a new release to every instance.

use serde_json::json;

use super::{emit, StoreTarget};
use crate::store::{Store, StoreLocation};

pub fn run(target: &StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let location = target.location()?;
    let (backend, place) = match &location {
        StoreLocation::Embedded(path) => ("redb", path.display().to_string()),
        StoreLocation::Postgres(opts) => ("postgres", opts.url.to_string()),
    };
    let m = Store::migrate(&location)?;
    emit(
        json_out,
        &json!({ "backend": backend, "database": place, "from_version": m.from, "schema_version": m.to }),
        || {
            if m.from == m.to {
                format!(
                    "{backend} database {place} is at schema version {}; nothing to do",
                    m.to
                )
            } else {
                format!(
                    "{backend} database {place} migrated from schema version {} to {}",
                    m.from, m.to
                )
            }
        },
    )
}
