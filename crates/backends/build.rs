//! Compiles the one C file of the crate: the two printf-style callbacks the sasldb mechanism
//! hands to Cyrus's sasldb code (see src/sasldb/log_callbacks.c for why they are C).

fn main() {
    println!("cargo::rerun-if-changed=src/sasldb/log_callbacks.c");
    cc::Build::new()
        .file("src/sasldb/log_callbacks.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("sasldb_log_callbacks");
}
