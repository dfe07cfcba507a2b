//! The docs' commands run as written.
//!
//! Every `downwave` command in a fenced `sh` block of `README.md`,
//! `CONTRIBUTING.md`, `docs/*.md` and `eval/README.md` (written `downwave …`,
//! `./target/release/downwave …` or `cargo run --release -- …`) is parsed
//! with the binary's own command-line types (`downwave::cli`) and checked as
//! far as it can be without running it: its settings resolve, and its
//! detector parameters and grids name real parameters with valid values. The
//! quick, self-contained ones (`service`, `simulate march-2 … --csv`,
//! `backtest --input`) are then run by the real binary, in the order each
//! document gives them, in a scratch folder that sees the repository's
//! `eval/`. The README's tour (the demo, a report, a webhook) is followed
//! against the real server; settings files in `toml` blocks must load, the
//! settings table in `docs/operations.md` must list every declared setting
//! with its flag, variable and default, and links between the documents
//! must lead somewhere.

mod shell;
mod tour;

use shell::shell_commands;

use clap::Parser;
use downwave::cli::{detector_params, Cli, Command, Scenario};
use downwave::detect::Tuning;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_downwave");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Variables the docs' commands use, and the value each is checked with
/// (`$!`: the process id of the server started with `&` the line before).
const VARIABLES: [(&str, &str); 2] = [("TOKEN", "doc-token"), ("!", "4242")];

/// Placeholders of synopsis lines (`docs/detection.md` writes
/// `--set false_events_per_30_days=B`, `--nab DIR`, `--grid name=v1,v2 ...`),
/// each with the sample value it is checked with; `...` is dropped.
const PLACEHOLDERS: [(&str, &str); 3] = [
    ("B", "5"),
    ("DIR", "eval/nab"),
    ("name=v1,v2", "extreme_score=9,10"),
];

/// One `downwave` command found in a document.
struct Example {
    /// `README.md:42`
    place: String,
    /// `DOWNWAVE_*=…` assignments written before the command.
    env: Vec<(String, String)>,
    /// Its arguments, after the program.
    args: Vec<String>,
}

