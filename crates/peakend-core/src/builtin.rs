//! Journeys shipped with the binary. They are data under the repository's
//! `journeys/` folder, embedded at build time so a hall with no network still has them.

use crate::journey::Journey;

/// Key of the reference journey: the 16 moments of a service-hall visit.
pub const SERVICE_HALL: &str = "service-hall";

const SOURCES: &[(&str, &str)] = &[(
    "journeys/service-hall.yaml",
    include_str!("../../../journeys/service-hall.yaml"),
)];

/// Every built-in journey, parsed. An error names the embedded file, though the
/// test suite makes sure none is ever shipped broken.
pub fn journeys() -> Result<Vec<Journey>, String> {
    SOURCES
        .iter()
        .map(|(file, src)| Journey::from_yaml(src).map_err(|e| format!("built-in {file}: {e}")))
        .collect()
}

pub fn is_builtin(key: &str) -> bool {
    key == SERVICE_HALL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Lane, Stage};

    fn service_hall() -> Journey {
        journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == SERVICE_HALL)
            .unwrap()
    }

    #[test]
    fn service_hall_has_the_16_moments_in_order() {
        let keys: Vec<_> = service_hall()
            .moments()
            .iter()
            .map(|m| m.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "find",
                "arrive",
                "storefront",
                "enter",
                "environment",
                "wandering",
                "enquiry",
                "data_trial",
                "self_service",
                "phone_purchase",
                "queue",
                "counter_talk",
                "counter_wait",
                "result",
                "dispute",
                "leave"
            ]
        );
    }

    #[test]
    fn priors_are_the_study_figures() {
        let j = service_hall();
        let priors: Vec<f64> = j.moments().iter().map(|m| m.importance.unwrap()).collect();
        assert_eq!(
            priors,
            [
                8.27, 8.18, 8.42, 8.46, 8.86, 7.62, 9.08, 9.22, 8.01, 9.26, 8.14, 8.93, 7.80, 9.33,
                8.71, 8.50
            ]
        );
        assert_eq!(format!("{:.2}", j.mean_prior_importance().unwrap()), "8.55");
        assert_eq!(j.end().key.as_str(), "leave");
    }

    #[test]
    fn stages_follow_the_three_flows() {
        let j = service_hall();
        let stage = |k: &str| {
            j.moments()
                .iter()
                .find(|m| m.key.as_str() == k)
                .unwrap()
                .stage
        };
        assert_eq!(stage("arrive"), Stage::PeopleFlow);
        assert_eq!(stage("enter"), Stage::CustomerFlow);
        assert_eq!(stage("phone_purchase"), Stage::CustomerFlow);
        assert_eq!(stage("queue"), Stage::BusinessFlow);
        let stages: Vec<Stage> = j.moments().iter().map(|m| m.stage).collect();
        assert!(
            stages.is_sorted(),
            "stages go people → customer → business flow"
        );
    }

    #[test]
    fn every_moment_is_complete() {
        for m in service_hall().moments() {
            assert!(!m.core_needs.is_empty(), "{} has no core need", m.key);
            assert!(!m.standards.is_empty(), "{} has no standard", m.key);
            for lane in Lane::ALL {
                assert!(
                    !m.blueprint.lane(lane).is_empty(),
                    "{} has an empty {lane:?} lane",
                    m.key
                );
            }
        }
    }

    /// The seed text is a traditional-character rendering; the product is zh-CN.
    #[test]
    fn chinese_is_simplified() {
        const TRADITIONAL: &str = "務廳時關鍵業體驗們與應說為這個會對開發門問間題點見過還進區號電話網標準處導質據經辦類歸聽計劃語陳樣員單櫃確認";
        let j = service_hall();
        let mut texts: Vec<&str> = vec![&j.name().zh];
        for m in j.moments() {
            texts.push(&m.name.zh);
            texts.extend(m.core_needs.iter().map(|n| n.text.zh.as_str()));
            texts.extend(m.standards.iter().map(|s| s.text.zh.as_str()));
            for lane in Lane::ALL {
                texts.extend(m.blueprint.lane(lane).iter().map(|t| t.zh.as_str()));
            }
        }
        for t in texts {
            assert!(
                !t.chars().any(|c| TRADITIONAL.contains(c)),
                "traditional character in: {t}"
            );
        }
    }

    #[test]
    fn quantitative_standards_are_carried() {
        let j = service_hall();
        let check = |key: &str, moment: &str, value: f64, unit: &str, bound: &str| {
            let (m, s) = j
                .standards()
                .find(|(_, s)| s.key.as_str() == key)
                .unwrap_or_else(|| panic!("{key}"));
            let t = s.threshold.as_ref().unwrap();
            assert_eq!(m.key.as_str(), moment, "{key}");
            assert_eq!((t.value, t.unit.symbol()), (value, unit), "{key}");
            assert_eq!(serde_json::to_value(t.bound).unwrap(), bound, "{key}");
        };
        check("care_after", "queue", 15.0, "min", "max");
        check("max_per_counter", "queue", 3.0, "count", "max");
        check("vip_water", "queue", 100.0, "percent", "min");
        check("repair_within", "self_service", 2.0, "working_day", "max");
        check("coaching_max", "data_trial", 3.0, "min", "max");
        check("max_selling_points", "data_trial", 3.0, "count", "max");
        check("approach_after", "wandering", 15.0, "s", "min");
        check("max_offers", "wandering", 2.0, "count", "max");
        check("max_theme_messages", "storefront", 3.0, "count", "max");
        check("max_standing_signs", "storefront", 3.0, "count", "max");
        check("clean_radius", "storefront", 3.0, "m", "min");
        check("typing_speed", "counter_wait", 40.0, "chars_per_min", "min");
        check("system_time", "counter_wait", 2.5, "min", "max");
    }
}
