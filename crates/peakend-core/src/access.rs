//! Who may see and do what. A user has one role and one org node; they see and act on
//! that node and everything below it, nothing else. The HTTP layer asks these rules for
//! every page and endpoint, so pages and the JSON API cannot disagree.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{OrgNodeId, OrgTree};

/// The roles of the study's hierarchy, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A mystery shopper or inspector: submits audits of the halls in scope, reads no
    /// results (lowest, so that no `>=` rule lets it see anything).
    Auditor,
    /// Counter and floor staff of one hall.
    Frontline,
    HallManager,
    /// A city's or district's manager.
    RegionalManager,
    /// A province's marketing director.
    Director,
    /// Manages users and devices within their node.
    Admin,
}

/// Something a user may want to do, beyond seeing their node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pages, figures, queues and alerts of the node and below.
    View,
    /// Say that someone took care of an alert.
    AckAlert,
    /// Import or extend journeys, i.e. change standards.
    EditStandards,
    /// Choose the journey a node and everything below it live by.
    AssignJourney,
    /// Load survey responses (files or one by one) for halls in scope.
    ImportResponses,
    /// Issue tokens for a hall's devices.
    ManageDevices,
    /// Create users.
    ManageUsers,
    /// Submit an audit (a self-check, a walk, a mystery visit, an inspection) of a hall
    /// in scope.
    SubmitAudit,
    /// Keep a hall's improvement plan: stock-take, actions, drills, exams.
    KeepPlan,
    /// Read the customer report (contacts across channels, failure demand): an
    /// analysis for managers, not front-line staff.
    ViewCustomers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleError(pub String);

impl fmt::Display for RoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a role (auditor, frontline, hall_manager, regional_manager, director, admin)",
            self.0
        )
    }
}

impl std::error::Error for RoleError {}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Auditor,
        Role::Frontline,
        Role::HallManager,
        Role::RegionalManager,
        Role::Director,
        Role::Admin,
    ];

    pub fn parse(s: &str) -> Result<Role, RoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim() || r.name().0 == s.trim())
            .ok_or_else(|| RoleError(s.to_owned()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Frontline => "frontline",
            Role::HallManager => "hall_manager",
            Role::RegionalManager => "regional_manager",
            Role::Director => "director",
            Role::Admin => "admin",
        }
    }

    /// (Chinese, English) display names.
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Role::Auditor => ("审核员（神秘顾客）", "Auditor (mystery shopper)"),
            Role::Frontline => ("一线员工", "Front-line staff"),
            Role::HallManager => ("营业厅经理", "Hall manager"),
            Role::RegionalManager => ("区域经理", "Regional manager"),
            Role::Director => ("市场总监", "Marketing director"),
            Role::Admin => ("系统管理员", "Administrator"),
        }
    }

    pub fn may(self, action: Action) -> bool {
        match action {
            // An auditor's findings must not be shaped by the hall's figures.
            Action::View | Action::AckAlert => self != Role::Auditor,
            // Staff self-check daily, managers walk, regions inspect, shoppers visit.
            Action::SubmitAudit => true,
            Action::KeepPlan => self >= Role::HallManager && self != Role::Admin,
            // Standards are the province's and regions' to tighten, not one hall's.
            Action::EditStandards => self >= Role::RegionalManager,
            // Which standards a region lives by is its director's (or an admin's) call.
            Action::AssignJourney => matches!(self, Role::Director | Role::Admin),
            // Front-line staff are rated by the survey; they do not load it.
            Action::ImportResponses => self >= Role::HallManager,
            Action::ManageDevices => matches!(self, Role::HallManager | Role::Admin),
            Action::ManageUsers => self == Role::Admin,
            Action::ViewCustomers => self >= Role::HallManager,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of the organisation a user may see: their node and its subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub node: OrgNodeId,
}

impl Scope {
    pub fn new(node: OrgNodeId) -> Scope {
        Scope { node }
    }

    /// Whether `node` is the scope's node or below it. Unknown nodes are outside.
    pub fn covers(&self, tree: &OrgTree, node: &OrgNodeId) -> bool {
        tree.ancestry(node).iter().any(|n| n.id == self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrgLevel, OrgNode};

    fn tree() -> OrgTree {
        let n = |id: &str, parent: Option<&str>, level| OrgNode {
            id: OrgNodeId::parse(id).unwrap(),
            parent: parent.map(|p| OrgNodeId::parse(p).unwrap()),
            level,
            name: id.into(),
            counters: 0,
            kiosks: 0,
            tz: None,
            targets: Default::default(),
        };
        OrgTree::build(vec![
            n("p", None, OrgLevel::Province),
            n("c1", Some("p"), OrgLevel::City),
            n("c2", Some("p"), OrgLevel::City),
            n("h1", Some("c1"), OrgLevel::Hall),
            n("h2", Some("c2"), OrgLevel::Hall),
        ])
        .unwrap()
    }

    fn id(s: &str) -> OrgNodeId {
        OrgNodeId::parse(s).unwrap()
    }

    #[test]
    fn a_scope_covers_its_node_and_below_only() {
        let t = tree();
        let city = Scope::new(id("c1"));
        assert!(city.covers(&t, &id("c1")));
        assert!(city.covers(&t, &id("h1")));
        assert!(!city.covers(&t, &id("h2")), "a sibling city's hall");
        assert!(!city.covers(&t, &id("p")), "the node above");
        assert!(!city.covers(&t, &id("nowhere")));
        let hall = Scope::new(id("h1"));
        assert!(hall.covers(&t, &id("h1")));
        assert!(!hall.covers(&t, &id("c1")));
        assert!(Scope::new(id("p")).covers(&t, &id("h2")));
    }

    #[test]
    fn frontline_acknowledges_alerts_but_does_not_change_standards() {
        assert!(Role::Frontline.may(Action::AckAlert));
        assert!(!Role::Frontline.may(Action::EditStandards));
        assert!(!Role::HallManager.may(Action::EditStandards));
        assert!(Role::RegionalManager.may(Action::EditStandards));
        assert!(!Role::Director.may(Action::ManageUsers));
        assert!(Role::Admin.may(Action::ManageUsers));
        assert!(Role::HallManager.may(Action::ManageDevices));
        assert!(!Role::Frontline.may(Action::ImportResponses));
        assert!(Role::HallManager.may(Action::ImportResponses));
    }

    #[test]
    fn an_auditor_submits_audits_and_sees_nothing() {
        assert!(Role::Auditor.may(Action::SubmitAudit));
        assert!(!Role::Auditor.may(Action::View));
        assert!(!Role::Auditor.may(Action::AckAlert));
        assert!(!Role::Auditor.may(Action::ImportResponses));
        assert!(!Role::Auditor.may(Action::EditStandards));
        assert!(!Role::Auditor.may(Action::KeepPlan));
        assert!(Role::HallManager.may(Action::KeepPlan));
        assert!(!Role::Frontline.may(Action::KeepPlan));
        assert_eq!(Role::parse("auditor"), Ok(Role::Auditor));
    }

    #[test]
    fn roles_parse_by_key_or_chinese_name() {
        assert_eq!(Role::parse("hall_manager"), Ok(Role::HallManager));
        assert_eq!(Role::parse("营业厅经理"), Ok(Role::HallManager));
        assert!(
            Role::parse("boss")
                .unwrap_err()
                .to_string()
                .contains("frontline")
        );
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
    }
}
