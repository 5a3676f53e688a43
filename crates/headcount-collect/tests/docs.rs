//! docs/usage/collected-data.md is generated from the field table; this fails when they differ.
#![allow(clippy::unwrap_used)]

mod common;

use common::{check_golden, repo};

#[test]
fn collected_data_page_matches_the_field_table() {
    let page = headcount_collect::collected_data_markdown();
    assert!(page.contains("UPDATE_GOLDEN=1 cargo test -p headcount-collect --test docs"));
    check_golden(&repo().join("docs/usage/collected-data.md"), &page).unwrap();
}

#[test]
fn every_collector_is_on_the_page() {
    let page = std::fs::read_to_string(repo().join("docs/usage/collected-data.md")).unwrap();
    for name in headcount_collect::collector_names() {
        assert!(page.contains(&format!("| `{name}` |")), "{name}");
    }
}