/// The documents whose commands are checked, relative to the repository.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "eval/README.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(ROOT).unwrap().to_owned())
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// The fenced code blocks of a Markdown text whose info string is `lang`,
/// each with the line its first line is on.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((i + 2, info.trim() == lang, String::new()));
                }
            }
            Some((start, wanted, text)) => {
                if trimmed.starts_with("```") {
                    if *wanted {
                        blocks.push((*start, std::mem::take(text)));
                    }
                    open = None;
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    blocks
}

/// If `words` run downwave, the environment assignments before it and its
/// arguments, with variables and placeholders filled in.
fn downwave_invocation(words: &[String]) -> Result<Option<Example>, String> {
    let is_assignment = |w: &str| {
        w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    };
    let at = words.iter().take_while(|w| is_assignment(w)).count();
    let env: Vec<(String, String)> = words[..at]
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let rest = &words[at..];
    let args = match rest.first().map(String::as_str) {
        Some("downwave" | "./target/release/downwave" | "target/release/downwave") => &rest[1..],
        Some("cargo") if rest.get(1).is_some_and(|w| w == "run") => {
            let mut i = 2;
            loop {
                match rest.get(i).map(String::as_str) {
                    None => break &rest[i..],
                    Some("--") => break &rest[i + 1..],
                    Some("--release") => i += 1,
                    Some(other) => {
                        return Err(format!(
                            "`cargo run` with {other:?}: write `cargo run --release -- ARGS`"
                        ))
                    }
                }
            }
        }
        _ => return Ok(None),
    };
    let mut filled = Vec::new();
    for arg in args {
        if arg == "..." {
            continue;
        }
        let mut arg = arg.clone();
        for (name, value) in VARIABLES {
            arg = arg
                .replace(&format!("${{{name}}}"), value)
                .replace(&format!("${name}"), value);
        }
        if arg.contains('$') || arg.contains('`') {
            return Err(format!(
                "{arg:?}: an unknown variable or a substitution (known: {VARIABLES:?})"
            ));
        }
        for (placeholder, sample) in PLACEHOLDERS {
            if arg == placeholder {
                arg = sample.to_owned();
            } else if let Some(head) = arg.strip_suffix(&format!("={placeholder}")) {
                arg = format!("{head}={sample}");
            }
        }
        filled.push(arg);
    }
    Ok(Some(Example {
        place: String::new(),
        env,
        args: filled,
    }))
}

/// Every `downwave` command in the `sh` blocks of one document, or what is
/// wrong with one that cannot even be read.
fn examples(name: &str, markdown: &str) -> (Vec<Example>, Vec<String>) {
    let (mut found, mut wrong) = (Vec::new(), Vec::new());
    for (first_line, block) in fenced_blocks(markdown, "sh") {
        let commands = match shell_commands(&block) {
            Ok(c) => c,
            Err(e) => {
                wrong.push(format!("{name}:{first_line}: {e}"));
                continue;
            }
        };
        for (line, words) in commands {
            let place = format!("{name}:{}", first_line + line);
            match downwave_invocation(&words) {
                Ok(Some(example)) => found.push(Example { place, ..example }),
                Ok(None) => {}
                Err(e) => wrong.push(format!("{place}: {e}")),
            }
        }
    }
    (found, wrong)
}

/// Parses `args` as the binary does and checks what can be checked without
/// running them; returns the parsed command line.
fn check(args: &[String]) -> Result<Cli, String> {
    let argv = std::iter::once("downwave".to_owned()).chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| e.render().to_string())?;
    if cli.config.config.is_none() {
        cli.config
            .clone()
            .resolve()
            .map_err(|e| format!("the settings do not resolve: {e}"))?;
    }
    let tune = |p: &downwave::detect::DetectorParams| {
        Tuning::new(p, 60)
            .map(|_| ())
            .map_err(|e| format!("detector parameters: {e}"))
    };
    match &cli.command {
        Some(Command::Backtest(a)) => {
            let params = detector_params(&a.set).map_err(|e| format!("--set: {e:#}"))?;
            tune(&params)?;
            if a.cross_validate {
                let grid = a.grid().map_err(|e| format!("--grid: {e:#}"))?;
                for point in grid.points(&params).map_err(|e| format!("--grid: {e}"))? {
                    tune(&point)?;
                }
            }
        }
        Some(Command::Simulate(a)) => {
            tune(&detector_params(&a.set).map_err(|e| format!("--set: {e:#}"))?)?;
            if matches!(a.scenario, Scenario::March2 | Scenario::AwsOutage)
                && a.csv.is_none()
                && a.target.is_none()
                && a.check.is_none()
            {
                return Err("march-2 and aws-outage need --csv, --target or --check".into());
            }
        }
        _ => {}
    }
    Ok(cli)
}

/// Commands that are quick and need nothing but the repository: run for real.
fn runs_here(cli: &Cli) -> bool {
    match &cli.command {
        Some(Command::Service { .. }) => true,
        Some(Command::Simulate(a)) => {
            a.scenario == Scenario::March2
                && a.csv.is_some()
                && a.target.is_none()
                && a.check.is_none()
        }
        Some(Command::Backtest(a)) => !a.cross_validate,
        _ => false,
    }
}

/// A folder that looks like the repository's root to a command: `eval/` is
/// there (a link), and whatever the command writes stays in the folder.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(Path::new(ROOT).join("eval"), dir.path().join("eval")).unwrap();
    dir
}

/// Runs the binary with `example`'s arguments in `dir`; what went wrong.
fn run(example: &Example, dir: &Path, n: usize) -> Result<(), String> {
    const LIMIT: Duration = Duration::from_secs(120);
    let (out, err) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
    let mut child = Process::new(BIN)
        .args(&example.args)
        .envs(example.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{status}: {}",
            std::fs::read_to_string(&err).unwrap_or_default().trim()
        ))
    }
}

/// Checks one document's commands; runs the ones that run here in a fresh
/// scratch folder, in order. Returns what failed and how many ran.
fn check_document(name: &str, markdown: &str) -> (usize, usize, Vec<String>) {
    let (examples, mut failures) = examples(name, markdown);
    let dir = scratch();
    let mut ran = 0;
    for (n, example) in examples.iter().enumerate() {
        match check(&example.args) {
            Err(e) => failures.push(format!(
                "{}: downwave {}\n{e}",
                example.place,
                example.args.join(" ")
            )),
            Ok(cli) if cfg!(unix) && runs_here(&cli) => {
                ran += 1;
                if let Err(e) = run(example, dir.path(), n) {
                    failures.push(format!(
                        "{}: downwave {} (run for real)\n{e}",
                        example.place,
                        example.args.join(" ")
                    ));
                }
            }
            Ok(_) => {}
        }
    }
    (examples.len(), ran, failures)
}

