//! Which built-in variables exist in which phase.
//!
//! Only the phase-bound namespaces are checked here (`item*` in map, `map.*`
//! in reduce, `merge.*` in merge); whether a capture, `shell.output` or
//! `env.X` has a value is known only at run time.

use std::fmt;

use super::{Segment, VarPath, suggest};

/// Where a step runs; decides which built-in variables it can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A standard (non-mapreduce) workflow.
    Standard,
    /// The `setup` list of a mapreduce workflow.
    Setup,
    /// The map `agent_template` (and its handlers), once per item.
    Map,
    /// The `reduce` list, after every map item ran.
    Reduce,
    /// The `merge:` block, while a worktree is merged back.
    Merge,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Standard => "a standard workflow",
            Phase::Setup => "the setup phase",
            Phase::Map => "the map phase",
            Phase::Reduce => "the reduce phase",
            Phase::Merge => "the merge phase",
        })
    }
}

/// Roots set per map item.
const ITEM_ROOTS: &[&str] = &["item", "item_json", "item_index", "item_id", "item_total"];
/// Fields of `map.*`.
const MAP_FIELDS: &[&str] = &[
    "total",
    "successful",
    "failed",
    "skipped",
    "cancelled",
    "success_rate",
    "results",
    "results_json",
    "key",
];
/// Fields of `merge.*`.
const MERGE_FIELDS: &[&str] = &["worktree", "source_branch", "target_branch", "session_id"];
/// Every built-in root.
const KNOWN_ROOTS: &[&str] = &[
    "item",
    "item_json",
    "item_index",
    "item_id",
    "item_total",
    "map",
    "merge",
    "shell",
    "claude",
    "last",
    "env",
    "workflow",
    "step",
    "validation",
    "worker",
    "ARG",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
];

/// A variable used where it can never have a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeProblem {
    /// `item`, `item_json`, `item_index`, `item_id`, `item_total` outside map.
    #[error("`{}` is not available in {phase}", dollar(var))]
    OnlyInMap {
        /// The variable as a path (`item.name`).
        var: String,
        /// Where it was used.
        phase: Phase,
    },
    /// `map.*` outside reduce.
    #[error("`{}` is not available in {phase}", dollar(var))]
    OnlyInReduce {
        /// The variable as a path (`map.total`).
        var: String,
        /// Where it was used.
        phase: Phase,
    },
    /// `merge.*` outside the merge block.
    #[error("`{}` is not available in {phase}", dollar(var))]
    OnlyInMerge {
        /// The variable as a path (`merge.worktree`).
        var: String,
        /// Where it was used.
        phase: Phase,
    },
    /// `map.totl`, `merge.branch`, or a bare `${map}`: no such built-in field.
    #[error("unknown variable `{}`: `{namespace}` has no such field", dollar(var))]
    UnknownField {
        /// The variable as a path (`map.totl`).
        var: String,
        /// `map` or `merge`.
        namespace: &'static str,
        /// The closest field, if one is close.
        suggestion: Option<&'static str>,
    },
}

fn dollar(var: &str) -> String {
    format!("${{{var}}}")
}

impl ScopeProblem {
    /// A one-line hint on where the variable exists or what was meant.
    pub fn hint(&self) -> String {
        match self {
            ScopeProblem::OnlyInMap { var, phase } => {
                let alternative = if *phase == Phase::Reduce {
                    "; in reduce, read the items from `${map.results}`"
                } else {
                    ""
                };
                format!(
                    "`{}` is set only in the map phase, once per work item (in `agent_template` \
                     and its handlers){alternative}",
                    dollar(var)
                )
            }
            ScopeProblem::OnlyInReduce { var, .. } => format!(
                "`{}` is set only in the reduce phase, after all map items ran",
                dollar(var)
            ),
            ScopeProblem::OnlyInMerge { var, .. } => format!(
                "`{}` is set only in the `merge:` block, while a worktree is merged back",
                dollar(var)
            ),
            ScopeProblem::UnknownField {
                namespace,
                suggestion: Some(field),
                ..
            } => format!("did you mean `${{{namespace}.{field}}}`?"),
            ScopeProblem::UnknownField {
                namespace,
                suggestion: None,
                ..
            } => {
                let fields = if *namespace == "map" {
                    MAP_FIELDS
                } else {
                    MERGE_FIELDS
                };
                format!("`{namespace}` has: {}", fields.join(", "))
            }
        }
    }
}

/// Checks that `path` can have a value in `phase`. Phase-bound namespaces
/// (`item*`, `map.*`, `merge.*`) are checked, including their field names;
/// everything else is allowed anywhere and checked at run time.
pub fn check_scope(path: &VarPath, phase: Phase) -> Result<(), ScopeProblem> {
    let root = path.root.as_str();
    let var = || path.to_string();
    if ITEM_ROOTS.contains(&root) {
        return match phase {
            Phase::Map => Ok(()),
            _ => Err(ScopeProblem::OnlyInMap { var: var(), phase }),
        };
    }
    let (namespace, fields, home) = match root {
        "map" => ("map", MAP_FIELDS, Phase::Reduce),
        "merge" => ("merge", MERGE_FIELDS, Phase::Merge),
        _ => return Ok(()),
    };
    let field = match path.segments.first() {
        Some(Segment::Field(field)) => Some(field.as_str()),
        _ => None,
    };
    if !field.is_some_and(|field| fields.contains(&field)) {
        return Err(ScopeProblem::UnknownField {
            var: var(),
            namespace,
            suggestion: field.and_then(|field| suggest(field, fields.iter().copied())),
        });
    }
    match (phase == home, home) {
        (true, _) => Ok(()),
        (false, Phase::Reduce) => Err(ScopeProblem::OnlyInReduce { var: var(), phase }),
        (false, _) => Err(ScopeProblem::OnlyInMerge { var: var(), phase }),
    }
}

