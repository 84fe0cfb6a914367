//! Front-end benchmarks: validating a 1,000-step workflow (target: under 50 ms) and
//! compiling a 100,000-item map into a sealed, hashed plan. Run with `cargo bench`;
//! the allocation profiler reports peak memory ("max alloc") next to the times.

use std::path::PathBuf;

use divan::AllocProfiler;
use prodigy::graph::{PlanOptions, plan};
use prodigy::workflow::{LoadOptions, Source, check};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

fn source(text: String) -> Source {
    Source {
        path: PathBuf::from("bench.yml"),
        text,
    }
}

/// 1,000 steps with timeouts, env, captures, handlers and variables.
fn thousand_steps() -> String {
    let mut text = String::from("name: big\nenv:\n  LEVEL: \"3\"\ncommands:\n");
    for i in 0..1000_u32 {
        text.push_str(&format!(
            "  - shell: \"echo step {i} ${{LEVEL}} ${{out_{prev}:-none}}\"\n    id: s{i}\n    timeout: 30s\n    capture: out_{i}\n    env: {{N: \"{i}\"}}\n    on_failure:\n      claude: \"/fix step {i} ${{shell.output}}\"\n      max_attempts: 2\n",
            prev = i.saturating_sub(1)
        ));
    }
    text
}

#[divan::bench]
fn validate_1000_steps(bencher: divan::Bencher) {
    let src = source(thousand_steps());
    bencher.bench(|| {
        let checked = check(divan::black_box(&src), LoadOptions::default());
        assert!(checked.workflow.is_some());
    });
}

#[divan::bench(args = [1_000, 100_000])]
fn compile_map(bencher: divan::Bencher, items: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let list: Vec<serde_json::Value> = (0..items)
        .map(
            |i| serde_json::json!({"id": i, "path": format!("src/module_{i}.rs"), "score": i % 97}),
        )
        .collect();
    std::fs::write(
        dir.path().join("items.json"),
        serde_json::to_vec(&list).expect("json"),
    )
    .expect("write");
    let text = "name: wide\nmode: mapreduce\nmap:\n  input: items.json\n  filter: \"score >= 0\"\n  agent_template:\n    - claude: \"/document ${item.path}\"\n    - shell: \"cargo check\"\nreduce:\n  - shell: \"echo ${map.successful}\"\n";
    let workflow = check(&source(text.to_string()), LoadOptions::default())
        .workflow
        .expect("valid");
    bencher.bench(|| {
        let plan = plan(
            workflow.clone(),
            PlanOptions {
                root: dir.path(),
                profile: None,
                os_env: &Default::default(),
                stage: prodigy::graph::Stage::Whole,
            },
        )
        .expect("plan");
        assert_eq!(plan.len(), items + 1);
    });
}
