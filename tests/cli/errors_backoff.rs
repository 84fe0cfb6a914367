//! `error_policy.retry_config` backoff strategies, timed: a flaky map item fails a few
//! times (a counter file), then succeeds; the `--events` file records each retry
//! (`node_retrying` with `delay_ms` and `ts`) and each attempt's start (`node_started`
//! with `ts`), so the waits between attempts are measured, not assumed.

use crate::support::{Output, Test, events_of, flaky_script, ts_ms};

/// How late a retry may start after its delay and still pass (a loaded 2-core CI box).
const SLACK_MS: f64 = 900.0;

/// One map item that fails `fails` times before it succeeds, retried per `backoff`.
fn flaky_item(fails: u32, attempts: u32, backoff: &str) -> Output {
    Test::new()
        .file("flaky.sh", flaky_script(fails))
        .file("items.json", "[1]")
        .workflow(&format!(
            "name: backoff
isolation: none
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: sh flaky.sh count
error_policy:
  retry_config:
    max_attempts: {attempts}
    backoff: {backoff}
"
        ))
        .args(["--events", "events.jsonl"])
        .run_limited()
}

/// Asserts the recorded delays and that each attempt started no earlier than its delay
/// after the failure before it (and not much later).
#[track_caller]
fn assert_delays(output: &Output, expected: &[u64]) {
    output.success();
    assert_eq!(
        output.read("count").trim(),
        (expected.len() + 1).to_string(),
        "every failure was retried until the item passed"
    );
    let events = output.json_lines_of("events.jsonl");
    let retrying = events_of(&events, "node_retrying", "map/item_0");
    let delays: Vec<u64> = retrying
        .iter()
        .map(|e| e["delay_ms"].as_u64().expect("delay_ms"))
        .collect();
    assert_eq!(delays, expected, "delay_ms of the node_retrying events");
    let started = events_of(&events, "node_started", "map/item_0");
    assert_eq!(started.len(), expected.len() + 1, "one start per attempt");
    for (k, (retry, delay)) in retrying.iter().zip(expected).enumerate() {
        assert_eq!(retry["attempt"], k as u64 + 2, "{retry}");
        let waited = ts_ms(started[k + 1]) - ts_ms(retry);
        let delay = *delay as f64;
        assert!(
            waited >= delay - 2.0 && waited < delay + SLACK_MS,
            "attempt {} started {waited:.1} ms after the failure, expected {delay} ms",
            k + 2
        );
        let start_to_start = ts_ms(started[k + 1]) - ts_ms(started[k]);
        assert!(
            start_to_start >= delay - 2.0,
            "attempts {} and {} started {start_to_start:.1} ms apart",
            k + 1,
            k + 2
        );
    }
}

#[test]
fn fixed_backoff_waits_the_same_delay_before_each_retry() {
    let output = flaky_item(2, 3, "{type: fixed, delay: 200}");
    assert_delays(&output, &[200, 200]);
}

#[test]
fn linear_backoff_adds_the_increment_each_retry() {
    let output = flaky_item(2, 3, "{type: linear, initial: 100, increment: 250}");
    assert_delays(&output, &[100, 350]);
}

#[test]
fn exponential_backoff_multiplies_the_delay_each_retry() {
    let output = flaky_item(2, 3, "{type: exponential, initial: 100, multiplier: 3}");
    assert_delays(&output, &[100, 300]);
}

#[test]
fn fibonacci_backoff_follows_the_fibonacci_sequence() {
    // Three failures: 1, 1, 2 times the initial delay (two would not tell it from fixed).
    let output = flaky_item(3, 4, "{type: fibonacci, initial: 120}");
    assert_delays(&output, &[120, 120, 240]);
}

#[test]
fn max_delay_caps_a_growing_backoff() {
    let output = flaky_item(
        3,
        4,
        "{type: exponential, initial: 100, multiplier: 4, max_delay: 250}",
    );
    assert_delays(&output, &[100, 250, 250]);
}

#[test]
fn max_attempts_bounds_the_retries_and_the_item_goes_to_the_dlq() {
    let output = flaky_item(5, 3, "{type: fixed, delay: 50}");
    output.code(3).stderr_has("Failed map/item_0");
    assert_eq!(output.read("count"), "3\n", "max_attempts: 3 runs in all");
    let events = output.json_lines_of("events.jsonl");
    assert_eq!(events_of(&events, "node_retrying", "map/item_0").len(), 2);
    let list = output.next().args(["dlq", "list", "--json"]).run_limited();
    list.success();
    let items = list.json()["items"].clone();
    assert_eq!(items[0]["item_id"], "item_0", "{items}");
    assert_eq!(items[0]["attempts"], 3, "every attempt is in the history");
}

/// The guide's spellings, with its numbers: each strategy's first two delays.
#[test]
fn the_documented_backoff_spellings_give_the_documented_delays() {
    let cases: [(&str, [u64; 2]); 4] = [
        ("{type: fixed, delay: 1000}", [1000, 1000]),
        (
            "{type: linear, initial: 1000, increment: 500}",
            [1000, 1500],
        ),
        (
            "{type: exponential, initial: 1000, multiplier: 2}",
            [1000, 2000],
        ),
        ("{type: fibonacci, initial: 1000}", [1000, 1000]),
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(backoff, delays)| scope.spawn(move || (flaky_item(2, 3, backoff), delays)))
            .collect();
        for run in runs {
            let (output, delays) = run.join().expect("a run thread");
            assert_delays(&output, delays);
        }
    });
}

#[test]
fn the_human_output_announces_each_retry_with_its_delay() {
    let output = flaky_item(1, 2, "{type: fixed, delay: 300}");
    output
        .success()
        .stderr_has("Retrying map/item_0: attempt 2 in 0.3s after: exit code 1")
        .stderr_has("Ran map/item_0");
}
