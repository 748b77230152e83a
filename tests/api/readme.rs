//! README.md's images and relative links point at files of the repository. A file that
//! exists only on the machine that wrote the README (an ignored screenshot, say) shows as a
//! broken image to everyone else, so "tracked by git" is the test, not "exists on disk".

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Link and image targets of a Markdown text, outside fenced code blocks and inline code:
/// `[text](target)`, `![alt](target "title")` and `<target>` autolinks.
fn targets(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Inline code spans are every other piece between backticks.
        for (i, text) in line.split('`').enumerate() {
            if i % 2 == 1 {
                continue;
            }
            let mut rest = text;
            while let Some(at) = rest.find("](") {
                let after = &rest[at + 2..];
                let Some(end) = after.find(')') else { break };
                let inner = after[..end].trim();
                // An optional title follows the address after a space.
                let target = inner.split_whitespace().next().unwrap_or("");
                found.push(target.trim_matches(['<', '>']).to_owned());
                rest = &after[end..];
            }
            let mut rest = text;
            while let Some(at) = rest.find('<') {
                let after = &rest[at + 1..];
                let Some(end) = after.find('>') else { break };
                let inner = &after[..end];
                if inner.contains("://") && !inner.contains(char::is_whitespace) {
                    found.push(inner.to_owned());
                }
                rest = &after[end..];
            }
        }
    }
    found
}

/// A target that names a file of this repository or of `../shared`: not a fragment of the
/// same page and not an absolute URL. Returns the path part (fragment and query removed).
fn local_path(target: &str) -> Option<&str> {
    if target.is_empty() || target.starts_with('#') {
        return None;
    }
    let scheme = target.split_once(':').map(|(s, _)| s);
    if scheme.is_some_and(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    }) {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or(target);
    Some(path)
}

/// `a/./b/../c` as `a/c`, keeping leading `..` (a path out of the repository).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if out
                    .components()
                    .next_back()
                    .is_some_and(|c| c != Component::ParentDir) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The broken targets among `targets`: relative paths neither tracked (`tracked`, paths
/// from the repository root) nor, when they leave the repository (`../shared/…`), present
/// on disk under `root`.
fn broken(targets: &[String], tracked: &BTreeSet<String>, root: &Path) -> Vec<String> {
    targets
        .iter()
        .filter(|target| {
            let Some(path) = local_path(target) else {
                return false;
            };
            let path = normalise(Path::new(path));
            if path.starts_with("..") {
                return !root.join(&path).exists();
            }
            let path = path.to_string_lossy().trim_end_matches('/').to_owned();
            // A directory counts when git tracks a file under it.
            !tracked.contains(&path) && !tracked.iter().any(|f| f.starts_with(&format!("{path}/")))
        })
        .cloned()
        .collect()
}

fn tracked_files(root: &Path) -> BTreeSet<String> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git ls-files (the README test needs git and a checkout)");
    assert!(
        output.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

#[test]
fn every_image_and_relative_link_in_the_readme_is_a_tracked_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let found = targets(&readme);
    assert!(
        found.iter().any(|t| t.ends_with(".png")),
        "the README's screenshots were not found by the link reader: {found:?}"
    );
    let broken = broken(&found, &tracked_files(root), root);
    assert!(
        broken.is_empty(),
        "README.md points at files git does not track (git add them, or fix .gitignore): {broken:?}"
    );
}

#[test]
fn the_link_reader_finds_broken_targets_and_skips_urls_anchors_and_code() {
    let markdown = "\
![shot](docs/screenshots/a.png \"title\") and [api](docs/API.md#roi) [top](#running)
[site](https://example.com/x.png) <http://127.0.0.1:8080/admin> `[no](code.md)`
[shared](../shared/DESIGN.md) [gone](./docs/../docs/missing.png) [dir](src/)
```
![no](in-a-fence.png)
```
";
    let found = targets(markdown);
    assert_eq!(
        found,
        [
            "docs/screenshots/a.png",
            "docs/API.md#roi",
            "#running",
            "https://example.com/x.png",
            "http://127.0.0.1:8080/admin",
            "../shared/DESIGN.md",
            "./docs/../docs/missing.png",
            "src/",
        ]
    );
    let tracked: BTreeSet<String> = ["docs/screenshots/a.png", "docs/API.md", "src/lib.rs"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let root = tempfile::tempdir().expect("temp dir");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(root.path().join("shared")).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    assert_eq!(
        broken(&found, &tracked, &repo),
        ["../shared/DESIGN.md", "./docs/../docs/missing.png"],
        "../shared is checked on disk, the rest against git"
    );
    std::fs::write(root.path().join("shared/DESIGN.md"), "x").unwrap();
    assert_eq!(
        broken(&found, &tracked, &repo),
        ["./docs/../docs/missing.png"]
    );
}
