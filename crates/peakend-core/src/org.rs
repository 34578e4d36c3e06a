//! The organisation: a province → city → district → hall tree. Access scopes,
//! roll-ups and sharding all follow it, so a tree that exists is known to be sound:
//! every parent exists and sits at a higher level, and only provinces are roots.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{HallId, JourneyKey, OrgNodeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgLevel {
    Province,
    City,
    District,
    Hall,
    /// A contact centre: a leaf like a hall, whose events are calls (issue 22).
    Centre,
}

impl OrgLevel {
    pub const ALL: [OrgLevel; 5] = [
        OrgLevel::Province,
        OrgLevel::City,
        OrgLevel::District,
        OrgLevel::Hall,
        OrgLevel::Centre,
    ];

    /// Halls and centres are the leaves: nothing sits under them.
    pub fn is_leaf(self) -> bool {
        matches!(self, OrgLevel::Hall | OrgLevel::Centre)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrgLevel::Province => "province",
            OrgLevel::City => "city",
            OrgLevel::District => "district",
            OrgLevel::Hall => "hall",
            OrgLevel::Centre => "centre",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            OrgLevel::Province => "省",
            OrgLevel::City => "市",
            OrgLevel::District => "区县",
            OrgLevel::Hall => "营业厅",
            OrgLevel::Centre => "呼叫中心",
        }
    }
}

impl fmt::Display for OrgLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgLevel {
    type Err = String;

    /// Accepts the English level or the Chinese one that operators' spreadsheets use.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "province" | "省" => Ok(OrgLevel::Province),
            "city" | "市" | "地市" => Ok(OrgLevel::City),
            "district" | "区" | "县" | "区县" => Ok(OrgLevel::District),
            "hall" | "厅" | "营业厅" => Ok(OrgLevel::Hall),
            "centre" | "center" | "呼叫中心" | "客服中心" => Ok(OrgLevel::Centre),
            other => Err(format!(
                "unknown level `{other}` (expected province, city, district, hall or centre)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgNode {
    pub id: OrgNodeId,
    pub parent: Option<OrgNodeId>,
    pub level: OrgLevel,
    pub name: String,
    /// Service counters (windows); halls only.
    pub counters: u32,
    /// Self-service kiosks; halls only.
    pub kiosks: u32,
    /// The node's own time zone, if it names one; otherwise its parent's
    /// ([`OrgTree::zone_of`]).
    pub tz: Option<crate::time::Zone>,
    /// The headline targets the node sets for itself and the nodes below it
    /// ([`OrgTree::targets_of`]).
    #[serde(default)]
    pub targets: Targets,
}

/// Targets an organisation sets for its survey's headline figures (whole numbers): the
/// overview shows each figure against the target of its node or nearest ancestor.
/// The study gives none, so none is built in: a network that sets none sees none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// NPS, −100 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nps: Option<i32>,
    /// The satisfaction index, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i32>,
}

impl Targets {
    /// An NPS target cell: blank is none; otherwise a whole number from −100 to 100.
    pub fn parse_nps(s: &str) -> Result<Option<i32>, String> {
        Self::parse_whole(s, -100, 100)
    }

    /// A satisfaction-index target cell: blank is none; otherwise 0 to 100.
    pub fn parse_index(s: &str) -> Result<Option<i32>, String> {
        Self::parse_whole(s, 0, 100)
    }

    fn parse_whole(s: &str, lo: i32, hi: i32) -> Result<Option<i32>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<i32>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(Some(v)),
            _ => Err(format!("`{s}` is not a whole number from {lo} to {hi}")),
        }
    }
}

impl OrgNode {
    /// The hall id of this node, if it is a hall.
    pub fn hall_id(&self) -> Option<HallId> {
        (self.level == OrgLevel::Hall)
            .then(|| HallId::parse(self.id.as_str()).expect("same syntax"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error("node `{id}` appears more than once")]
    DuplicateId { id: OrgNodeId },
    #[error("node `{id}`: name is empty")]
    EmptyName { id: OrgNodeId },
    #[error("node `{id}`: parent `{parent}` does not exist")]
    UnknownParent { id: OrgNodeId, parent: OrgNodeId },
    #[error(
        "node `{id}` ({level}) cannot sit under `{parent}` ({parent_level}): a parent must be a higher level"
    )]
    LevelNotBelowParent {
        id: OrgNodeId,
        level: OrgLevel,
        parent: OrgNodeId,
        parent_level: OrgLevel,
    },
    #[error("node `{id}` ({level}) has no parent: only provinces may be roots")]
    RootNotProvince { id: OrgNodeId, level: OrgLevel },
    #[error("node `{id}` ({level}) has counters or kiosks: only halls carry them")]
    EquipmentOnNonHall { id: OrgNodeId, level: OrgLevel },
}

