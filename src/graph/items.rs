//! Expanding a map's items when planning: read the input file (when it exists and
//! setup does not write it) and run the input pipeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::workflow::input::{
    ExprError, Filter, ItemsError, JsonPath, Pipeline, SortSpec, parse_root,
};
use crate::workflow::interpolate::{Segment, Template};
use crate::workflow::schema::{MapPhase, MapReduce, Step};

use super::node::PendingReason;

/// Why a map's items could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ItemsLoadError {
    /// The input file is missing and no setup step or command makes it.
    #[error("map input file `{}` does not exist", path.display())]
    NotFound {
        /// The file, relative to the workflow root.
        path: PathBuf,
    },
    /// The input file could not be read.
    #[error("cannot read map input `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input file is not JSON, JSON Lines or text.
    #[error("map input `{}`: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: ItemsError,
    },
    /// An expression of the pipeline does not parse (validation reports these first).
    #[error("map `{key}`: {source}")]
    Expression {
        /// `json_path`, `filter` or `sort_by`.
        key: &'static str,
        /// The parse error.
        #[source]
        source: ExprError,
    },
}

/// The items of a map, or why they are known only at run time.
#[derive(Debug)]
pub enum Items {
    /// The items after the whole pipeline.
    Known(Vec<serde_json::Value>),
    /// Items come at run time.
    Pending(PendingReason),
}

/// The input pipeline of a map phase.
pub fn pipeline(map: &MapPhase) -> Result<Pipeline, ItemsLoadError> {
    let expr = |key: &'static str| move |source| ItemsLoadError::Expression { key, source };
    Ok(Pipeline {
        json_path: map
            .json_path
            .as_deref()
            .map(JsonPath::parse)
            .transpose()
            .map_err(expr("json_path"))?,
        filter: map
            .filter
            .as_deref()
            .map(Filter::parse)
            .transpose()
            .map_err(expr("filter"))?,
        sort_by: map
            .sort_by
            .as_deref()
            .map(SortSpec::parse)
            .transpose()
            .map_err(expr("sort_by"))?,
        distinct: map.distinct.clone(),
        offset: map.offset,
        max_items: map.max_items,
    })
}

/// True when `input` names a file rather than a command: it exists, or it looks like a
/// data file name (one word ending in `.json`, `.jsonl`, `.ndjson` or `.txt`).
pub fn is_file_input(root: &Path, input: &str) -> bool {
    let input = input.trim();
    root.join(input).is_file()
        || (!input.contains(char::is_whitespace)
            && [".json", ".jsonl", ".ndjson", ".txt"]
                .iter()
                .any(|ext| input.ends_with(ext)))
}

/// Reads the map's items relative to `root`, or says why they come at run time.
/// `${VAR}` in the input is resolved from `env` (the workflow's static env and the
/// passthrough variables); an input that needs other variables is pending.
pub fn load(
    root: &Path,
    mr: &MapReduce,
    env: &BTreeMap<String, String>,
) -> Result<Items, ItemsLoadError> {
    let Some(input) = resolve_input(mr.map.input.trim(), env) else {
        return Ok(Items::Pending(PendingReason::Variables));
    };
    let input = input.as_str();
    if !is_file_input(root, input) {
        return Ok(Items::Pending(PendingReason::Command));
    }
    let setup = mr.setup.as_ref().map_or(&[][..], |s| &s.commands[..]);
    let exists = root.join(input).is_file();
    if setup_mentions(setup, input) || (!exists && !setup.is_empty()) {
        return Ok(Items::Pending(PendingReason::WrittenBySetup));
    }
    let path = root.join(input);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ItemsLoadError::NotFound { path: input.into() },
        _ => ItemsLoadError::Read {
            path: input.into(),
            source,
        },
    })?;
    let document = parse_root(&text).map_err(|source| ItemsLoadError::Parse {
        path: input.into(),
        source,
    })?;
    Ok(Items::Known(pipeline(&mr.map)?.apply(document)))
}

/// The input with `${NAME}` / `${env.NAME}` replaced from `env`; `None` when it uses
/// variables only known at run time.
fn resolve_input(input: &str, env: &BTreeMap<String, String>) -> Option<String> {
    let template = Template::parse(input).ok()?;
    template
        .render(&|path| {
            let name = match (path.root.as_str(), path.segments.as_slice()) {
                ("env", [Segment::Field(name)]) => name.as_str(),
                (name, []) => name,
                _ => return None,
            };
            env.get(name).map(|v| serde_json::Value::String(v.clone()))
        })
        .ok()
}

/// Whether a setup step names the input file (so it may write it).
fn setup_mentions(steps: &[Step], input: &str) -> bool {
    let name = Path::new(input)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(input);
    let json = serde_json::to_string(steps).unwrap_or_default();
    json.contains(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_files_from_commands() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("items"), "[]").unwrap();
        assert!(is_file_input(dir.path(), "items"));
        assert!(is_file_input(dir.path(), "work/items.json"));
        assert!(!is_file_input(dir.path(), "find . -name '*.json'"));
        assert!(!is_file_input(dir.path(), "ls"));
    }
}
