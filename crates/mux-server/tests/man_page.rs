//! The man page documents every command-line option the daemon accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use clap::CommandFactory;
use mux_server::cli::Cli;

#[test]
fn every_flag_is_in_the_man_page() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../man/saslauthd.8")).unwrap();
    let mut missing = Vec::new();
    for arg in Cli::command().get_arguments() {
        if let Some(short) = arg.get_short() {
            let (bold, with_value) = (format!(".B \\-{short}"), format!(".BI \\-{short} "));
            if !page.contains(&bold) && !page.contains(&with_value) {
                missing.push(format!("-{short}"));
            }
        }
        if let Some(long) = arg.get_long()
            && !page.contains(&format!("\\-\\-{}", long.replace('-', "\\-")))
        {
            missing.push(format!("--{long}"));
        }
    }
    assert!(missing.is_empty(), "not in man/saslauthd.8: {missing:?}");
}
