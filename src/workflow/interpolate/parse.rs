//! The parser: template text -> [`Template`] pieces, with char offsets.
//!
//! It works on a `Vec<char>` so that every offset it reports is a char offset,
//! and every index is checked (`get`), so no input can make it panic.

use super::{InterpolateError, ListFormat, Piece, Segment, Template, VarPath, VarRef};

/// Parses a whole template; see the module docs for the syntax.
pub(super) fn parse_template(text: &str) -> Result<Template, InterpolateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c != '$' {
            literal.push(c);
            i += 1;
            continue;
        }
        let var = match chars.get(i + 1) {
            Some('$') if chars.get(i + 2) == Some(&'{') => {
                literal.push_str("${");
                i += 3;
                continue;
            }
            Some('$') => {
                literal.push_str("$$");
                i += 2;
                continue;
            }
            Some('{') => braced(&chars, i)?,
            _ => match positional(&chars, i) {
                Some(var) => var,
                None => {
                    literal.push('$');
                    i += 1;
                    continue;
                }
            },
        };
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        i += var.len;
        pieces.push(Piece::Var(var));
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(Template { pieces })
}

/// Parses a bare path such as `item.tags[0]`.
pub(super) fn parse_bare_path(text: &str) -> Result<VarPath, InterpolateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let path = path(&chars, &mut pos)?;
    match chars.get(pos) {
        None => Ok(path),
        Some(&c) => Err(InterpolateError::Expected {
            offset: pos,
            expected: "`.`, `[` or the end of the path",
            found: Some(c),
        }),
    }
}

/// `$ARG` or `$1`..`$9` at `start`, ending at a word boundary.
fn positional(chars: &[char], start: usize) -> Option<VarRef> {
    let rest = chars.get(start + 1..)?;
    let name_len = match rest {
        ['A', 'R', 'G', ..] => 3,
        ['1'..='9', ..] => 1,
        _ => return None,
    };
    if rest.get(name_len).is_some_and(|&c| is_word_char(c)) {
        return None;
    }
    Some(VarRef {
        path: VarPath::root(rest.get(..name_len)?.iter().collect::<String>()),
        default: None,
        shell_quote: false,
        format: None,
        offset: start,
        len: name_len + 1,
    })
}

/// A character that continues a shell word (so `$ARGS` is not `$ARG`).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A character of a name after its first one.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `${...}` with its `$` at `start` (and `{` after it).
fn braced(chars: &[char], start: usize) -> Result<VarRef, InterpolateError> {
    let open = start + 2;
    let close = chars
        .get(open..)
        .and_then(|rest| rest.iter().position(|&c| c == '}'))
        .map(|p| open + p)
        .ok_or(InterpolateError::Unterminated { offset: start })?;
    if close == open {
        return Err(InterpolateError::Empty { offset: start });
    }
    // Only the inside is visible to the path parser, so it stops at the `}`.
    let inner = chars.get(..close).unwrap_or(chars);
    let mut pos = open;
    let path = path(inner, &mut pos)?;
    let mut var = VarRef {
        path,
        default: None,
        shell_quote: false,
        format: None,
        offset: start,
        len: close + 1 - start,
    };
    modifiers(inner, pos, &mut var)?;
    Ok(var)
}

/// The modifiers from `pos` (just after the path) to the end of `inner`.
fn modifiers(inner: &[char], mut pos: usize, var: &mut VarRef) -> Result<(), InterpolateError> {
    while let Some(&c) = inner.get(pos) {
        if c != ':' {
            return Err(InterpolateError::Expected {
                offset: pos,
                expected: "`.`, `[`, `:` or `}`",
                found: Some(c),
            });
        }
        if inner.get(pos + 1) == Some(&'-') {
            let text = inner.get(pos + 2..).unwrap_or_default();
            if let Some(at) = text.windows(2).position(|w| w == ['$', '{']) {
                return Err(InterpolateError::NestedDefault {
                    offset: pos + 2 + at,
                });
            }
            var.default = Some(text.iter().collect());
            return Ok(());
        }
        let rest = inner.get(pos + 1..).unwrap_or_default();
        let end = rest.iter().position(|&c| c == ':').unwrap_or(rest.len());
        let modifier: String = rest.get(..end).unwrap_or_default().iter().collect();
        apply_modifier(var, pos, modifier)?;
        pos += 1 + end;
    }
    Ok(())
}

/// Records one `:modifier` (written at `offset`) on `var`.
fn apply_modifier(
    var: &mut VarRef,
    offset: usize,
    modifier: String,
) -> Result<(), InterpolateError> {
    let format = match modifier.as_str() {
        "sh" if var.shell_quote => {
            return Err(InterpolateError::ConflictingModifier { offset, modifier });
        }
        "sh" => {
            var.shell_quote = true;
            return Ok(());
        }
        "json" => ListFormat::Json,
        "newline" => ListFormat::Newline,
        "comma" => ListFormat::Comma,
        glob if glob.contains(['*', '?']) => {
            ListFormat::Glob(glob.split(',').map(str::to_string).collect())
        }
        _ => return Err(InterpolateError::UnknownModifier { offset, modifier }),
    };
    if var.format.is_some() {
        return Err(InterpolateError::ConflictingModifier { offset, modifier });
    }
    var.format = Some(format);
    Ok(())
}

/// A root and its segments, from `*pos`; stops at the first character that
/// is not `.` or `[` after a complete name or index.
fn path(chars: &[char], pos: &mut usize) -> Result<VarPath, InterpolateError> {
    let root = match chars.get(*pos..) {
        // `${1}`..`${9}`: the braced positional arguments.
        Some([d @ '1'..='9', rest @ ..]) if !rest.first().is_some_and(|&c| is_name_char(c)) => {
            *pos += 1;
            d.to_string()
        }
        _ => name(chars, pos, "a variable name")?,
    };
    let mut segments = Vec::new();
    loop {
        match chars.get(*pos) {
            Some('.') => {
                *pos += 1;
                segments.push(Segment::Field(name(chars, pos, "a field name after `.`")?));
            }
            Some('[') => segments.push(Segment::Index(index(chars, pos)?)),
            _ => return Ok(VarPath { root, segments }),
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_-]*` at `*pos`.
fn name(
    chars: &[char],
    pos: &mut usize,
    expected: &'static str,
) -> Result<String, InterpolateError> {
    match chars.get(*pos) {
        Some(&c) if c.is_ascii_alphabetic() || c == '_' => {}
        found => {
            return Err(InterpolateError::Expected {
                offset: *pos,
                expected,
                found: found.copied(),
            });
        }
    }
    let rest = chars.get(*pos..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&c| !is_name_char(c))
        .unwrap_or(rest.len());
    *pos += len;
    Ok(rest.get(..len).unwrap_or_default().iter().collect())
}

/// `[digits]` with the `[` at `*pos`.
fn index(chars: &[char], pos: &mut usize) -> Result<usize, InterpolateError> {
    let offset = *pos;
    let rest = chars.get(offset + 1..).unwrap_or_default();
    let close = rest.iter().position(|&c| c == ']');
    let text: String = rest
        .get(..close.unwrap_or(rest.len()))
        .unwrap_or_default()
        .iter()
        .collect();
    let invalid = || InterpolateError::InvalidIndex {
        offset,
        text: text.clone(),
    };
    let close = close.ok_or_else(invalid)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let value = text.parse::<usize>().map_err(|_| invalid())?;
    *pos = offset + 1 + close + 1;
    Ok(value)
}
