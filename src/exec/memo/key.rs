//! A node's [`ActionKey`] at the moment it is ready: its definition, item, env,
//! arguments, declared inputs or starting tree, dependencies' outputs and the claude
//! version.

use super::{Memo, MemoError};
use crate::cache::{ACTION_KEY_VERSION, ActionKey, Digest, InputStamp, dependency, to_hex};
use crate::graph::hash::digest_of;
use crate::graph::{NodeKind, Plan, PlanNode, Work};
use crate::workflow::interpolate::Phase;
use crate::workflow::schema::Step;

/// What keys need of one step, or of the map's agent template: computed once per job.
#[derive(Debug, Clone)]
pub(super) struct Definition {
    /// The digest of the step (or of the template with the failure handlers and policy).
    digest: String,
    /// Every step may be cached (no `cache: false`).
    cacheable: bool,
    /// Declared `inputs:`; `None` when the step declares none (the starting tree).
    inputs: Option<Vec<String>>,
    /// A claude step is in it.
    uses_claude: bool,
}

impl Definition {
    /// The definition of `steps`; `digest` names them with what else decides them.
    fn new(steps: &[Step], digest: String, template: bool) -> Definition {
        let inputs = if template {
            // A map item is keyed by its item, plus any inputs its steps declare.
            Some(
                steps
                    .iter()
                    .flat_map(|s| s.inputs.iter().flatten().cloned())
                    .collect(),
            )
        } else {
            steps.first().and_then(|s| s.inputs.clone())
        };
        Definition {
            digest,
            cacheable: steps.iter().all(|s| s.cache),
            inputs,
            uses_claude: steps.iter().any(uses_claude),
        }
    }
}

/// Where a definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Site {
    /// Step `index` of `phase`.
    Step(Phase, usize),
    /// The map's agent template.
    Template,
}

impl Memo {
    /// The node's key, digest and input stamps; `None` for `cache: false` (and for a
    /// map whose items are not known yet).
    pub(super) fn key(
        &mut self,
        plan: &Plan,
        node: &PlanNode,
        deps: &[&str],
    ) -> Result<Option<(ActionKey, Digest, Vec<InputStamp>)>, MemoError> {
        let (site, item) = match &node.work {
            Work::Step { phase, index } => (Site::Step(*phase, *index), None),
            Work::Item { item, .. } => (Site::Template, Some(to_hex(&digest_of(item)))),
            Work::Pending { .. } => return Ok(None),
        };
        let definition = self.definition(plan, site);
        if !definition.cacheable {
            return Ok(None);
        }
        let (inputs, stamps, starting_tree) = match &definition.inputs {
            Some(patterns) if patterns.is_empty() => (None, Vec::new(), None),
            Some(patterns) => {
                let (digests, stamps) = self.inputs.resolve(patterns)?;
                (Some(digests), stamps, None)
            }
            None => (None, Vec::new(), Some(self.tree.digest.clone())),
        };
        let deps: Vec<&str> = match (&self.item_deps, node.kind.is_item()) {
            (Some(ids), true) => ids.iter().map(String::as_str).collect(),
            _ => deps.to_vec(),
        };
        let dependencies = deps
            .iter()
            .map(|id| {
                let output = self.outputs.get(*id).copied().unwrap_or(Digest([0; 32]));
                dependency(id, &output)
            })
            .collect();
        let key = ActionKey {
            schema_version: ACTION_KEY_VERSION,
            // A `dlq` node is a map item run again: the same key, so it stays cached
            // once it leaves the DLQ.
            kind: if node.kind.is_item() {
                NodeKind::MapItem.as_str()
            } else {
                node.kind.as_str()
            },
            definition: definition.digest,
            item,
            env: self.env.clone(),
            arguments: self.arguments_digest(),
            inputs,
            starting_tree,
            dependencies,
            claude_version: definition.uses_claude.then(|| self.claude_version()),
        };
        let digest = key.digest();
        Ok(Some((key, digest, stamps)))
    }

    fn definition(&mut self, plan: &Plan, site: Site) -> Definition {
        if let Some(known) = self.definitions.get(&site) {
            return known.clone();
        }
        let workflow = plan.workflow();
        let definition = match site {
            Site::Step(phase, index) => {
                let steps = crate::graph::build::phase_steps(workflow, phase);
                let step = steps.get(index..=index).unwrap_or_default();
                Definition::new(step, to_hex(&digest_of(&step.first())), false)
            }
            Site::Template => {
                let steps = crate::graph::build::phase_steps(workflow, Phase::Map);
                let digest = digest_of(&(steps, &workflow.handlers, &workflow.error_policy));
                Definition::new(steps, to_hex(&digest), true)
            }
        };
        self.definitions.insert(site, definition.clone());
        definition
    }

    /// `--args`, `--param`, the workflow's name and the iteration, hashed once per
    /// iteration.
    fn arguments_digest(&mut self) -> String {
        let (arguments, iteration) = (&self.arguments, self.iteration);
        self.arguments_digest
            .get_or_insert_with(|| to_hex(&digest_of(&(arguments, iteration))))
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