impl OrgError {
    /// The node the error is about, so adapters can point back at the input row.
    pub fn node(&self) -> &OrgNodeId {
        match self {
            OrgError::DuplicateId { id }
            | OrgError::EmptyName { id }
            | OrgError::UnknownParent { id, .. }
            | OrgError::LevelNotBelowParent { id, .. }
            | OrgError::RootNotProvince { id, .. }
            | OrgError::EquipmentOnNonHall { id, .. } => id,
        }
    }
}

/// A validated organisation tree. Node order is kept as given (parents need not come first).
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    nodes: Vec<OrgNode>,
    index: HashMap<OrgNodeId, usize>,
    children: HashMap<OrgNodeId, Vec<usize>>,
}

fn is_unset(t: &Targets) -> bool {
    *t == Targets::default()
}

/// The tree as nested JSON for the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgTreeNode {
    pub id: OrgNodeId,
    pub level: OrgLevel,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kiosks: Option<u32>,
    /// The node's own time zone, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tz: Option<crate::time::Zone>,
    /// The node's own headline targets, if it sets any.
    #[serde(skip_serializing_if = "is_unset")]
    pub targets: Targets,
    /// The zone it lives in (its own or inherited).
    pub zone: crate::time::Zone,
    /// The journey assigned to this node itself, if any (see `assignment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journey: Option<JourneyKey>,
    /// The journey the node lives by: its own, or its nearest ancestor's, or the
    /// built-in one; filled by `Assignments::annotate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_journey: Option<JourneyKey>,
    pub children: Vec<OrgTreeNode>,
}

