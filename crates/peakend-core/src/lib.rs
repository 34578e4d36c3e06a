//! The pure core of peakend: the domain model of the peak-end / moments-of-truth method.
//!
//! Nothing in this crate does I/O, spawns tasks or talks to a database; adapters
//! (storage, HTTP, CLI, import/export) call into it. Values are parsed into domain
//! types at the edge ("parse, don't validate"), so a `Journey` or an `OrgTree` that
//! exists is known to be well formed.

#![forbid(unsafe_code)]

pub mod access;
pub mod analysis;
pub mod answers;
pub mod assignment;
pub mod audit;
pub mod builtin;
pub mod case;
pub mod checklist;
pub mod customer;
pub mod dimensions;
pub mod handbook;
pub mod id;
pub mod invitation;
pub mod journey;
pub mod ops;
pub mod org;
pub mod peak;
pub mod qfd;
pub mod short_form;
pub mod strategy;
pub mod survey;
pub mod synth;
pub mod text;
pub mod time;

pub use access::{Action, Role, Scope};
pub use id::{
    CounterId, HallId, JourneyKey, KioskId, MomentKey, NeedKey, OrgNodeId, StandardKey, UserName,
};
pub use journey::{
    Blueprint, Bound, Channel, CoreNeed, Dimension, DimensionFamily, GovernanceError, Journey,
    JourneyError, Lane, Moment, OwnerRole, Stage, Standard, Threshold, Unit,
};
pub use org::{OrgError, OrgLevel, OrgNode, OrgTree, Targets};
pub use text::Text;
