//! `rust-version` in Cargo.toml is a true minimum: no package in the
//! resolved graph (x86_64 Linux, dev-dependencies included) declares a newer
//! one. A dependency update that raises the floor fails here, naming the
//! packages, until Cargo.toml says so.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// `"1.85"` -> `[1, 85, 0]`: dotted numbers, missing components are 0.
fn version(v: &str) -> [u64; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part
            .parse()
            .unwrap_or_else(|_| panic!("rust-version `{v}` is not a dotted version number"));
    }
    out
}

#[test]
fn rust_version_covers_every_dependency() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            TARGET,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo metadata failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");

    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("a `packages` list")
        .iter()
        .map(|p| (p["id"].as_str().expect("a package id"), p))
        .collect();
    let deps: HashMap<&str, Vec<&str>> = meta["resolve"]["nodes"]
        .as_array()
        .expect("a `resolve.nodes` list")
        .iter()
        .map(|n| {
            let id = n["id"].as_str().expect("a node id");
            let to: Vec<&str> = n["deps"]
                .as_array()
                .expect("a node's `deps`")
                .iter()
                .filter_map(|d| d["pkg"].as_str())
                .collect();
            (id, to)
        })
        .collect();
    let root = meta["resolve"]["root"]
        .as_str()
        .expect("quizrace is the root package");
    let ours = packages[root]["rust_version"]
        .as_str()
        .expect("Cargo.toml sets rust-version");

    // Only what quizrace's resolve reaches for this target counts.
    let mut reached = HashSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if reached.insert(id) {
            todo.extend(deps[id].iter().copied());
        }
    }
    let mut newer: Vec<String> = reached
        .iter()
        .filter_map(|&id| {
            let p = packages[id];
            let needs = p["rust_version"].as_str()?;
            let name = p["name"].as_str().unwrap_or("?");
            let at = p["version"].as_str().unwrap_or("?");
            (version(needs) > version(ours)).then(|| format!("{name} {at} needs Rust {needs}"))
        })
        .collect();
    newer.sort();
    assert!(
        newer.is_empty(),
        "Cargo.toml says rust-version = \"{ours}\", but the resolved graph needs more:\n  {}\n\
         raise rust-version to the highest of these",
        newer.join("\n  ")
    );
}
