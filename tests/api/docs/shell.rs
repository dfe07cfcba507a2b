//! Enough of the shell to read the docs' `sh` blocks into commands and
//! their words.

use super::downwave_invocation;

/// The simple commands of a shell script, each with the line (from 0) it
/// starts on and its words: quotes and backslash-newlines resolved;
/// comments, redirections (with their targets) and `;`, `&`, `|`, `&&`,
/// `||` between commands dropped. Enough shell for documentation.
pub(super) fn shell_commands(script: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut lx = Lexer {
        commands: Vec::new(),
        words: Vec::new(),
        word: String::new(),
        in_word: false,
        skip_word: false,
        line: 0,
        start: 0,
    };
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        lx.read(c, &mut chars)?;
    }
    lx.end_command();
    Ok(lx.commands)
}

/// The words read so far, and the commands they made.
struct Lexer {
    commands: Vec<(usize, Vec<String>)>,
    words: Vec<String>,
    word: String,
    in_word: bool,
    skip_word: bool,
    line: usize,
    start: usize,
}

impl Lexer {
    fn begin(&mut self) {
        if !self.in_word && self.words.is_empty() {
            self.start = self.line;
        }
        self.in_word = true;
    }
    fn end_word(&mut self) {
        if self.in_word {
            let word = std::mem::take(&mut self.word);
            if !std::mem::take(&mut self.skip_word) {
                self.words.push(word);
            }
        }
        self.in_word = false;
    }
    fn end_command(&mut self) {
        self.end_word();
        if !self.words.is_empty() {
            self.commands
                .push((self.start, std::mem::take(&mut self.words)));
        }
    }

    /// Reads `c`, and what belongs to it from `chars` (a quoted string, a
    /// comment, a redirection's target).
    fn read(
        &mut self,
        c: char,
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    ) -> Result<(), String> {
        match c {
            '\\' => match chars.next() {
                Some('\n') => self.line += 1,
                Some(x) => {
                    self.begin();
                    self.word.push(x);
                }
                None => {}
            },
            '\'' => {
                self.begin();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => {
                            self.line += usize::from(x == '\n');
                            self.word.push(x);
                        }
                        None => return Err("a ' is not closed".into()),
                    }
                }
            }
            '"' => {
                self.begin();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => self.word.push(x),
                            Some('\n') => self.line += 1,
                            Some(x) => {
                                self.word.push('\\');
                                self.word.push(x);
                            }
                            None => return Err("a \" is not closed".into()),
                        },
                        Some(x) => {
                            self.line += usize::from(x == '\n');
                            self.word.push(x);
                        }
                        None => return Err("a \" is not closed".into()),
                    }
                }
            }
            '#' if !self.in_word => {
                while chars.peek().is_some_and(|&x| x != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' => self.end_word(),
            '\n' | ';' | '&' | '|' => {
                self.end_command();
                self.line += usize::from(c == '\n');
            }
            '>' | '<' => {
                // `2>&1`, `>file`, `>> file`, `<file`: the descriptor and
                // the target are not arguments.
                if self.in_word && self.word.chars().all(|d| d.is_ascii_digit()) {
                    self.word.clear();
                    self.in_word = false;
                } else {
                    self.end_word();
                }
                while chars.peek().is_some_and(|&x| x == '>' || x == '&') {
                    chars.next();
                }
                self.skip_word = true;
            }
            x => {
                self.begin();
                self.word.push(x);
            }
        }
        Ok(())
    }
}

#[test]
fn shell_words_are_read_as_a_shell_reads_them() {
    let script = "DOWNWAVE_ADMIN_TOKEN=x downwave serve \\\n  --public-url 'http://a b' & # bg\n\
                  downwave service add x --name \"A \\\"B\\\"\" 2>&1 >log.txt | tail -1\n";
    let commands = shell_commands(script).unwrap();
    let words: Vec<Vec<&str>> = commands
        .iter()
        .map(|(_, w)| w.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        words,
        vec![
            vec![
                "DOWNWAVE_ADMIN_TOKEN=x",
                "downwave",
                "serve",
                "--public-url",
                "http://a b"
            ],
            vec!["downwave", "service", "add", "x", "--name", "A \"B\""],
            vec!["tail", "-1"],
        ]
    );
    assert_eq!(commands[0].0, 0);
    assert_eq!(commands[1].0, 2);
    let example = downwave_invocation(&commands[0].1).unwrap().unwrap();
    assert_eq!(
        example.env,
        vec![("DOWNWAVE_ADMIN_TOKEN".to_owned(), "x".to_owned())]
    );
    assert_eq!(example.args, ["serve", "--public-url", "http://a b"]);
}