#[test]
fn every_command_in_the_docs_runs_as_written() {
    let (mut total, mut ran, mut failures) = (0, 0, Vec::new());
    let mut in_readme = 0;
    for doc in documents() {
        let name = doc.display().to_string();
        let text = std::fs::read_to_string(Path::new(ROOT).join(&doc)).unwrap();
        let (n, r, f) = check_document(&name, &text);
        eprintln!("{name}: {n} downwave commands, {r} run for real");
        if name == "README.md" {
            in_readme = n;
        }
        total += n;
        ran += r;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of the docs' commands do not work as written:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // The extraction itself must keep finding them.
    assert!(
        in_readme >= 5,
        "only {in_readme} commands found in README.md"
    );
    assert!(total >= 30, "only {total} commands found in the docs");
    if cfg!(unix) {
        assert!(ran >= 10, "only {ran} commands were run for real");
    }
}

#[test]
fn a_broken_example_fails_the_check() {
    let doc = r#"
Some text, and a block in another language that is not read:

```text
downwave backtest --no-such-flag
```

```sh
cargo run --release -- backtest --inptu march2.csv       # a misspelt flag
downwave simulate march-2 --check 1 --set no_such_knob=1 # an unknown parameter
downwave --max-body-bytes lots                           # a setting's value
downwave backtest --cross-validate --grid extreme_score=-1,9
./target/release/downwave service add claude --name Claude &&
  downwave simulate march-2                              # goes nowhere
cargo run --release -- loadgen --target everything
downwave serve --admin-token $NO_SUCH_VARIABLE
cargo run --bin downwave -- serve
downwave service list                                    # fine
```
"#;
    let (examples, unreadable) = examples("broken.md", doc);
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert!(unreadable[0].contains("NO_SUCH_VARIABLE"), "{unreadable:?}");
    assert!(unreadable[1].contains("cargo run"), "{unreadable:?}");
    let verdicts: Vec<(String, bool)> = examples
        .iter()
        .map(|e| (e.place.clone(), check(&e.args).is_ok()))
        .collect();
    let at = |line: usize| format!("broken.md:{line}");
    assert_eq!(
        verdicts,
        vec![
            (at(9), false),
            (at(10), false),
            (at(11), false),
            (at(12), false),
            (at(13), true),
            (at(14), false),
            (at(15), false),
            (at(18), true),
        ]
    );
}

#[test]
fn settings_files_in_the_docs_are_valid() {
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(Path::new(ROOT).join(&doc)).unwrap();
        for (line, block) in fenced_blocks(&text, "toml") {
            let args: downwave::config::ConfigArgs =
                toml::from_str(&block).unwrap_or_else(|e| panic!("{}:{line}: {e}", doc.display()));
            args.resolve()
                .unwrap_or_else(|e| panic!("{}:{line}: {e}", doc.display()));
            seen += 1;
        }
    }
    assert!(seen >= 1, "the settings file example is gone from the docs");
}

/// The rows of the settings table in `docs/operations.md` (those of its
/// `## Settings` section that start with a flag), each with its line and
/// its cells.
fn settings_rows(markdown: &str) -> Vec<(usize, Vec<String>)> {
    let mut in_section = false;
    let mut rows = Vec::new();
    for (i, line) in markdown.lines().enumerate() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_section = heading.trim() == "Settings";
        } else if in_section && line.starts_with("| `--") {
            let cells = line.trim().trim_matches('|').split('|');
            rows.push((i + 1, cells.map(|c| c.trim().to_owned()).collect()));
        }
    }
    rows
}

