//! The tree keeps the shape a newcomer can read: small product files, a
//! bench in proportion to what it measures, and a short README whose docs
//! carry no history (that lives in commit messages).

use enea_buffer_platform_checks::{files_under, read, repo_root, without_tests};

/// The crates that ship, as the code a reviewer reads.
const PRODUCT: &[&str] = &["aidl", "common", "service", "client-lib", "client-ffi"];
/// Lines of code a product file may have, its `#[cfg(test)]` items not counted.
const MAX_FILE_LINES: usize = 500;
/// The bench's lines as a share of the product's, at most.
const MAX_BENCH_SHARE: f64 = 0.25;
/// README's length, at most.
const MAX_README_LINES: usize = 250;

/// Every source file under `dir` (Rust, C, C++), as repository paths.
fn sources(dir: &str) -> Vec<String> {
    files_under(&repo_root().join(dir))
        .into_iter()
        .filter(|rel| {
            [".rs", ".h", ".hpp", ".c", ".cpp"]
                .iter()
                .any(|e| rel.ends_with(e))
        })
        .map(|rel| format!("{dir}/{rel}"))
        .collect()
}

fn lines(rel: &str) -> usize {
    read(rel).lines().count()
}

#[test]
fn no_product_file_is_over_500_lines_of_code() {
    let mut too_long = Vec::new();
    for rel in PRODUCT.iter().flat_map(|d| sources(d)) {
        let n = without_tests(&read(&rel)).lines().count();
        if n > MAX_FILE_LINES {
            too_long.push(format!("{rel}: {n} lines"));
        }
    }
    assert!(
        too_long.is_empty(),
        "product files over {MAX_FILE_LINES} lines of code (#[cfg(test)] items do not \
         count); split them by job: {too_long:?}"
    );
}

#[test]
fn the_bench_is_at_most_a_quarter_of_the_product() {
    let product: usize = PRODUCT
        .iter()
        .flat_map(|d| sources(d))
        .map(|f| lines(&f))
        .sum();
    let bench: usize = sources("bench").iter().map(|f| lines(f)).sum();
    assert!(product > 0 && bench > 0, "no sources found");
    let share = bench as f64 / product as f64;
    assert!(
        share <= MAX_BENCH_SHARE,
        "bench/ has {bench} lines, {:.1} % of the product's {product}: at most {:.0} %",
        share * 100.0,
        MAX_BENCH_SHARE * 100.0
    );
}

#[test]
fn readme_is_short_and_keeps_its_two_commands() {
    let readme = read("README.md");
    let n = readme.lines().count();
    assert!(
        n <= MAX_README_LINES,
        "README.md has {n} lines, at most {MAX_README_LINES}: move depth to docs/"
    );
    // .ci/run runs these two lines; the quick start is where users find them.
    for tail in ["  # test it", "  # check the Android build"] {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with("    $ ") && l.ends_with(tail)),
            "README.md has no indented '$ …{tail}' command line"
        );
    }
}

#[test]
fn guides_carry_no_history() {
    // A commit id: 7 to 40 hex digits with at least one letter and one digit,
    // not part of a longer word or a 0x literal. An issue or PR number.
    let commit =
        regex::Regex::new(r"(?:^|[^0-9A-Za-z_x/-])([0-9a-f]{7,40})(?:$|[^0-9A-Za-z_])").unwrap();
    let issue =
        regex::Regex::new(r"(?i)\b(?:issue|pr|turn)\s*#?\d+|(?:^|[\s(])#\d{1,5}\b").unwrap();
    // Every guide of ours: README, docs/ and the READMEs beside the code;
    // not the vendored crates'.
    let docs: Vec<String> = files_under(&repo_root())
        .into_iter()
        .filter(|r| r.ends_with(".md") && !r.starts_with("third_party/rsbinder/"))
        .collect();
    assert!(
        docs.iter().any(|d| d.starts_with("docs/")) && docs.contains(&"README.md".to_owned()),
        "README.md or docs/ not found among {docs:?}"
    );
    let mut found = Vec::new();
    for rel in &docs {
        for (i, line) in read(rel).lines().enumerate() {
            let ids = commit
                .captures_iter(line)
                .map(|c| c[1].to_owned())
                .filter(|id| {
                    id.chars().any(|c| c.is_ascii_digit())
                        && id.chars().any(|c| c.is_ascii_alphabetic())
                });
            for id in ids {
                found.push(format!("{rel}:{}: commit id {id}", i + 1));
            }
            if let Some(m) = issue.find(line) {
                found.push(format!("{rel}:{}: '{}'", i + 1, m.as_str().trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "history belongs in commit messages, not in the guides: {found:?}"
    );
}
