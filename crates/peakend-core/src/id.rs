//! Typed identifiers. Each parses from a string once, at the edge, and is then
//! carried as its own type so a hall id can never be passed where a moment key is meant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{value}` is invalid: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

const MAX_LEN: usize = 64;

/// Checks length, first character and the rest against the rules of one kind of id.
fn check(
    kind: &'static str,
    s: &str,
    (first_ok, first_rule): (fn(char) -> bool, &'static str),
    (rest_ok, rest_rule): (fn(char) -> bool, &'static str),
) -> Result<(), IdError> {
    let err = |reason| IdError {
        kind,
        value: s.to_owned(),
        reason,
    };
    let first = s.chars().next().ok_or_else(|| err("must not be empty"))?;
    if s.len() > MAX_LEN {
        return Err(err("must be at most 64 characters"));
    }
    if !first_ok(first) {
        return Err(err(first_rule));
    }
    if !s.chars().all(rest_ok) {
        return Err(err(rest_rule));
    }
    Ok(())
}

/// Keys are stable, machine-friendly names used in files, URLs and CSV headers
/// (`imp.<moment>`), so they are lowercase ASCII with `_` or `-` and start with a letter.
fn check_key(kind: &'static str, s: &str) -> Result<(), IdError> {
    check(
        kind,
        s,
        (
            |c| c.is_ascii_lowercase(),
            "must start with a lowercase letter a-z",
        ),
        (
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-',
            "may only contain a-z, 0-9, `_` and `-`",
        ),
    )
}

/// Organisation node ids come from operators' own systems (e.g. `GD-DG-0012`), so
/// they are allowed upper case and dots, but no spaces or separators used in URLs.
fn check_node_id(kind: &'static str, s: &str) -> Result<(), IdError> {
    check(
        kind,
        s,
        (
            |c| c.is_ascii_alphanumeric(),
            "must start with a letter or digit",
        ),
        (
            |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'),
            "may only contain A-Z, a-z, 0-9, `_`, `-` and `.`",
        ),
    )
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                $check($kind, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether `s` would parse, without allocating an id (for readers that
            /// check millions of cells).
            pub fn is_valid(s: &str) -> bool {
                $check($kind, s).is_ok()
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

typed_id!(
    /// A user's login name, e.g. `zhang.wei`: ASCII so it can be typed on any keyboard.
    UserName, "user name", check_node_id
);
typed_id!(
    /// Key of a journey, e.g. `service-hall`.
    JourneyKey, "journey key", check_key
);
typed_id!(
    /// Key of a moment within a journey, e.g. `queue`.
    MomentKey, "moment key", check_key
);
typed_id!(
    /// Key of a standard, unique within its journey, e.g. `care_after`.
    StandardKey, "standard key", check_key
);
typed_id!(
    /// Key of a core need within its moment.
    NeedKey, "need key", check_key
);
typed_id!(
    /// Id of any node of the organisation tree (province, city, district or hall).
    OrgNodeId, "org node id", check_node_id
);
typed_id!(
    /// Id of a node known to be a hall: visits, responses, events and alerts hang off it.
    HallId, "hall id", check_node_id
);
typed_id!(
    /// Id of a counter (window) within a hall.
    CounterId, "counter id", check_node_id
);
typed_id!(
    /// Id of a self-service kiosk within a hall.
    KioskId, "kiosk id", check_node_id
);

/// FNV-1a of a text: a 64-bit hash that is the same on every build, platform and node,
/// for what must come out the same everywhere (a short form's drawn moments, a hall's
/// event partition).
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercase_ascii() {
        assert!(MomentKey::parse("data_trial").is_ok());
        assert!(JourneyKey::parse("service-hall").is_ok());
        let err = MomentKey::parse("Queue").unwrap_err();
        assert_eq!(err.reason, "must start with a lowercase letter a-z");
        assert!(MomentKey::parse("").is_err());
        assert!(MomentKey::parse("a b").is_err());
        assert!(MomentKey::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn node_ids_allow_operator_codes() {
        assert!(OrgNodeId::parse("GD-DG.0012").is_ok());
        assert!(OrgNodeId::parse("gd/dg").is_err());
        assert!(OrgNodeId::parse("-x").is_err());
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let bad: Result<MomentKey, _> = serde_json::from_str("\"Bad Key\"");
        assert!(bad.is_err());
        let good: MomentKey = serde_json::from_str("\"leave\"").unwrap();
        assert_eq!(good.as_str(), "leave");
    }
}
