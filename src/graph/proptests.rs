//! Property tests of the whole front end: arbitrary YAML-ish text goes through parsing,
//! decoding, validation and planning without a panic.

use std::path::PathBuf;

use proptest::prelude::*;

use crate::graph::{PlanOptions, Stage, plan};
use crate::workflow::{LoadOptions, Source, check};

/// Fragments that real workflows are made of, so random text often nearly parses.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("- shell: echo ${item.x}\n".to_string()),
        Just("mode: mapreduce\n".to_string()),
        Just("map:\n  input: items.json\n  agent_template:\n    - shell: x\n".to_string()),
        Just("  json_path: \"$.a[*]\"\n".to_string()),
        Just("  filter: \"a > 1 && b == 'x'\"\n".to_string()),
        Just("commands:\n".to_string()),
        Just("  - claude: /fix\n    on_failure: {claude: /x, max_attempts: 2}\n".to_string()),
        Just("    needs: [a]\n    id: b\n".to_string()),
        Just("error_policy: {on_item_failure: dlq, max_failures: 3}\n".to_string()),
        Just("&a [*a]\n".to_string()),
        Just("{[\n".to_string()),
        Just("  timeout: 5m\n".to_string()),
        "[ -~\n\t]{0,40}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn front_end_never_panics(parts in proptest::collection::vec(fragment(), 0..8)) {
        let text: String = parts.concat();
        let source = Source { path: PathBuf::from("p.yml"), text };
        let checked = check(&source, LoadOptions::default());
        if let Some(workflow) = checked.workflow {
            let dir = std::env::temp_dir();
            let options = PlanOptions { root: &dir, profile: None, stage: Stage::Whole, os_env: &Default::default() };
            let _ = plan(workflow, options);
        }
    }
}
