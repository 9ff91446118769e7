//! (tests) No source file is over 600 lines before its tests (issue 16), checked on every
//! `.rs` file under the workspace's `crates/*/src` (the accounts test kit aside): a file is
//! counted up to its first `#[cfg(test)]` line. The files not split yet are listed, and the
//! list only shrinks: a listed file that is no longer over fails the check too.

use std::path::{Path, PathBuf};

/// The most lines a source file may have before its first `#[cfg(test)]` line.
const MAX_LINES: usize = 600;

/// Files still over [`MAX_LINES`], by path from the workspace root, until they are split.
const NOT_YET_SPLIT: &[&str] = &[];

fn rust_files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path == skip {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, skip, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines before the first `#[cfg(test)]` line (every line when there is none).
fn lines_before_tests(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.trim_start().starts_with("#[cfg(test)]"))
        .count()
}

/// What the check finds in the workspace at `root`, one sentence per file: a file over the
/// limit and not listed in `not_yet_split`, or a listed file that is no longer over it.
fn oversized(root: &Path, not_yet_split: &[&str]) -> Vec<String> {
    let testkit = root
        .join("crates")
        .join("accounts")
        .join("src")
        .join("testkit");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("read the crates directory") {
        let src = entry.expect("a directory entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &testkit, &mut files);
        }
    }
    let mut found = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(root)
            .expect("a file under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).expect("read a source file");
        let lines = lines_before_tests(&text);
        let listed = not_yet_split.contains(&name.as_str());
        if lines > MAX_LINES && !listed {
            found.push(format!(
                "{name}: {lines} lines before its tests (at most {MAX_LINES}); split it along \
                 its seams into a directory module"
            ));
        } else if lines <= MAX_LINES && listed {
            found.push(format!(
                "{name}: {lines} lines, no longer over {MAX_LINES}; take it off NOT_YET_SPLIT"
            ));
        }
    }
    for listed in not_yet_split {
        if !root.join(listed).is_file() {
            found.push(format!(
                "{listed}: listed in NOT_YET_SPLIT but not there; take it off"
            ));
        }
    }
    found.sort();
    found
}

#[test]
fn no_source_file_is_over_600_lines_before_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root, two levels above crates/server");
    let found = oversized(root, NOT_YET_SPLIT);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_size_scan_sees_a_long_file_and_a_listed_file_that_shrank() {
    // The check above must be able to fail: a scratch workspace with files of each kind.
    let root = std::env::temp_dir().join(format!("gatehouse-size-{}", std::process::id()));
    let src = root.join("crates").join("a").join("src");
    let testkit = root
        .join("crates")
        .join("accounts")
        .join("src")
        .join("testkit");
    let tests = root.join("crates").join("a").join("tests");
    for dir in [&src, &testkit, &tests] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let lines = |n: usize| "x\n".repeat(n);
    // Over: 601 lines of code.
    std::fs::write(src.join("long.rs"), lines(601)).unwrap();
    // Not over: 600 lines of code, then tests.
    let tested = format!(
        "{}#[cfg(test)]\nmod tests {{\n{}}}\n",
        lines(600),
        lines(400)
    );
    std::fs::write(src.join("tested.rs"), tested).unwrap();
    // Listed and still over: fine until it is split.
    std::fs::write(src.join("listed.rs"), lines(700)).unwrap();
    // Listed but no longer over: the list must shrink.
    std::fs::write(src.join("shrank.rs"), lines(10)).unwrap();
    // Not counted: integration tests and the accounts test kit.
    std::fs::write(tests.join("suite.rs"), lines(900)).unwrap();
    std::fs::write(testkit.join("contract.rs"), lines(900)).unwrap();
    let listed = [
        "crates/a/src/listed.rs",
        "crates/a/src/shrank.rs",
        "crates/a/src/gone.rs",
    ];
    let found = oversized(&root, &listed);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("crates/a/src/gone.rs: "), "{found:?}");
    assert!(
        found[1].starts_with("crates/a/src/long.rs: 601 lines"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("crates/a/src/shrank.rs: 10 lines"),
        "{found:?}"
    );
}
