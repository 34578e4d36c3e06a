//! Public holidays per province: days that are not working days for the repair
//! allowance of a faulty kiosk, besides weekends. A hall takes the holidays of the
//! province above it in the org tree.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Weekday};
use serde::Serialize;

use crate::{HallId, OrgLevel, OrgNodeId, OrgTree};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Holiday {
    pub province: OrgNodeId,
    pub date: NaiveDate,
    pub name: String,
}

/// The province a hall belongs to (the nearest province above it), if any.
pub fn province_of<'t>(tree: &'t OrgTree, hall: &HallId) -> Option<&'t OrgNodeId> {
    let id = OrgNodeId::parse(hall.as_str()).ok()?;
    tree.ancestry(&id)
        .into_iter()
        .find(|n| n.level == OrgLevel::Province)
        .map(|n| &n.id)
}

/// The dates of the given province's holidays.
pub fn dates_of(holidays: &[Holiday], province: &OrgNodeId) -> BTreeSet<NaiveDate> {
    holidays
        .iter()
        .filter(|h| &h.province == province)
        .map(|h| h.date)
        .collect()
}

/// `at` plus `n` working days (Monday to Friday, not `holidays`), at the same local
/// time of day: a kiosk's repair allowance, a case's deadline.
pub fn add_working_days(
    at: DateTime<FixedOffset>,
    n: u32,
    holidays: &BTreeSet<NaiveDate>,
) -> DateTime<FixedOffset> {
    let mut due = at;
    let mut left = n;
    while left > 0 {
        due += Duration::days(1);
        let d = due.date_naive();
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d) {
            left -= 1;
        }
    }
    due
}
