//! A small, safe regular-expression matcher for the filter's `matches(field, 're')`,
//! so that the crate needs no regex dependency.
//!
//! Supported: literals, `.`, `^`, `$`, `[...]`, `[^...]` with ranges, `\d \w \s` (and
//! `\D \W \S`), escaped punctuation, `\n \t \r`, groups `( )` and `(?: )`, alternation
//! `|`, and the quantifiers `* + ? {n} {n,} {n,m}` (a trailing lazy `?` is accepted; it
//! cannot change whether a text matches). Matching is a search anywhere in the text,
//! like `Regex::is_match`; anchor with `^...$` for a whole-text match.
//!
//! The pattern compiles to a tiny program run by a backtracker that never visits the
//! same (instruction, position) state twice, so time and memory are bounded by pattern
//! size times text length; past a fixed budget of such states the match is `false`.

mod parse;

use super::error::ExprError;
use parse::{Class, Node, Parser};

const MAX_PROGRAM: usize = 10_000;
/// Largest number of (instruction, position) states one match may explore.
const MAX_STATES: usize = 1 << 24;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Start,
    End,
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    program: Vec<Inst>,
}

impl Pattern {
    /// Compiles `pattern`; error offsets are char offsets into the pattern.
    pub(crate) fn parse(pattern: &str) -> Result<Pattern, ExprError> {
        let node = Parser::new(pattern).parse()?;
        let mut program = Vec::new();
        compile(&node, &mut program)?;
        push(&mut program, Inst::Match)?;
        Ok(Pattern { program })
    }

    /// Whether the pattern matches somewhere in `text`. `false` when the state budget
    /// is exceeded.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let width = chars.len() + 1;
        let Some(states) = self.program.len().checked_mul(width) else {
            return false;
        };
        if states > MAX_STATES {
            return false;
        }
        let mut visited = vec![0u64; states.div_ceil(64)];
        let mut stack = Vec::new();
        for start in 0..width {
            stack.push((0, start));
            while let Some((pc, pos)) = stack.pop() {
                if self.run_thread(&chars, pc, pos, &mut visited, &mut stack) {
                    return true;
                }
            }
        }
        false
    }

    fn run_thread(
        &self,
        chars: &[char],
        mut pc: usize,
        mut pos: usize,
        visited: &mut [u64],
        stack: &mut Vec<(usize, usize)>,
    ) -> bool {
        let width = chars.len() + 1;
        loop {
            let state = pc * width + pos;
            let (word, bit) = (state / 64, 1u64 << (state % 64));
            match visited.get_mut(word) {
                Some(w) if *w & bit == 0 => *w |= bit,
                _ => return false,
            }
            let current = chars.get(pos).copied();
            let advance = match self.program.get(pc) {
                Some(Inst::Char(c)) => current == Some(*c),
                Some(Inst::Any) => current.is_some_and(|c| c != '\n'),
                Some(Inst::Class(class)) => current.is_some_and(|c| class.matches(c)),
                Some(Inst::Start) if pos == 0 => {
                    pc += 1;
                    continue;
                }
                Some(Inst::End) if pos == chars.len() => {
                    pc += 1;
                    continue;
                }
                Some(Inst::Split(first, second)) => {
                    stack.push((*second, pos));
                    pc = *first;
                    continue;
                }
                Some(Inst::Jmp(to)) => {
                    pc = *to;
                    continue;
                }
                Some(Inst::Match) => return true,
                _ => false,
            };
            if !advance {
                return false;
            }
            pc += 1;
            pos += 1;
        }
    }
}

fn push(program: &mut Vec<Inst>, inst: Inst) -> Result<usize, ExprError> {
    if program.len() >= MAX_PROGRAM {
        return Err(
            ExprError::new("pattern is too large", 0).with_hint("use smaller repetition counts")
        );
    }
    program.push(inst);
    Ok(program.len() - 1)
}

fn patch_second(program: &mut [Inst], at: usize, target: usize) {
    if let Some(Inst::Split(_, second)) = program.get_mut(at) {
        *second = target;
    }
}

