//! Did-you-mean suggestions: the closest known name to a misspelt one.

/// Returns the candidate closest to `name` by edit distance (Levenshtein,
/// case-insensitive), if it is close enough to be a plausible typo: at most 1
/// edit for names of up to 3 characters, 2 up to 7, 3 beyond, and always
/// fewer edits than `name` has characters. A candidate equal to `name` is
/// never suggested; ties go to the earliest candidate.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name_len = name.chars().count();
    let limit = match name_len {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
    .min(name_len.saturating_sub(1));
    let name_lower = name.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let distance = edit_distance(&name_lower, &candidate.to_lowercase());
        if distance <= limit && best.is_none_or(|(best, _)| distance < best) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars, with one row of memory.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        let mut left = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let cost = diagonal + usize::from(ca != cb);
            let value = cost.min(above.saturating_add(1)).min(left + 1);
            diagonal = above;
            left = value;
            if let Some(slot) = row.get_mut(j + 1) {
                *slot = value;
            }
        }
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("ßé", "ße"), 1);
    }

    #[test]
    fn suggests_close_typos() {
        let names = ["item.name", "item.id", "item.path"];
        assert_eq!(suggest("item.nme", names), Some("item.name"));
        assert_eq!(suggest("item.pth", names), Some("item.path"));
        assert_eq!(suggest("totl", ["total", "failed"]), Some("total"));
        assert_eq!(suggest("sucessful", ["successful"]), Some("successful"));
        assert_eq!(
            suggest("ITEM", ["item"]),
            Some("item"),
            "case differences count as typos"
        );
    }

    #[test]
    fn no_suggestion_when_nothing_is_close() {
        assert_eq!(suggest("zzz", ["item", "map"]), None);
        assert_eq!(
            suggest("x", ["y"]),
            None,
            "one-letter names suggest nothing"
        );
        assert_eq!(suggest("", ["a"]), None);
        assert_eq!(
            suggest("item", ["item"]),
            None,
            "the name itself is not a suggestion"
        );
        assert_eq!(suggest("item", std::iter::empty()), None);
    }

    #[test]
    fn closest_then_earliest_wins() {
        assert_eq!(suggest("abcd", ["abxy", "abcx", "abcy"]), Some("abcx"));
    }
    #[test]
    fn finds_typos() {
        let keys = ["shell", "claude", "timeout", "on_failure"];
        assert_eq!(suggest("shel", keys), Some("shell"));
        assert_eq!(suggest("timout", keys), Some("timeout"));
        assert_eq!(suggest("on_failrue", keys), Some("on_failure"));
        assert_eq!(suggest("cluade", keys), Some("claude"));
    }

    #[test]
    fn ignores_unrelated_names() {
        assert_eq!(suggest("banana", ["shell", "claude"]), None);
        assert_eq!(suggest("x", ["shell"]), None);
    }
}
