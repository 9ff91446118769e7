//! The layering rule ARCHITECTURE.md states for the surfaces, checked on the sources: the
//! pages, the dialects and the shared HTTP modules never import the native API's handlers.
//! What more than one surface needs (the problem document, uploads, credential parsing and
//! the self-service check) lives in the shared modules beside them.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every line of code (comments left out) outside `http/native/` that names the native module,
/// as `file:line: text`.
fn imports_of_native(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let native_dir = src.join("http").join("native");
    let router = src.join("http").join("mod.rs");
    // This file names `native` in its patterns and scratch sources.
    let this_check = src.join("http").join("layering.rs");
    let mut found = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.starts_with(&native_dir) && **f != this_check)
    {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !code.contains("native::") {
                continue;
            }
            // The router mounts the native API; that is the one use allowed.
            if *file == router && code.contains("native::routes(") {
                continue;
            }
            found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn pages_dialects_and_shared_modules_never_import_the_native_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = imports_of_native(&src);
    assert!(
        found.is_empty(),
        "outside http/native only the router may name `native` (to mount its routes); move \
         what is shared into http/problem.rs, http/upload.rs or http/auth.rs instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_an_import_of_native() {
    // The check above must be able to fail: a scratch tree with one page importing native.
    let root = std::env::temp_dir().join(format!("gatehouse-layering-{}", std::process::id()));
    let ui = root.join("http").join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    std::fs::create_dir_all(root.join("http").join("native")).unwrap();
    std::fs::write(ui.join("page.rs"), "use crate::http::native::ApiError;\n").unwrap();
    std::fs::write(
        root.join("http").join("mod.rs"),
        "// native:: in a comment is fine\nfn r() { native::routes(&s); }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("http").join("native").join("mod.rs"),
        "pub use crate::http::native::x;\n",
    )
    .unwrap();
    let found = imports_of_native(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("page.rs:1"), "{found:?}");
}
