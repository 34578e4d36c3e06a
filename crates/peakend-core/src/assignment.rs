//! Which journey each part of the organisation lives by. A journey is assigned to an
//! org node; a hall lives by the journey of its nearest ancestor that has one (itself
//! included), else by the built-in `service-hall`. The study's governance rule (regions
//! may add key moments but not remove any) holds down the tree: a journey assigned
//! under a node that has one must be that journey or extend it.

use std::collections::BTreeMap;
use std::fmt;

use crate::builtin;
use crate::id::{JourneyKey, MomentKey, OrgNodeId};
use crate::journey::Journey;
use crate::org::OrgTree;

/// The journeys assigned to org nodes (each node's own, not inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignments(BTreeMap<OrgNodeId, JourneyKey>);

/// Where a node's effective journey comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub journey: JourneyKey,
    /// The node that carries the assignment; `None` for the built-in default.
    pub from: Option<OrgNodeId>,
}

impl Assignments {
    pub fn new(own: BTreeMap<OrgNodeId, JourneyKey>) -> Assignments {
        Assignments(own)
    }

    pub fn own(&self, node: &OrgNodeId) -> Option<&JourneyKey> {
        self.0.get(node)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OrgNodeId, &JourneyKey)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The journey `node` lives by: its nearest ancestor's assignment (itself first).
    /// A contact centre takes only its own assignment: a region's journey is a hall's
    /// (its moments are a visit's), so a centre otherwise lives by the `hotline`.
    pub fn effective(&self, tree: &OrgTree, node: &OrgNodeId) -> Effective {
        let level = tree.get(node).map(|n| n.level);
        let reach = if level == Some(crate::org::OrgLevel::Centre) {
            1
        } else {
            usize::MAX
        };
        tree.ancestry(node)
            .into_iter()
            .take(reach)
            .find_map(|n| {
                self.0.get(&n.id).map(|k| Effective {
                    journey: k.clone(),
                    from: Some(n.id.clone()),
                })
            })
            .unwrap_or_else(|| default_for(tree.get(node).map(|n| n.level)))
    }

    /// The assignment that binds `node` from above: the nearest strict ancestor's.
    fn above(&self, tree: &OrgTree, node: &OrgNodeId) -> Option<(OrgNodeId, JourneyKey)> {
        // Nothing above binds a centre (see `effective`).
        if tree
            .get(node)
            .is_some_and(|n| n.level == crate::org::OrgLevel::Centre)
        {
            return None;
        }
        tree.ancestry(node)
            .into_iter()
            .skip(1)
            .find_map(|n| self.0.get(&n.id).map(|k| (n.id.clone(), k.clone())))
    }
}

impl Assignments {
    /// Fills each nested node's own and effective journey.
    pub fn annotate(&self, tree: &OrgTree, nodes: &mut [crate::org::OrgTreeNode]) {
        for n in nodes {
            n.journey = self.own(&n.id).cloned();
            n.effective_journey = Some(self.effective(tree, &n.id).journey);
            self.annotate(tree, &mut n.children);
        }
    }
}

/// The built-in journey a node lives by when nothing above it has one: a contact
/// centre the `hotline`, everything else the `service-hall`.
pub fn default_journey(level: Option<crate::org::OrgLevel>) -> JourneyKey {
    let key = match level {
        Some(crate::org::OrgLevel::Centre) => builtin::HOTLINE,
        _ => builtin::SERVICE_HALL,
    };
    JourneyKey::parse(key).expect("the built-in key is valid")
}

fn default_for(level: Option<crate::org::OrgLevel>) -> Effective {
    Effective {
        journey: default_journey(level),
        from: None,
    }
}

/// Why a journey cannot be assigned to a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("node `{0}` not found")]
    UnknownNode(OrgNodeId),
    #[error("journey `{0}` not found")]
    UnknownJourney(JourneyKey),
    /// The journey drops a moment of the journey that binds the node from above.
    #[error(
        "node `{node}`: journey `{journey}` does not keep moment `{moment}` of journey `{binding}` assigned to `{binding_node}`"
    )]
    DropsMoment {
        node: OrgNodeId,
        journey: JourneyKey,
        moment: MomentKey,
        binding: JourneyKey,
        binding_node: OrgNodeId,
    },
    /// The journey keeps every moment but is not that journey or one that extends it.
    #[error(
        "node `{node}`: journey `{journey}` does not extend journey `{binding}` assigned to `{binding_node}`"
    )]
    DoesNotExtend {
        node: OrgNodeId,
        journey: JourneyKey,
        binding: JourneyKey,
        binding_node: OrgNodeId,
    },
}

/// The journeys known to the store, to follow `extends` chains.
pub trait JourneyLookup {
    fn get(&self, key: &JourneyKey) -> Option<&Journey>;
}

impl JourneyLookup for BTreeMap<JourneyKey, Journey> {
    fn get(&self, key: &JourneyKey) -> Option<&Journey> {
        BTreeMap::get(self, key)
    }
}

