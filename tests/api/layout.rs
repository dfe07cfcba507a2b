//! The layout rules of CONTRIBUTING.md, checked on the source itself:
//!
//! - no file over [`MAX_FILE_LINES`] lines, no function over
//!   [`MAX_FN_LINES`] (from its `fn` line to its closing brace), in `src/`,
//!   `tests/`, `benches/` and `fuzz/`;
//! - no module imports one that imports it back: among the modules of one
//!   folder (and among the top-level ones), the arrows written as
//!   `crate::…` and `super::…` paths form no cycle;
//! - `src/detect/` names nothing of the crate outside itself: the detector
//!   stays pure, fed by the monitor and tested on its own;
//! - `src/incident/` names nothing of the crate outside itself but the
//!   detector's vocabulary: the incident pass is pure too.
//!
//! Comments and the insides of string and character literals are blanked
//! before anything is counted or read, so a brace or a path in a message
//! or a doc comment counts for nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 120;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Build output of the fuzz crate.
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The source with comments and the insides of string and character
/// literals replaced by spaces; line breaks stay where they were.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let at = |i: usize, k: usize| c.get(i + k).copied();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && at(i, 1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && at(i, 1) == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i, 1) == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i, 1) == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&c, i) {
            // r"…", r#"…"#, br"…": no escapes, ends at a quote and as many #.
            let open = c[i..].iter().position(|&ch| ch == '"').unwrap_or(0) + 1;
            out.extend(std::iter::repeat_n(' ', open));
            i += open;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| at(i, k) == Some('#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' && (at(i, 1) == Some('\\') || at(i, 2) == Some('\'')) {
            // A character literal ('x', '\n', '\u{1F600}'); 'a alone is a lifetime.
            out.push('\'');
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// How many `#` follow the `r` (or `br`) that opens a raw string at `i`.
fn raw_string_start(c: &[char], i: usize) -> Option<usize> {
    let word_start = i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    let j = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    if !word_start {
        return None;
    }
    let hashes = c[j..].iter().take_while(|&&ch| ch == '#').count();
    (c.get(j + hashes) == Some(&'"')).then_some(hashes)
}

/// Each function in `code`: its name, first line (1-based) and length in
/// lines, from the line of `fn` to the line of its closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let bytes = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("fn ") {
        let at = from + found;
        from = at + 3;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
            .collect();
        if name.is_empty() {
            continue; // `fn(` as a type
        }
        // The body opens at the first `{` before any `;` (a declaration
        // without a body ends at its `;`).
        let Some(open) = code[at..].find(['{', ';']).map(|k| at + k) else {
            continue;
        };
        if bytes[open] == b';' {
            continue;
        }
        let mut depth = 0usize;
        let mut close = open;
        for (k, b) in bytes[open..].iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let first = line_of(at);
        out.push((name, first, line_of(close) - first + 1));
    }
    out
}

#[test]
fn no_file_or_function_is_longer_than_the_limits() {
    let mut too_long = Vec::new();
    for dir in ["src", "tests", "benches", "fuzz"] {
        for path in rust_files(&root().join(dir)) {
            let src = std::fs::read_to_string(&path).unwrap();
            let shown = path.strip_prefix(root()).unwrap().display().to_string();
            let lines = src.lines().count();
            if lines > MAX_FILE_LINES {
                too_long.push(format!("{shown}: {lines} lines (at most {MAX_FILE_LINES})"));
            }
            for (name, line, length) in functions(&code_only(&src)) {
                if length > MAX_FN_LINES {
                    too_long.push(format!(
                        "{shown}:{line}: fn {name} is {length} lines (at most {MAX_FN_LINES})"
                    ));
                }
            }
        }
    }
    assert!(too_long.is_empty(), "too long:\n{}", too_long.join("\n"));
}

/// A module's path in the crate: `src/lib.rs` is `[]`, `src/a/mod.rs` and
/// `src/a.rs` are `[a]`, `src/a/b.rs` is `[a, b]`. `None` for the binary.
fn module_of(src_dir: &Path, path: &Path) -> Option<Vec<String>> {
    let rel = path.strip_prefix(src_dir).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None,
        Some("lib") if parts.len() == 1 => parts.clear(),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

/// Every path written after `crate::` or `super::` in `code`, with use
/// trees (`crate::a::{b, c::d}`) expanded, as absolute paths from the
/// crate root; `own` is the module the code belongs to.
fn paths_named(code: &str, own: &[String]) -> Vec<Vec<String>> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let word_start =
            i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_' || c[i - 1] == ':');
        let base = if !word_start {
            None
        } else if starts_with(&c, i, "crate::") {
            i += "crate::".len();
            Some(Vec::new())
        } else if starts_with(&c, i, "super::") {
            let mut base = own.to_vec();
            while starts_with(&c, i, "super::") {
                base.pop();
                i += "super::".len();
            }
            Some(base)
        } else {
            None
        };
        match base {
            Some(base) => i = use_tree(&c, i, base, &mut out),
            None => i += 1,
        }
    }
    out
}

fn starts_with(c: &[char], i: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(k, w)| c.get(i + k) == Some(&w))
}