fn compile(node: &Node, program: &mut Vec<Inst>) -> Result<(), ExprError> {
    match node {
        Node::Char(c) => push(program, Inst::Char(*c)).map(drop),
        Node::Any => push(program, Inst::Any).map(drop),
        Node::Class(class) => push(program, Inst::Class(class.clone())).map(drop),
        Node::Start => push(program, Inst::Start).map(drop),
        Node::End => push(program, Inst::End).map(drop),
        Node::Concat(nodes) => nodes.iter().try_for_each(|n| compile(n, program)),
        Node::Alt(branches) => {
            let mut jumps = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                if i + 1 == branches.len() {
                    compile(branch, program)?;
                } else {
                    let split = push(program, Inst::Split(program.len() + 1, 0))?;
                    compile(branch, program)?;
                    jumps.push(push(program, Inst::Jmp(0))?);
                    let end = program.len();
                    patch_second(program, split, end);
                }
            }
            let end = program.len();
            for jump in jumps {
                if let Some(Inst::Jmp(to)) = program.get_mut(jump) {
                    *to = end;
                }
            }
            Ok(())
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                compile(node, program)?;
            }
            match max {
                None => {
                    let split = push(program, Inst::Split(program.len() + 1, 0))?;
                    compile(node, program)?;
                    push(program, Inst::Jmp(split))?;
                    let end = program.len();
                    patch_second(program, split, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(push(program, Inst::Split(program.len() + 1, 0))?);
                        compile(node, program)?;
                    }
                    let end = program.len();
                    for split in splits {
                        patch_second(program, split, end);
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(pattern: &str, text: &str) -> bool {
        match Pattern::parse(pattern) {
            Ok(p) => p.is_match(text),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    #[test]
    fn literals_search_anywhere() {
        assert!(matches("abc", "xxabcxx"));
        assert!(!matches("abd", "xxabcxx"));
        assert!(matches("", "anything"));
        assert!(matches("", ""));
    }

    #[test]
    fn anchors() {
        assert!(matches("^src/", "src/main.rs"));
        assert!(!matches("^src/", "tests/src/a.rs"));
        assert!(matches("\\.rs$", "src/main.rs"));
        assert!(!matches("\\.rs$", "src/main.rs.bak"));
        assert!(matches("^$", ""));
        assert!(!matches("^$", "x"));
    }

    #[test]
    fn dot_and_classes() {
        assert!(matches("a.c", "abc"));
        assert!(!matches("a.c", "a\nc"));
        assert!(matches("^[a-c]+$", "abcabc"));
        assert!(!matches("^[a-c]+$", "abcd"));
        assert!(matches("^[^0-9]+$", "abc"));
        assert!(!matches("^[^0-9]+$", "ab1"));
        assert!(matches("^[]a]+$", "]a]"));
        assert!(matches("^[a-]+$", "a-a"));
        assert!(matches("^[\\d_]+$", "1_2"));
        assert!(matches("[.]", "a.b"));
        assert!(!matches("[.]", "ab"));
    }

    #[test]
    fn escapes() {
        assert!(matches("^\\d+$", "2024"));
        assert!(!matches("^\\d+$", "20x4"));
        assert!(matches("^\\w+$", "snake_case9"));
        assert!(matches("\\s", "a b"));
        assert!(matches("^\\S+$", "ab"));
        assert!(matches("^\\D\\W$", "a-"));
        assert!(matches("a\\.b", "a.b"));
        assert!(!matches("a\\.b", "axb"));
        assert!(matches("\\(x\\)", "f(x)"));
        assert!(matches("a\\tb", "a\tb"));
    }

    #[test]
    fn quantifiers() {
        assert!(matches("^ab*c$", "ac"));
        assert!(matches("^ab*c$", "abbbc"));
        assert!(!matches("^ab+c$", "ac"));
        assert!(matches("^ab?c$", "abc"));
        assert!(!matches("^ab?c$", "abbc"));
        assert!(matches("^a{3}$", "aaa"));
        assert!(!matches("^a{3}$", "aa"));
        assert!(matches("^a{2,}$", "aaaa"));
        assert!(matches("^a{1,2}$", "aa"));
        assert!(!matches("^a{1,2}$", "aaa"));
        assert!(matches("^a.*?b$", "axxb"));
        assert!(matches("a{x", "a{x"));
    }

    #[test]
    fn groups_and_alternation() {
        assert!(matches("^(foo|bar)\\.rs$", "bar.rs"));
        assert!(!matches("^(foo|bar)\\.rs$", "baz.rs"));
        assert!(matches("^(ab)+$", "ababab"));
        assert!(!matches("^(ab)+$", "aba"));
        assert!(matches("^(?:a|b)*c$", "abbac"));
        assert!(matches("cat|dog", "hotdog"));
        assert!(matches("^(a|)$", ""));
    }

    #[test]
    fn empty_loops_terminate_and_match() {
        assert!(matches("^(a*)*b$", "aaab"));
        assert!(matches("^(a*)*b$", "b"));
        assert!(!matches("^(a*)*b$", "aaaa"));
        assert!(matches("^(a?)+$", ""));
    }

    #[test]
    fn catastrophic_patterns_stay_fast() {
        let text = format!("{}!", "a".repeat(5_000));
        assert!(!matches("^(a+)+$", &text));
        assert!(!matches("^(a|aa)*b$", &text));
        assert!(matches("(a|aa)*!", &text));
    }

    #[test]
    fn unicode_text() {
        assert!(matches("^é.$", "éà"));
        assert!(matches("^\\w+$", "naïve"));
    }

    #[test]
    fn over_budget_is_false() {
        let pattern = Pattern::parse("a{1000}").unwrap_or_else(|e| panic!("{e}"));
        let text = "a".repeat(20_000);
        assert!(!pattern.is_match(&text));
    }

    #[test]
    fn too_large_programs_are_rejected() {
        let error = Pattern::parse("(a{1000}){1000}").unwrap_err();
        assert_eq!(error.message, "pattern is too large");
    }

    proptest! {
        #[test]
        fn never_panics(pattern in ".{0,40}", text in ".{0,40}") {
            if let Ok(p) = Pattern::parse(&pattern) {
                let _ = p.is_match(&text);
            }
        }

        #[test]
        fn never_panics_on_regex_like_text(
            pattern in "[ab()|*+?{},0-9\\[\\]^$.\\\\dws-]{0,30}",
            text in "[ab0-9 ]{0,30}",
        ) {
            if let Ok(p) = Pattern::parse(&pattern) {
                let _ = p.is_match(&text);
            }
        }

        #[test]
        fn literal_text_matches_itself(text in "[a-z0-9 ]{0,20}") {
            let p = Pattern::parse(&format!("^{text}$")).unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(p.is_match(&text));
        }
    }
}