/// True for the roots prodigy itself sets: `item`, `item_json`, `item_index`,
/// `item_id`, `item_total`, `map`, `merge`, `shell`, `claude`, `last`, `env`,
/// `workflow`, `step`, `validation`, `worker`, and the positional `ARG`, `1`..`9`.
pub fn is_known_namespace(root: &str) -> bool {
    KNOWN_ROOTS.contains(&root)
}

/// Every built-in root (see [`is_known_namespace`]), e.g. as candidates for
/// [`suggest`].
pub fn known_namespaces() -> &'static [&'static str] {
    KNOWN_ROOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, phase: Phase) -> Result<(), ScopeProblem> {
        check_scope(&VarPath::parse(path).expect("path parses"), phase)
    }

    const ALL: [Phase; 5] = [
        Phase::Standard,
        Phase::Setup,
        Phase::Map,
        Phase::Reduce,
        Phase::Merge,
    ];

    #[test]
    fn item_variables_only_in_map() {
        for root in [
            "item",
            "item.name",
            "item.tags[0]",
            "item_json",
            "item_index",
            "item_id",
            "item_total",
        ] {
            for phase in ALL {
                let result = check(root, phase);
                if phase == Phase::Map {
                    assert_eq!(result, Ok(()), "{root} in {phase}");
                } else {
                    assert!(
                        matches!(result, Err(ScopeProblem::OnlyInMap { .. })),
                        "{root} in {phase}"
                    );
                }
            }
        }
    }

    #[test]
    fn map_variables_only_in_reduce() {
        for field in MAP_FIELDS {
            for phase in ALL {
                let result = check(&format!("map.{field}"), phase);
                if phase == Phase::Reduce {
                    assert_eq!(result, Ok(()));
                } else {
                    assert!(
                        matches!(result, Err(ScopeProblem::OnlyInReduce { .. })),
                        "map.{field} in {phase}"
                    );
                }
            }
        }
        assert_eq!(check("map.results[0].item", Phase::Reduce), Ok(()));
    }

    #[test]
    fn merge_variables_only_in_merge() {
        for field in MERGE_FIELDS {
            assert_eq!(check(&format!("merge.{field}"), Phase::Merge), Ok(()));
            assert!(matches!(
                check(&format!("merge.{field}"), Phase::Reduce),
                Err(ScopeProblem::OnlyInMerge { .. })
            ));
        }
    }

    #[test]
    fn everything_else_is_allowed_anywhere() {
        let vars = [
            "shell.output",
            "shell.exit_code",
            "shell.attempt",
            "claude.output",
            "last.exit_code",
            "last.output",
            "env.HOME",
            "workflow.name",
            "step.files_changed",
            "ARG",
            "1",
            "my_capture",
            "my_capture.field[2]",
            "items",
            "mapping",
            "merger",
        ];
        for var in vars {
            for phase in ALL {
                assert_eq!(check(var, phase), Ok(()), "{var} in {phase}");
            }
        }
    }

    #[test]
    fn messages_and_hints() {
        let problem = check("map.total", Phase::Map).expect_err("out of scope");
        assert_eq!(
            problem.to_string(),
            "`${map.total}` is not available in the map phase"
        );
        assert_eq!(
            problem.hint(),
            "`${map.total}` is set only in the reduce phase, after all map items ran"
        );

        let problem = check("item.name", Phase::Reduce).expect_err("out of scope");
        assert_eq!(
            problem.to_string(),
            "`${item.name}` is not available in the reduce phase"
        );
        assert!(
            problem.hint().contains("`${map.results}`"),
            "{}",
            problem.hint()
        );
        assert!(
            !check("item", Phase::Setup)
                .expect_err("out")
                .hint()
                .contains("map.results")
        );

        let problem = check("merge.worktree", Phase::Standard).expect_err("out of scope");
        assert_eq!(
            problem.to_string(),
            "`${merge.worktree}` is not available in a standard workflow"
        );
        assert!(problem.hint().contains("`merge:` block"));
    }

    #[test]
    fn unknown_fields_suggest_the_closest() {
        let problem = check("map.totl", Phase::Reduce).expect_err("typo");
        assert_eq!(
            problem.to_string(),
            "unknown variable `${map.totl}`: `map` has no such field"
        );
        assert_eq!(problem.hint(), "did you mean `${map.total}`?");
        let problem = check("merge.source", Phase::Merge).expect_err("unknown");
        assert_eq!(
            problem.hint(),
            "`merge` has: worktree, source_branch, target_branch, session_id"
        );
        let problem = check("map", Phase::Reduce).expect_err("bare namespace");
        assert!(problem.hint().starts_with("`map` has: total, successful"));
        assert!(matches!(
            check("map[0]", Phase::Reduce),
            Err(ScopeProblem::UnknownField { .. })
        ));
    }

    #[test]
    fn known_roots() {
        for root in [
            "item",
            "item_total",
            "map",
            "merge",
            "shell",
            "claude",
            "last",
            "env",
            "workflow",
            "step",
            "ARG",
            "9",
        ] {
            assert!(is_known_namespace(root), "{root}");
        }
        for root in ["items", "Item", "ARGS", "0", "10", "my_capture", ""] {
            assert!(!is_known_namespace(root), "{root}");
        }
        assert_eq!(known_namespaces().len(), KNOWN_ROOTS.len());
    }
}
