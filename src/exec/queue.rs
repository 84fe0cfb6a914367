//! The ready queue: which nodes may start, as a pure data structure (no threads, no
//! processes), so every scheduling rule is unit-tested alone.
//!
//! Nodes are numbered in plan order; among ready nodes the lowest number starts first,
//! so runs follow the file (setup, items in input order, reduce). A failure either
//! blocks its dependents (they are skipped, transitively) or not (a failed map item:
//! reduce still runs and sees `map.failed`). `stop` is fail-fast: nothing new starts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How a node ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Dependents may run.
    Succeeded,
    /// The node failed; `blocks` says whether dependents are skipped.
    Failed {
        /// Skip the dependents (steps) or let them run (map items before reduce).
        blocks: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    Running,
    Done,
}

/// Tracks what is waiting, ready, running and done.
#[derive(Debug)]
pub struct ReadyQueue {
    dependents: Vec<Vec<usize>>,
    missing: Vec<usize>,
    state: Vec<State>,
    ready: BinaryHeap<Reverse<usize>>,
    running: usize,
    stopped: bool,
}

impl ReadyQueue {
    /// A queue over nodes `0..deps.len()`, where `deps[i]` lists what node `i` waits for.
    pub fn new(deps: &[Vec<usize>]) -> Self {
        let mut dependents = vec![Vec::new(); deps.len()];
        for (node, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(node);
            }
        }
        let missing: Vec<usize> = deps.iter().map(Vec::len).collect();
        let ready = (0..deps.len())
            .filter(|&n| missing[n] == 0)
            .map(Reverse)
            .collect();
        let state = missing
            .iter()
            .map(|&m| if m == 0 { State::Ready } else { State::Waiting })
            .collect();
        ReadyQueue {
            dependents,
            missing,
            state,
            ready,
            running: 0,
            stopped: false,
        }
    }

    /// Marks a node done before the run starts (already finished in an earlier stage).
    pub fn mark_done(&mut self, node: usize) -> Vec<usize> {
        if self.state[node] == State::Ready {
            self.state[node] = State::Running;
            self.running += 1;
        }
        self.finish(node, Finish::Succeeded)
    }

    /// The node `pop_ready` would return, without starting it.
    pub fn peek_ready(&mut self) -> Option<usize> {
        if self.stopped {
            return None;
        }
        while let Some(&Reverse(node)) = self.ready.peek() {
            if self.state[node] == State::Ready {
                return Some(node);
            }
            self.ready.pop();
        }
        None
    }

    /// The next node to start, lowest number first; `None` when none is ready or the
    /// queue was stopped.
    pub fn pop_ready(&mut self) -> Option<usize> {
        if self.stopped {
            return None;
        }
        while let Some(Reverse(node)) = self.ready.pop() {
            if self.state[node] == State::Ready {
                self.state[node] = State::Running;
                self.running += 1;
                return Some(node);
            }
        }
        None
    }

    /// Records that a running node finished. Returns the nodes skipped because of it
    /// (dependents of a blocking failure, transitively), in node order.
    pub fn finish(&mut self, node: usize, finish: Finish) -> Vec<usize> {
        if self.state[node] == State::Running {
            self.running -= 1;
        }
        self.state[node] = State::Done;
        let mut skipped = Vec::new();
        if let Finish::Failed { blocks: true } = finish {
            self.skip_dependents(node, &mut skipped);
            skipped.sort_unstable();
            return skipped;
        }
        for i in 0..self.dependents[node].len() {
            let dep = self.dependents[node][i];
            self.missing[dep] -= 1;
            if self.missing[dep] == 0 && self.state[dep] == State::Waiting {
                self.state[dep] = State::Ready;
                self.ready.push(Reverse(dep));
            }
        }
        skipped
    }

    fn skip_dependents(&mut self, node: usize, skipped: &mut Vec<usize>) {
        let mut stack = self.dependents[node].clone();
        while let Some(dep) = stack.pop() {
            if matches!(self.state[dep], State::Waiting | State::Ready) {
                self.state[dep] = State::Done;
                skipped.push(dep);
                stack.extend(self.dependents[dep].iter().copied());
            }
        }
    }

    /// Fail-fast: nothing new starts. Returns every node that will now never start.
    pub fn stop(&mut self) -> Vec<usize> {
        self.stopped = true;
        let never: Vec<usize> = (0..self.state.len())
            .filter(|&n| matches!(self.state[n], State::Waiting | State::Ready))
            .collect();
        for &n in &never {
            self.state[n] = State::Done;
        }
        never
    }

    /// How many nodes are running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// True when nothing runs and nothing more can start. Amortised O(1): stale heap
    /// entries are dropped as they are met (a scan of the heap here made big maps
    /// quadratic).
    pub fn is_finished(&mut self) -> bool {
        self.running == 0 && (self.stopped || self.peek_ready().is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a -> b -> d, a -> c -> d
    fn diamond() -> ReadyQueue {
        ReadyQueue::new(&[vec![], vec![0], vec![0], vec![1, 2]])
    }

    #[test]
    fn releases_nodes_when_all_dependencies_finish() {
        let mut q = diamond();
        assert_eq!(q.pop_ready(), Some(0));
        assert_eq!(q.pop_ready(), None);
        q.finish(0, Finish::Succeeded);
        assert_eq!(
            (q.pop_ready(), q.pop_ready(), q.pop_ready()),
            (Some(1), Some(2), None)
        );
        q.finish(1, Finish::Succeeded);
        assert_eq!(q.pop_ready(), None, "d still waits for c");
        q.finish(2, Finish::Succeeded);
        assert_eq!(q.pop_ready(), Some(3));
        q.finish(3, Finish::Succeeded);
        assert!(q.is_finished());
    }

    #[test]
    fn blocking_failure_skips_dependents_transitively() {
        let mut q = diamond();
        q.pop_ready();
        let skipped = q.finish(0, Finish::Failed { blocks: true });
        assert_eq!(skipped, vec![1, 2, 3]);
        assert!(q.is_finished());
    }

    #[test]
    fn keep_going_runs_independent_branches() {
        let mut q = diamond();
        q.pop_ready();
        q.finish(0, Finish::Succeeded);
        q.pop_ready();
        q.pop_ready();
        assert_eq!(q.finish(1, Finish::Failed { blocks: true }), vec![3]);
        assert!(!q.is_finished(), "c is still running");
        q.finish(2, Finish::Succeeded);
        assert!(q.is_finished());
    }

    #[test]
    fn non_blocking_failures_let_reduce_run() {
        // items 0 and 1, reduce 2 waits for both.
        let mut q = ReadyQueue::new(&[vec![], vec![], vec![0, 1]]);
        q.pop_ready();
        q.pop_ready();
        q.finish(0, Finish::Failed { blocks: false });
        q.finish(1, Finish::Succeeded);
        assert_eq!(q.pop_ready(), Some(2));
    }

    #[test]
    fn stop_prevents_new_starts_but_tracks_running() {
        let mut q = ReadyQueue::new(&[vec![], vec![], vec![0]]);
        assert_eq!(q.pop_ready(), Some(0));
        assert_eq!(q.stop(), vec![1, 2]);
        assert_eq!(q.pop_ready(), None);
        assert!(!q.is_finished());
        q.finish(0, Finish::Succeeded);
        assert!(q.is_finished());
    }

    #[test]
    fn ready_nodes_start_in_plan_order() {
        let mut q = ReadyQueue::new(&[vec![], vec![], vec![], vec![]]);
        let order: Vec<_> = std::iter::from_fn(|| q.pop_ready()).collect();
        assert_eq!(order, vec![0, 1, 2, 3]);
    }

    #[test]
    fn mark_done_releases_dependents() {
        let mut q = ReadyQueue::new(&[vec![], vec![0]]);
        q.mark_done(0);
        assert_eq!(q.pop_ready(), Some(1));
    }
}
