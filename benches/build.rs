//! The freshness path of a no-op build: a 10,000-item map whose results are all in the
//! cache, decided node by node (`Memo::decide_plan`, what `build --check` and
//! `--dry-run` do) without running anything. `benches/ninja.sh` times the whole binary
//! against ninja; this isolates prodigy's own decision cost. Run with `cargo bench`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prodigy::exec::memo::{CacheMode, CacheStatus, Memo, MemoSetup};
use prodigy::exec::outcome::{NodeResult, NodeStatus};
use prodigy::graph::{Plan, PlanOptions, Stage, plan};
use prodigy::workflow::{LoadOptions, Source, Workflow, check};

fn main() {
    divan::main();
}

const WORKFLOW: &str = "name: wide\nisolation: none\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: \"true\"\n";

fn workflow() -> Workflow {
    let source = Source {
        path: PathBuf::from("prodigy.yml"),
        text: WORKFLOW.to_string(),
    };
    check(&source, LoadOptions::default())
        .workflow
        .expect("valid")
}

fn compile(root: &Path, workflow: &Workflow, os_env: &BTreeMap<String, String>) -> Plan {
    let options = PlanOptions {
        root,
        profile: None,
        stage: Stage::Whole,
        os_env,
    };
    plan(workflow.clone(), options).expect("plan")
}

fn setup<'a>(
    root: &'a Path,
    workflow: &'a Workflow,
    os_env: &'a BTreeMap<String, String>,
    mode: CacheMode,
) -> MemoSetup<'a> {
    static NO_PARAMS: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let params = &NO_PARAMS;
    MemoSetup {
        root,
        state_root: root,
        workflow,
        workflow_file: Some(PathBuf::from("prodigy.yml")),
        profile: None,
        os_env,
        args: &[],
        params,
        claude_bin: "claude",
        mode,
    }
}

/// A repository whose cache holds a result for every item: a recording pass that
/// "runs" each node with a succeeded result.
fn populated(items: usize) -> (tempfile::TempDir, Workflow) {
    let dir = tempfile::tempdir().expect("tempdir");
    let list: Vec<serde_json::Value> = (0..items).map(|i| serde_json::json!({"n": i})).collect();
    std::fs::write(
        dir.path().join("items.json"),
        serde_json::to_vec(&list).expect("json"),
    )
    .expect("write");
    let workflow = workflow();
    let os_env = BTreeMap::new();
    let plan = compile(dir.path(), &workflow, &os_env);
    let mut memo = Memo::open(
        setup(dir.path(), &workflow, &os_env, CacheMode::Record),
        false,
        &mut |_| {},
    )
    .expect("open");
    let ran = NodeResult {
        status: NodeStatus::Succeeded,
        duration: Duration::from_millis(1),
        cost: Default::default(),
        output: Default::default(),
        warnings: Vec::new(),
    };
    for (_, node) in plan.nodes() {
        let _ = memo.lookup(&plan, node, &[]);
        memo.record(node, &ran, None);
    }
    memo.finish("bench").expect("finish");
    (dir, workflow)
}

#[divan::bench(args = [1_000, 10_000], sample_count = 20)]
fn decide_all_cached(bencher: divan::Bencher, items: usize) {
    let (dir, workflow) = populated(items);
    let os_env = BTreeMap::new();
    let plan = compile(dir.path(), &workflow, &os_env);
    bencher.bench(|| {
        let mut memo = Memo::read_only(setup(
            dir.path(),
            &workflow,
            &os_env,
            CacheMode::Build { force: false },
        ))
        .expect("open");
        let states = memo.decide_plan(&plan);
        assert!(states.iter().all(|s| *s == CacheStatus::Cached));
    });
}