/// `journey` and the journeys it extends, nearest first (a cycle or a missing parent
/// ends the chain).
pub fn lineage(journeys: &impl JourneyLookup, journey: &JourneyKey) -> Vec<JourneyKey> {
    let mut out = vec![journey.clone()];
    let mut cur = journeys.get(journey).and_then(|j| j.extends().cloned());
    while let Some(k) = cur {
        if out.contains(&k) {
            break;
        }
        cur = journeys.get(&k).and_then(|j| j.extends().cloned());
        out.push(k);
    }
    out
}

/// Checks that `journey` may be assigned to `node`: the node and the journey exist, the
/// journey is the one that binds the node from above or extends it (keeping every one
/// of its moments), and every assignment below the node still extends the new one.
pub fn check_assignment(
    tree: &OrgTree,
    assignments: &Assignments,
    journeys: &impl JourneyLookup,
    node: &OrgNodeId,
    journey: &JourneyKey,
) -> Result<(), AssignmentError> {
    if tree.get(node).is_none() {
        return Err(AssignmentError::UnknownNode(node.clone()));
    }
    if journeys.get(journey).is_none() {
        return Err(AssignmentError::UnknownJourney(journey.clone()));
    }
    if let Some((binding_node, binding)) = assignments.above(tree, node) {
        check_keeps(journeys, node, journey, &binding, &binding_node)?;
    }
    // Below: each node's own assignment must keep the new one (the nearest assigned
    // descendants are enough, since deeper ones were checked against those).
    for n in tree.subtree(node).into_iter().skip(1) {
        if n.level == crate::org::OrgLevel::Centre {
            continue;
        }
        if let Some(own) = assignments.own(&n.id) {
            let binding_here = tree
                .ancestry(&n.id)
                .into_iter()
                .skip(1)
                .find(|a| a.id == *node || assignments.own(&a.id).is_some())
                .map(|a| a.id.clone());
            if binding_here.as_ref() == Some(node) {
                check_keeps(journeys, &n.id, own, journey, node)?;
            }
        }
    }
    Ok(())
}

/// `journey` at `node` must be `binding` (assigned to `binding_node`) or extend it.
fn check_keeps(
    journeys: &impl JourneyLookup,
    node: &OrgNodeId,
    journey: &JourneyKey,
    binding: &JourneyKey,
    binding_node: &OrgNodeId,
) -> Result<(), AssignmentError> {
    let (Some(mine), Some(theirs)) = (journeys.get(journey), journeys.get(binding)) else {
        return Err(AssignmentError::UnknownJourney(binding.clone()));
    };
    if let Some(m) = theirs
        .moments()
        .iter()
        .find(|m| mine.moment(&m.key).is_none())
    {
        return Err(AssignmentError::DropsMoment {
            node: node.clone(),
            journey: journey.clone(),
            moment: m.key.clone(),
            binding: binding.clone(),
            binding_node: binding_node.clone(),
        });
    }
    if !lineage(journeys, journey).contains(binding) {
        return Err(AssignmentError::DoesNotExtend {
            node: node.clone(),
            journey: journey.clone(),
            binding: binding.clone(),
            binding_node: binding_node.clone(),
        });
    }
    Ok(())
}

/// The journey a set of halls can be analysed on together: the nearest journey that
/// every one of theirs is or extends (their common ancestor in the `extends` tree).
pub fn shared_journey<'a>(
    journeys: &impl JourneyLookup,
    of: impl IntoIterator<Item = &'a JourneyKey>,
) -> Option<JourneyKey> {
    let mut lines = of.into_iter().map(|k| lineage(journeys, k));
    let first = lines.next()?;
    let rest: Vec<Vec<JourneyKey>> = lines.collect();
    first
        .into_iter()
        .find(|k| rest.iter().all(|l| l.contains(k)))
}

/// A recorded change of a node's journey.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssignmentChange {
    pub node: OrgNodeId,
    pub old: Option<JourneyKey>,
    pub new: JourneyKey,
    pub by: String,
    pub at: i64,
}