/// Where the settings table disagrees with the settings as declared
/// (`downwave::config::SETTINGS`): a setting missing or listed twice, a
/// flag, variable or default that is not the declared one (the default
/// compared without its backticks), a row without a meaning or for no
/// setting. One line per disagreement, naming the setting.
fn settings_table_disagreements(markdown: &str) -> Vec<String> {
    let rows = settings_rows(markdown);
    let mut wrong = Vec::new();
    for s in downwave::config::SETTINGS {
        let flag = format!("`{}`", s.flag);
        let mine: Vec<_> = rows.iter().filter(|(_, cells)| cells[0] == flag).collect();
        let (line, cells) = match mine.as_slice() {
            [one] => one,
            [] => {
                wrong.push(format!(
                    "{}: no row; add | {flag} | `{}` | {} | … |",
                    s.key,
                    s.env,
                    s.default_text()
                ));
                continue;
            }
            many => {
                let lines: Vec<_> = many.iter().map(|(line, _)| line).collect();
                wrong.push(format!(
                    "{}: {} rows, on lines {lines:?}",
                    s.key,
                    many.len()
                ));
                continue;
            }
        };
        let at = format!("{} (line {line})", s.key);
        if cells.len() != 4 {
            wrong.push(format!("{at}: {} cells, not 4", cells.len()));
            continue;
        }
        if cells[1] != format!("`{}`", s.env) {
            wrong.push(format!(
                "{at}: environment {}, declared `{}`",
                cells[1], s.env
            ));
        }
        let default = cells[2].replace('`', "");
        if default != s.default_text() {
            wrong.push(format!(
                "{at}: default {}, declared {}",
                cells[2],
                s.default_text()
            ));
        }
        if cells[3].is_empty() {
            wrong.push(format!("{at}: no meaning (declared: {})", s.doc_line()));
        }
    }
    for (line, cells) in &rows {
        let declared = downwave::config::SETTINGS
            .iter()
            .any(|s| cells[0] == format!("`{}`", s.flag));
        if !declared {
            wrong.push(format!("line {line}: {} is no setting", cells[0]));
        }
    }
    wrong
}

#[test]
fn the_settings_table_matches_the_declarations() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/operations.md")).unwrap();
    let wrong = settings_table_disagreements(&text);
    assert!(
        wrong.is_empty(),
        "the settings table in docs/operations.md disagrees with src/config/mod.rs:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_wrong_settings_row_fails_the_check() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/operations.md")).unwrap();
    let row = "| `--max-body-bytes` | `DOWNWAVE_MAX_BODY_BYTES` | `4096` |";
    assert!(text.contains(row), "the sample row is gone from the table");
    let cases = [
        (
            row.replace("`4096`", "`8192`"),
            "max_body_bytes (line",
            "default `8192`, declared 4096",
        ),
        (
            row.replace("BODY_BYTES`", "BODY`"),
            "max_body_bytes (line",
            "environment `DOWNWAVE_MAX_BODY`",
        ),
        (
            row.replace("--max-body-bytes", "--max-body-size"),
            "max_body_bytes: no row",
            "`--max-body-size` is no setting",
        ),
    ];
    for (broken, names, says) in cases {
        let wrong = settings_table_disagreements(&text.replace(row, &broken)).join("\n");
        assert!(
            wrong.contains(names) && wrong.contains(says),
            "{broken}: {wrong}"
        );
    }
    let twice = text.replace(row, &format!("{row} x |\n{row}"));
    let wrong = settings_table_disagreements(&twice).join("\n");
    assert!(wrong.contains("max_body_bytes: 2 rows"), "{wrong}");
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// A Markdown text without its fenced code blocks.
fn prose(markdown: &str) -> String {
    let mut in_block = false;
    let mut out = String::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if !in_block {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn links_between_the_docs_resolve() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = prose(&std::fs::read_to_string(Path::new(ROOT).join(&doc)).unwrap());
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(path)
            };
            let Ok(target_text) = std::fs::read_to_string(Path::new(ROOT).join(&target)) else {
                if !Path::new(ROOT).join(&target).exists() {
                    broken.push(format!("{}: {link}: no such file", doc.display()));
                }
                continue;
            };
            let headings: Vec<String> = prose(&target_text)
                .lines()
                .filter(|l| l.starts_with('#'))
                .map(|l| anchor(l.trim_start_matches('#')))
                .collect();
            if !fragment.is_empty() && !headings.iter().any(|h| h == fragment) {
                broken.push(format!("{}: {link}: no such heading", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
