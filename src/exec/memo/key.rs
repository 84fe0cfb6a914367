//! A node's [`ActionKey`] at the moment it is ready: its definition, item, env,
//! arguments, declared inputs or starting tree, dependencies' outputs and the claude
//! version.

use super::{Memo, MemoError};
use crate::cache::{ACTION_KEY_VERSION, ActionKey, Digest, InputStamp, dependency, to_hex};
use crate::graph::hash::digest_of;
use crate::graph::{NodeKind, Plan, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::Step;

impl Memo {
    /// The node's key, digest and input stamps; `None` for `cache: false`.
    pub(super) fn key(
        &mut self,
        plan: &Plan,
        node: &PlanNode,
        deps: &[&str],
    ) -> Result<Option<(ActionKey, Digest, Vec<InputStamp>)>, MemoError> {
        let steps: Vec<&Step> = match &node.work {
            Work::Step { .. } => plan.step(node).into_iter().collect(),
            Work::Item { .. } => crate::graph::build::phase_steps(plan.workflow(), Phase::Map)
                .iter()
                .collect(),
            Work::Pending { .. } => return Ok(None),
        };
        if steps.iter().any(|s| !s.cache) {
            return Ok(None);
        }
        let (definition, item) = match &node.work {
            Work::Step { phase, index } => (self.step_definition(plan, *phase, *index), None),
            Work::Item { item, .. } => (
                self.template.clone().unwrap_or_default(),
                Some(to_hex(&digest_of(item))),
            ),
            Work::Pending { .. } => return Ok(None),
        };
        let declared: Option<Vec<String>> = match node.work {
            Work::Step { .. } => steps.first().and_then(|s| s.inputs.clone()),
            _ => {
                let all: Vec<String> = steps
                    .iter()
                    .flat_map(|s| s.inputs.iter().flatten().cloned())
                    .collect();
                Some(all)
            }
        };
        let (inputs, stamps, starting_tree) = match declared {
            Some(patterns) if patterns.is_empty() => (None, Vec::new(), None),
            Some(patterns) => {
                let (digests, stamps) = self.inputs.resolve(&patterns)?;
                (Some(digests), stamps, None)
            }
            None => (None, Vec::new(), Some(self.tree.digest.clone())),
        };
        let dependencies = deps
            .iter()
            .map(|id| {
                let output = self.outputs.get(*id).copied().unwrap_or(Digest([0; 32]));
                dependency(id, &output)
            })
            .collect();
        let uses_claude = steps.iter().any(|s| uses_claude(s));
        let key = ActionKey {
            schema_version: ACTION_KEY_VERSION,
            // A `dlq` node is a map item run again: the same key, so it stays cached
            // once it leaves the DLQ.
            kind: if node.kind.is_item() {
                NodeKind::MapItem.as_str()
            } else {
                node.kind.as_str()
            },
            definition,
            item,
            env: self.env.clone(),
            arguments: to_hex(&digest_of(&(&self.arguments, self.iteration))),
            inputs,
            starting_tree,
            dependencies,
            claude_version: uses_claude.then(|| self.claude_version()),
        };
        let digest = key.digest();
        Ok(Some((key, digest, stamps)))
    }

    fn step_definition(&mut self, plan: &Plan, phase: Phase, index: usize) -> String {
        self.definitions
            .entry((phase, index))
            .or_insert_with(|| {
                let step = crate::graph::build::phase_steps(plan.workflow(), phase).get(index);
                to_hex(&digest_of(&step))
            })
            .clone()
    }

    fn claude_version(&mut self) -> String {
        self.claude_version
            .get_or_insert_with(|| crate::exec::claude::version(&self.claude_bin))
            .clone()
    }
}

/// True when a step (or a handler inside it) runs claude.
fn uses_claude(step: &Step) -> bool {
    serde_json::to_string(step).is_ok_and(|s| s.contains("{\"claude\":\""))
}