impl fmt::Display for Effective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(n) => write!(f, "{} (from {n})", self.journey),
            None => write!(f, "{} (built in)", self.journey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrgLevel, OrgNode};

    fn key(s: &str) -> JourneyKey {
        JourneyKey::parse(s).unwrap()
    }

    fn id(s: &str) -> OrgNodeId {
        OrgNodeId::parse(s).unwrap()
    }

    fn tree() -> OrgTree {
        let node = |i: &str, parent: Option<&str>, level| OrgNode {
            id: id(i),
            parent: parent.map(id),
            level,
            name: i.into(),
            counters: 0,
            kiosks: 0,
            tz: None,
            targets: Default::default(),
        };
        OrgTree::build(vec![
            node("p", None, OrgLevel::Province),
            node("c", Some("p"), OrgLevel::City),
            node("d", Some("c"), OrgLevel::District),
            node("h", Some("d"), OrgLevel::Hall),
            node("c2", Some("p"), OrgLevel::City),
            node("h2", Some("c2"), OrgLevel::Hall),
        ])
        .unwrap()
    }

    /// The built-in journey, a province's that extends it with one more moment, a
    /// city's that extends the province's, and an unrelated copy of the built-in one.
    fn journeys() -> BTreeMap<JourneyKey, Journey> {
        let base = builtin::journeys().unwrap().remove(0);
        let mut doc: serde_json::Value = serde_json::from_str(&base.to_json_pretty()).unwrap();
        let extended = |doc: &mut serde_json::Value, k: &str, parent: Option<&str>, extra: &str| {
            doc["key"] = k.into();
            doc["extends"] = parent.map_or(serde_json::Value::Null, Into::into);
            if !extra.is_empty() {
                let mut m = doc["moments"][0].clone();
                m["key"] = extra.into();
                m["standards"] = serde_json::json!([]);
                doc["moments"].as_array_mut().unwrap().insert(1, m);
            }
            Journey::from_json(&doc.to_string()).unwrap()
        };
        let prov = extended(&mut doc, "prov", Some("service-hall"), "vip_lounge");
        let city = extended(&mut doc, "city", Some("prov"), "");
        let mut copy_doc: serde_json::Value = serde_json::from_str(&base.to_json_pretty()).unwrap();
        let copy = extended(&mut copy_doc, "copy", None, "");
        [base, prov, city, copy]
            .into_iter()
            .map(|j| (j.key().clone(), j))
            .collect()
    }

    #[test]
    fn a_hall_lives_by_its_nearest_assignment_else_the_built_in() {
        let t = tree();
        let mut a = Assignments::default();
        assert_eq!(a.effective(&t, &id("h")).journey, key("service-hall"));
        assert_eq!(a.effective(&t, &id("h")).from, None);
        a.0.insert(id("p"), key("prov"));
        assert_eq!(a.effective(&t, &id("h")).journey, key("prov"));
        assert_eq!(a.effective(&t, &id("h")).from, Some(id("p")));
        a.0.insert(id("c"), key("city"));
        assert_eq!(a.effective(&t, &id("h")).journey, key("city"));
        assert_eq!(a.effective(&t, &id("h2")).journey, key("prov"));
        assert_eq!(a.effective(&t, &id("p")).journey, key("prov"));
    }

    #[test]
    fn a_node_cannot_undo_the_standards_above_it() {
        let (t, j) = (tree(), journeys());
        let mut a = Assignments::default();
        assert_eq!(check_assignment(&t, &a, &j, &id("p"), &key("prov")), Ok(()));
        a.0.insert(id("p"), key("prov"));
        // The built-in journey lacks the province's added moment.
        let err = check_assignment(&t, &a, &j, &id("c"), &key("service-hall")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node `c`: journey `service-hall` does not keep moment `vip_lounge` of journey `prov` assigned to `p`"
        );
        assert_eq!(check_assignment(&t, &a, &j, &id("c"), &key("prov")), Ok(()));
        assert_eq!(check_assignment(&t, &a, &j, &id("c"), &key("city")), Ok(()));
        a.0.insert(id("c"), key("city"));
        // Going back to the built-in at the province would leave the city's journey
        // extending something the province no longer lives by: still fine (city extends
        // prov extends service-hall). An unrelated journey there is not.
        assert_eq!(
            check_assignment(&t, &a, &j, &id("p"), &key("service-hall")),
            Ok(())
        );
        let err = check_assignment(&t, &a, &j, &id("p"), &key("copy")).unwrap_err();
        assert!(
            matches!(err, AssignmentError::DoesNotExtend { ref node, .. } if *node == id("c")),
            "{err}"
        );
        assert_eq!(
            check_assignment(&t, &a, &j, &id("zz"), &key("prov")),
            Err(AssignmentError::UnknownNode(id("zz")))
        );
        assert_eq!(
            check_assignment(&t, &a, &j, &id("c"), &key("nope")),
            Err(AssignmentError::UnknownJourney(key("nope")))
        );
    }

    #[test]
    fn keeping_the_moments_is_not_enough_without_extending() {
        let (t, j) = (tree(), journeys());
        let mut a = Assignments::default();
        a.0.insert(id("p"), key("service-hall"));
        let err = check_assignment(&t, &a, &j, &id("c"), &key("copy")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node `c`: journey `copy` does not extend journey `service-hall` assigned to `p`"
        );
    }

    #[test]
    fn halls_on_different_journeys_share_their_common_ancestor() {
        let j = journeys();
        let shared = |ks: &[&str]| {
            let keys: Vec<JourneyKey> = ks.iter().map(|k| key(k)).collect();
            shared_journey(&j, keys.iter())
        };
        assert_eq!(shared(&["city", "city"]), Some(key("city")));
        assert_eq!(shared(&["city", "prov"]), Some(key("prov")));
        assert_eq!(shared(&["city", "service-hall"]), Some(key("service-hall")));
        assert_eq!(shared(&["city", "copy"]), None);
        assert_eq!(shared(&[]), None);
    }
}