impl OrgTree {
    pub fn build(nodes: Vec<OrgNode>) -> Result<OrgTree, Vec<OrgError>> {
        let mut errors = Vec::new();
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if index.insert(n.id.clone(), i).is_some() {
                errors.push(OrgError::DuplicateId { id: n.id.clone() });
            }
        }
        let mut children: HashMap<OrgNodeId, Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.name.trim().is_empty() {
                errors.push(OrgError::EmptyName { id: n.id.clone() });
            }
            if n.level != OrgLevel::Hall && (n.counters > 0 || n.kiosks > 0) {
                errors.push(OrgError::EquipmentOnNonHall {
                    id: n.id.clone(),
                    level: n.level,
                });
            }
            match &n.parent {
                None if n.level != OrgLevel::Province => errors.push(OrgError::RootNotProvince {
                    id: n.id.clone(),
                    level: n.level,
                }),
                None => {}
                Some(p) => match index.get(p) {
                    None => errors.push(OrgError::UnknownParent {
                        id: n.id.clone(),
                        parent: p.clone(),
                    }),
                    // Strictly deeper levels also rule out cycles; halls and centres
                    // are leaves (a centre orders after a hall but never sits under one).
                    Some(&pi) if nodes[pi].level >= n.level || nodes[pi].level.is_leaf() => errors
                        .push(OrgError::LevelNotBelowParent {
                            id: n.id.clone(),
                            level: n.level,
                            parent: p.clone(),
                            parent_level: nodes[pi].level,
                        }),
                    Some(_) => children.entry(p.clone()).or_default().push(i),
                },
            }
        }
        if errors.is_empty() {
            Ok(OrgTree {
                nodes,
                index,
                children,
            })
        } else {
            Err(errors)
        }
    }

    /// The tree that results from upserting `incoming` (by id) into `existing`.
    /// Ids repeated within `incoming` are errors; existing nodes not mentioned are kept.
    pub fn merge(existing: Vec<OrgNode>, incoming: Vec<OrgNode>) -> Result<OrgTree, Vec<OrgError>> {
        let mut seen = HashMap::new();
        let mut errors = Vec::new();
        for n in &incoming {
            if seen.insert(n.id.clone(), ()).is_some() {
                errors.push(OrgError::DuplicateId { id: n.id.clone() });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut nodes = existing;
        let mut position: HashMap<OrgNodeId, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        for n in incoming {
            match position.get(&n.id) {
                Some(&i) => nodes[i] = n,
                None => {
                    position.insert(n.id.clone(), nodes.len());
                    nodes.push(n);
                }
            }
        }
        OrgTree::build(nodes)
    }

    pub fn nodes(&self) -> &[OrgNode] {
        &self.nodes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, id: &OrgNodeId) -> Option<&OrgNode> {
        self.index.get(id).map(|&i| &self.nodes[i])
    }

    pub fn roots(&self) -> impl Iterator<Item = &OrgNode> {
        self.nodes.iter().filter(|n| n.parent.is_none())
    }

    pub fn children(&self, id: &OrgNodeId) -> impl Iterator<Item = &OrgNode> {
        self.children
            .get(id)
            .into_iter()
            .flatten()
            .map(|&i| &self.nodes[i])
    }

    /// The node and everything below it, depth first.
    pub fn subtree(&self, id: &OrgNodeId) -> Vec<&OrgNode> {
        let mut out = Vec::new();
        let mut stack: Vec<&OrgNode> = self.get(id).into_iter().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            let kids: Vec<_> = self.children(&n.id).collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// The halls at or below a node.
    pub fn halls_under(&self, id: &OrgNodeId) -> Vec<&OrgNode> {
        self.subtree(id)
            .into_iter()
            .filter(|n| n.level == OrgLevel::Hall)
            .collect()
    }

    /// The time zone `id` lives in: its own, or its nearest ancestor's, or the default
    /// (Asia/Shanghai).
    pub fn zone_of(&self, id: &OrgNodeId) -> crate::time::Zone {
        self.ancestry(id)
            .into_iter()
            .find_map(|n| n.tz)
            .unwrap_or_default()
    }

    /// The targets `id` is held to, each its own or its nearest ancestor's (a city may
    /// set a higher NPS target than its province and keep the province's index target).
    pub fn targets_of(&self, id: &OrgNodeId) -> Targets {
        let up = self.ancestry(id);
        Targets {
            nps: up.iter().find_map(|n| n.targets.nps),
            index: up.iter().find_map(|n| n.targets.index),
        }
    }

    /// The time zone a hall lives in (its own or its region's).
    pub fn zone_of_hall(&self, hall: &crate::HallId) -> crate::time::Zone {
        OrgNodeId::parse(hall.as_str())
            .map(|n| self.zone_of(&n))
            .unwrap_or_default()
    }

    /// From the node up to its root, the node first.
    pub fn ancestry(&self, id: &OrgNodeId) -> Vec<&OrgNode> {
        let mut out = Vec::new();
        let mut cur = self.get(id);
        while let Some(n) = cur {
            out.push(n);
            cur = n.parent.as_ref().and_then(|p| self.get(p));
        }
        out
    }

    pub fn count(&self, level: OrgLevel) -> usize {
        self.nodes.iter().filter(|n| n.level == level).count()
    }

    pub fn to_nested(&self) -> Vec<OrgTreeNode> {
        self.roots().map(|r| self.nest(r)).collect()
    }

    fn nest(&self, n: &OrgNode) -> OrgTreeNode {
        let hall = n.level == OrgLevel::Hall;
        OrgTreeNode {
            id: n.id.clone(),
            level: n.level,
            name: n.name.clone(),
            counters: hall.then_some(n.counters),
            kiosks: hall.then_some(n.kiosks),
            tz: n.tz,
            targets: n.targets,
            zone: self.zone_of(&n.id),
            journey: None,
            effective_journey: None,
            children: self.children(&n.id).map(|c| self.nest(c)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parent: Option<&str>, level: OrgLevel) -> OrgNode {
        OrgNode {
            id: OrgNodeId::parse(id).unwrap(),
            parent: parent.map(|p| OrgNodeId::parse(p).unwrap()),
            level,
            name: format!("{id} name"),
            counters: if level == OrgLevel::Hall { 4 } else { 0 },
            kiosks: 0,
            tz: None,
            targets: Default::default(),
        }
    }

    fn sample() -> Vec<OrgNode> {
        vec![
            // Children before parents on purpose: input order must not matter.
            node("h1", Some("d1"), OrgLevel::Hall),
            node("d1", Some("c1"), OrgLevel::District),
            node("c1", Some("p"), OrgLevel::City),
            node("p", None, OrgLevel::Province),
            node("h2", Some("c1"), OrgLevel::Hall),
        ]
    }

    #[test]
    fn targets_are_the_nearest_ancestors_each() {
        let mut nodes = sample();
        let set = |nodes: &mut Vec<OrgNode>, id: &str, t: Targets| {
            nodes
                .iter_mut()
                .find(|n| n.id.as_str() == id)
                .unwrap()
                .targets = t;
        };
        set(
            &mut nodes,
            "p",
            Targets {
                nps: Some(30),
                index: Some(80),
            },
        );
        set(
            &mut nodes,
            "c1",
            Targets {
                nps: Some(45),
                index: None,
            },
        );
        let tree = OrgTree::build(nodes).unwrap();
        let of = |id: &str| tree.targets_of(&OrgNodeId::parse(id).unwrap());
        assert_eq!(
            of("p"),
            Targets {
                nps: Some(30),
                index: Some(80)
            }
        );
        // The city raises NPS and keeps the province's index target, for all below it.
        assert_eq!(
            of("h1"),
            Targets {
                nps: Some(45),
                index: Some(80)
            }
        );
        assert_eq!(of("nowhere"), Targets::default());
    }

    #[test]
    fn builds_in_any_order_and_navigates() {
        let t = OrgTree::build(sample()).unwrap();
        let id = |s| OrgNodeId::parse(s).unwrap();
        assert_eq!(t.roots().count(), 1);
        let halls: Vec<_> = t
            .halls_under(&id("c1"))
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(halls, ["h1", "h2"]);
        let up: Vec<_> = t
            .ancestry(&id("h1"))
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(up, ["h1", "d1", "c1", "p"]);
        let nested = t.to_nested();
        assert_eq!(nested[0].children[0].children.len(), 2);
        assert_eq!(nested[0].counters, None);
    }

    #[test]
    fn reports_every_structural_error() {
        let mut nodes = sample();
        nodes.push(node("x", Some("nowhere"), OrgLevel::Hall));
        nodes.push(node("c2", None, OrgLevel::City));
        nodes.push(node("d9", Some("h1"), OrgLevel::District));
        let mut bad = node("p2", None, OrgLevel::Province);
        bad.kiosks = 2;
        nodes.push(bad);
        let errors = OrgTree::build(nodes).unwrap_err();
        let ids: Vec<_> = errors.iter().map(|e| e.node().as_str()).collect();
        assert_eq!(ids, ["x", "c2", "d9", "p2"]);
        assert!(matches!(errors[2], OrgError::LevelNotBelowParent { .. }));
    }

    #[test]
    fn merge_upserts_and_rejects_repeats() {
        let mut renamed = node("h1", Some("d1"), OrgLevel::Hall);
        renamed.name = "新名字".into();
        let t = OrgTree::merge(
            sample(),
            vec![renamed, node("h3", Some("d1"), OrgLevel::Hall)],
        )
        .unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(
            t.get(&OrgNodeId::parse("h1").unwrap()).unwrap().name,
            "新名字"
        );
        let twice = vec![
            node("h3", Some("d1"), OrgLevel::Hall),
            node("h3", Some("d1"), OrgLevel::Hall),
        ];
        assert!(matches!(
            OrgTree::merge(sample(), twice).unwrap_err()[0],
            OrgError::DuplicateId { .. }
        ));
    }

    #[test]
    fn levels_parse_in_both_languages() {
        assert_eq!("营业厅".parse::<OrgLevel>(), Ok(OrgLevel::Hall));
        assert_eq!("city".parse::<OrgLevel>(), Ok(OrgLevel::City));
        assert!("town".parse::<OrgLevel>().unwrap_err().contains("`town`"));
        assert_eq!("呼叫中心".parse::<OrgLevel>(), Ok(OrgLevel::Centre));
        assert_eq!("centre".parse::<OrgLevel>(), Ok(OrgLevel::Centre));
    }

    #[test]
    fn a_centre_is_a_leaf_under_a_region_never_under_a_hall() {
        let mut nodes = sample();
        nodes.push(node("cc", Some("c1"), OrgLevel::Centre));
        assert!(OrgTree::build(nodes.clone()).is_ok());
        nodes.push(node("cc2", Some("h1"), OrgLevel::Centre));
        nodes.push(node("h9", Some("cc"), OrgLevel::Hall));
        let errors = OrgTree::build(nodes).unwrap_err();
        let ids: Vec<_> = errors.iter().map(|e| e.node().as_str()).collect();
        assert_eq!(ids, ["cc2", "h9"]);
    }
}
