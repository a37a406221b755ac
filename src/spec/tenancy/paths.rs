//! Spec-path globs of a Tenant (pure): `teams/a/**`, `teams/*/pull.yaml`, or a folder
//! `teams/a` (everything under it).
//!
//! Matched segment by segment: `**` stands for any number of folders, every other segment is
//! a `filepath.Match` pattern for one name (the linear matcher of `image::glob`). The
//! segment-level match is a table over (pattern segment, path segment), so a hostile path
//! costs at most patterns × segments comparisons.

use std::path::Path;

use crate::image::glob::glob_match;

/// Whether `pattern` names `file` (relative to the spec root) or a folder holding it.
pub fn path_matches(pattern: &str, file: &Path) -> bool {
    let pattern: Vec<&str> = pattern
        .trim_start_matches("./")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let file: Vec<String> = file
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if pattern.is_empty() {
        return false;
    }
    // reach[j]: the pattern so far can end right before file segment j.
    let mut reach = vec![false; file.len() + 1];
    reach[0] = true;
    for segment in &pattern {
        let mut next = vec![false; file.len() + 1];
        if *segment == "**" {
            let mut any = false;
            for j in 0..=file.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..file.len() {
                if reach[j] && glob_match(segment, &file[j]) {
                    next[j + 1] = true;
                }
            }
        }
        reach = next;
    }
    // A pattern that stops at a folder covers everything under it.
    reach[file.len()] || (pattern.last() != Some(&"**") && reach[..file.len()].iter().any(|r| *r))
}

/// Whether `pattern` is usable: relative, no `..`, not empty.
pub fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if pattern.trim().is_empty() {
        return Err("is empty");
    }
    if pattern.starts_with('/') {
        return Err("is absolute; paths are relative to the spec root");
    }
    if pattern.split('/').any(|s| s == "..") {
        return Err("contains `..`; paths stay inside the spec root");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("teams/a/**", "teams/a/pull.yaml", true),
            ("teams/a/**", "teams/a/x/y/pull.yaml", true),
            ("teams/a/**", "teams/ab/pull.yaml", false),
            ("teams/a", "teams/a/pull.yaml", true),
            ("teams/a/", "teams/a/deep/pull.yaml", true),
            ("teams/a", "teams/ab/pull.yaml", false),
            ("teams/*/pull.yaml", "teams/b/pull.yaml", true),
            ("teams/*/pull.yaml", "teams/b/other.yaml", false),
            ("teams/*.yaml", "teams/a.yaml", true),
            ("teams/*.yaml", "teams/a/b.yaml", false),
            ("**/shared.yaml", "x/y/shared.yaml", true),
            ("**/shared.yaml", "shared.yaml", true),
            ("./teams/a/**", "teams/a/p.yaml", true),
            ("teams/a/**", "teams/b", false),
            ("", "teams/a/p.yaml", false),
        ];
        for (pattern, file, want) in cases {
            assert_eq!(
                path_matches(pattern, Path::new(file)),
                want,
                "{pattern} vs {file}"
            );
        }
    }

    #[test]
    fn hostile_paths_stay_cheap() {
        let deep: String = (0..2000).map(|_| "a/").collect::<String>() + "b.yaml";
        let pattern = "**/a/**/a/**/a/**/a/**/c.yaml";
        // A table of 2,000 × 10 cells; a backtracking matcher would not return.
        assert!(!path_matches(pattern, Path::new(&deep)));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(check_pattern("teams/a/**").is_ok());
        assert!(check_pattern("/etc").is_err());
        assert!(check_pattern("teams/../b").is_err());
        assert!(check_pattern(" ").is_err());
    }
}
