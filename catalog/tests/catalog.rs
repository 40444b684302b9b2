//! The catalog holds every extension of the `extensions/` folder: a crate missing from the list
//! would be dropped by the linker, its registration with it.

use std::collections::BTreeSet;
use std::path::Path;

/// The folders of `extensions/` that hold a crate.
fn folders() -> BTreeSet<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("catalog is inside the workspace");
    std::fs::read_dir(workspace.join("extensions"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn registry_equals_the_extensions_folder() {
    let folders = folders();
    let linked: BTreeSet<String> = quarry_catalog::LINKED.iter().map(|e| e.name.to_owned()).collect();
    assert_eq!(linked, folders, "every folder of extensions/ must be in the catalog");
    // Using the list kept every crate, and so every `inventory` registration.
    let registry = quarry_core::registry().expect("no duplicate registrations");
    let registered: BTreeSet<String> = registry.names().map(str::to_owned).collect();
    assert_eq!(registered, folders, "every folder of extensions/ must be linked into the binary");
    for ext in registry.iter() {
        assert_eq!(ext.crate_name, format!("quarry-ext-{}", ext.name.replace('_', "-")));
    }
}

/// A project extension and a crate are the same thing: every catalog folder read at run time by
/// `quarry_codegen::runtime` (as a project's folder is) gives the value its crate registers, field
/// for field, so the code `emit` writes and the value `runtime` builds cannot drift apart.
#[test]
fn each_catalog_folder_read_at_run_time_equals_its_registration() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for ext in quarry_catalog::LINKED {
        let dir = workspace.join("extensions").join(ext.name);
        let shown = format!("extensions/{}", ext.name);
        let loaded = quarry_codegen::runtime::load(&dir, &shown, workspace, ext.crate_name)
            .unwrap_or_else(|d| panic!("{shown}: {d:?}"));
        assert_eq!(format!("{loaded:#?}"), format!("{ext:#?}"), "{shown}");
    }
}