/// Reads one use tree at `i` under `prefix` into `out`; returns where it ends.
fn use_tree(
    c: &[char],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let skip_space = |mut i: usize| {
        while c.get(i).is_some_and(|ch| ch.is_whitespace()) {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if c.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_space(i);
                match c.get(i) {
                    Some('}') => return i + 1,
                    Some(',') => i += 1,
                    Some(_) => i = use_tree(c, i, prefix.clone(), out),
                    None => return i,
                }
            }
        }
        let word: String = c[i..]
            .iter()
            .take_while(|ch| ch.is_alphanumeric() || **ch == '_')
            .collect();
        i += word.chars().count();
        if !word.is_empty() && word != "self" {
            prefix.push(word);
        }
        if starts_with(c, i, "::") {
            i += 2;
            continue;
        }
        out.push(prefix);
        return i;
    }
}

/// The crate's modules and, for each, the modules it names (not counting
/// its own ancestors or descendants), with a file that names each.
fn module_arrows() -> BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>> {
    let src_dir = root().join("src");
    let files: Vec<(Vec<String>, PathBuf)> = rust_files(&src_dir)
        .into_iter()
        .filter_map(|p| module_of(&src_dir, &p).map(|m| (m, p)))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut arrows: BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>> = BTreeMap::new();
    for (own, path) in &files {
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        for named in paths_named(&code, own) {
            // The module a path names: its longest prefix that is a module.
            let Some(target) = (0..=named.len())
                .rev()
                .map(|k| named[..k].to_vec())
                .find(|p| modules.contains(p))
            else {
                continue;
            };
            if own.starts_with(&target) || target.starts_with(own) {
                continue;
            }
            let shown = path.strip_prefix(root()).unwrap().display().to_string();
            arrows
                .entry(own.clone())
                .or_default()
                .entry(target)
                .or_insert(shown);
        }
    }
    arrows
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    // Arrows between the children of one parent: `a::x` naming `b::y`
    // is an arrow from `a` to `b` among the children of their common parent.
    let mut siblings: BTreeMap<(Vec<String>, String), BTreeMap<String, String>> = BTreeMap::new();
    for (from, targets) in module_arrows() {
        for (to, file) in targets {
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            let parent = from[..common].to_vec();
            siblings
                .entry((parent, from[common].clone()))
                .or_default()
                .entry(to[common].clone())
                .or_insert(format!("{file} names {}", to.join("::")));
        }
    }
    // The siblings reachable from `start` under `parent`, `start` included.
    let reachable = |parent: &Vec<String>, start: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                if let Some(next) = siblings.get(&(parent.clone(), m)) {
                    todo.extend(next.keys().cloned());
                }
            }
        }
        seen
    };
    let mut cycles = Vec::new();
    for ((parent, a), targets) in &siblings {
        for (b, why) in targets {
            if a >= b || !reachable(parent, b).contains(a) {
                continue;
            }
            // The first step of a way back from b to a.
            let back = siblings[&(parent.clone(), b.clone())]
                .iter()
                .find(|(next, _)| reachable(parent, next).contains(a))
                .map(|(_, why)| why.clone())
                .unwrap_or_default();
            cycles.push(format!(
                "in crate::{}: {a} -> {b} ({why}) and back ({back})",
                parent.join("::")
            ));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_detector_names_nothing_of_the_crate_outside_itself() {
    let detect = vec!["detect".to_owned()];
    let outside: Vec<String> = module_arrows()
        .into_iter()
        .filter(|(from, _)| from.starts_with(&detect))
        .flat_map(|(_, targets)| targets)
        .filter(|(to, _)| !to.starts_with(&detect))
        .map(|(to, file)| format!("{file} names crate::{}", to.join("::")))
        .collect();
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}

#[test]
fn the_incident_pass_names_nothing_but_the_detectors_words() {
    let incident = vec!["incident".to_owned()];
    let words = vec!["detect".to_owned(), "vocabulary".to_owned()];
    let outside: Vec<String> = module_arrows()
        .into_iter()
        .filter(|(from, _)| from.starts_with(&incident))
        .flat_map(|(_, targets)| targets)
        .filter(|(to, _)| !to.starts_with(&incident) && *to != words)
        .map(|(to, file)| format!("{file} names crate::{}", to.join("::")))
        .collect();
    assert!(outside.is_empty(), "{}", outside.join("\n"));
}

#[test]
fn the_checks_see_what_they_are_meant_to_see() {
    let src = "fn a() {\n    let s = \"{{ fn b() {\";\n    let c = '{';\n    // }\n}\n\
               fn long<'a>(x: &'a str) {\n    let r = r#\"}\"#;\n\n}\n";
    let code = code_only(src);
    assert_eq!(code.lines().count(), src.lines().count());
    assert_eq!(
        functions(&code),
        vec![("a".to_owned(), 1, 5), ("long".to_owned(), 6, 4)]
    );
    let own = vec!["ingest".to_owned(), "writer".to_owned()];
    let named = paths_named(
        "use crate::{store::{self, Catalog}, detect::series::Status};\n\
         use super::mailbox::Mailbox;\nlet e = crate::error::chain(x);",
        &own,
    );
    let named: Vec<String> = named.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        named,
        [
            "store",
            "store::Catalog",
            "detect::series::Status",
            "ingest::mailbox::Mailbox",
            "error::chain"
        ]
    );
}
