//! The layering rule ARCHITECTURE.md states for the surfaces, checked on the sources: the
//! pages, the dialects and the shared HTTP modules never import the native API's handlers.
//! What more than one surface needs (the problem document, uploads, credential parsing and
//! the self-service check) lives in the shared modules beside them. The error mapping is
//! checked here too: one rendering of `accounts::Failure` per surface, small.

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

/// The surfaces' error mapping: every top-level `impl From<_> for <Surface>Error` block and
/// the shared `status_of`, as (lines in all, the blocks that convert a use-case error enum
/// themselves instead of going through `accounts::Failure`).
fn error_mapping(src: &Path) -> (usize, Vec<String>) {
    let mut files = Vec::new();
    rust_files(&src.join("http"), &mut files);
    let (mut lines, mut own_mappings) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let mut block: Option<usize> = None;
        for (n, line) in text.lines().enumerate() {
            if let Some(start) = block {
                if line == "}" {
                    lines += n - start + 1;
                    block = None;
                }
                continue;
            }
            let header = line.strip_prefix("impl From<").and_then(|rest| {
                let (from, to) = rest.split_once("> for ")?;
                let to = to.trim_end_matches(" {").trim();
                (to.ends_with("Error") && !to.contains(' ')).then_some(from)
            });
            if let Some(from) = header {
                block = Some(n);
                if from != "Failure" && !from.ends_with("Rejection") {
                    own_mappings.push(format!("{}:{}: {line}", file.display(), n + 1));
                }
            } else if line.starts_with("pub(crate) fn status_of(") {
                block = Some(n);
            }
        }
    }
    (lines, own_mappings)
}

/// ARCHITECTURE.md: the core classifies every use-case error into a `Failure` once; each
/// surface renders kinds once, plus its quirks, and never matches a use case's error enum.
#[test]
fn surfaces_render_failures_in_at_most_250_lines_and_never_map_use_case_errors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (lines, own) = error_mapping(&src);
    assert!(
        own.is_empty(),
        "a surface converts a use-case error itself; implement `From<Failure>` once and list \
         the error in `renders_failures!` instead:\n{}",
        own.join("\n")
    );
    assert!(lines > 0, "the scan found no error mapping at all");
    assert!(
        lines <= 250,
        "the surfaces' error mapping is {lines} lines (at most 250)"
    );
}

#[test]
fn the_error_mapping_scan_sees_a_surface_mapping_a_use_case_error() {
    let root = std::env::temp_dir().join(format!("gatehouse-mapping-{}", std::process::id()));
    let dialects = root.join("http").join("dialects");
    std::fs::create_dir_all(&dialects).unwrap();
    std::fs::write(
        dialects.join("d.rs"),
        "impl From<Failure> for DError {\n    fn from(f: Failure) -> Self {\n        x\n    }\n}\n\
         impl From<TokenError> for DError {\n    fn from(e: TokenError) -> Self {\n        y\n    }\n}\n\
         impl From<JsonRejection> for DError {\n}\n",
    )
    .unwrap();
    let (lines, own) = error_mapping(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(lines, 12);
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(own[0].contains("TokenError"), "{own:?}");
}

/// Lines of code (comments left out) under `http/` that call an authorisation helper.
fn authorisation_calls(src: &Path) -> Vec<String> {
    const HELPERS: [&str; 6] = [
        ".authorize(",
        ".authorize_user(",
        "authorize_user_change(",
        "require_own(",
        "authorize_own(",
        ".grants(",
    ];
    let mut files = Vec::new();
    rust_files(&src.join("http"), &mut files);
    let this_check = src.join("http").join("layering.rs");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| **f != this_check) {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if HELPERS.iter().any(|h| code.contains(h)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// ARCHITECTURE.md: every use case takes the caller and checks its own need. The core's
/// checks are crate-private, so a handler cannot call them; this also catches a wrapper
/// written around some other public call.
#[test]
fn no_handler_calls_an_authorisation_helper() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = authorisation_calls(&src);
    assert!(
        found.is_empty(),
        "pass the caller to the core use case, which checks its need itself:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_authorisation_scan_sees_a_handler_checking_access() {
    let root = std::env::temp_dir().join(format!("gatehouse-authz-{}", std::process::id()));
    let native = root.join("http").join("native");
    std::fs::create_dir_all(&native).unwrap();
    std::fs::write(
        native.join("h.rs"),
        "// state.accounts.authorize(&actor) in a comment is fine\n\
         async fn h() { require_own(&state, &me, NEED).await?; }\n",
    )
    .unwrap();
    let found = authorisation_calls(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("h.rs:2"), "{found:?}");
}

/// Lines of code under `http/` outside `auth.rs` that authenticate a secret themselves.
fn own_credential_checks(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src.join("http"), &mut files);
    let allowed = [
        src.join("http").join("auth.rs"),
        src.join("http").join("layering.rs"),
    ];
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !allowed.contains(f)) {
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(".authenticate(") || code.contains("record_user(") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// ARCHITECTURE.md: one credential extractor. Every surface names where it finds the secret
/// (`http::auth::SecretSource`) and takes the caller from `Credential` or `authenticated`,
/// which check it with the core and note the user for the access log, in one place.
#[test]
fn every_surface_authenticates_through_the_one_credential_check() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = own_credential_checks(&src);
    assert!(
        found.is_empty(),
        "use http::auth::Credential or http::auth::authenticated:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_credential_scan_sees_a_surface_checking_a_secret_itself() {
    let root = std::env::temp_dir().join(format!("gatehouse-cred-{}", std::process::id()));
    let dialect = root.join("http").join("dialects");
    std::fs::create_dir_all(&dialect).unwrap();
    std::fs::write(
        root.join("http").join("auth.rs"),
        "state.accounts.authenticate(s)\n",
    )
    .unwrap();
    std::fs::write(
        dialect.join("d.rs"),
        "let p = state.accounts.authenticate(key).await?;\n",
    )
    .unwrap();
    let found = own_credential_checks(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("d.rs:1"), "{found:?}");
}
