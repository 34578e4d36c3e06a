//! Journeys shipped with the binary. They are data under the repository's
//! `journeys/` folder, embedded at build time so a hall with no network still has them.

use crate::journey::Journey;

/// Key of the reference journey: the 16 moments of a service-hall visit.
pub const SERVICE_HALL: &str = "service-hall";
/// Key of the journey of a call to the hotline (10086), channel `phone`.
pub const HOTLINE: &str = "hotline";
/// Key of the journey of using the operator's app or website, channel `remote`.
pub const APP: &str = "app";
/// Key of the journey of an installation or repair visit, channel `face_to_face`.
pub const ONSITE: &str = "onsite";

/// Every built-in key, in the order [`journeys`] returns them (service-hall first).
pub const KEYS: &[&str] = &[SERVICE_HALL, HOTLINE, APP, ONSITE];

const SOURCES: &[(&str, &str)] = &[
    (
        "journeys/service-hall.yaml",
        include_str!("../../../journeys/service-hall.yaml"),
    ),
    (
        "journeys/hotline.yaml",
        include_str!("../../../journeys/hotline.yaml"),
    ),
    (
        "journeys/app.yaml",
        include_str!("../../../journeys/app.yaml"),
    ),
    (
        "journeys/onsite.yaml",
        include_str!("../../../journeys/onsite.yaml"),
    ),
];

/// Every built-in journey, parsed. An error names the embedded file, though the
/// test suite makes sure none is ever shipped broken.
pub fn journeys() -> Result<Vec<Journey>, String> {
    SOURCES
        .iter()
        .map(|(file, src)| Journey::from_yaml(src).map_err(|e| format!("built-in {file}: {e}")))
        .collect()
}

/// Whether `key` names a journey shipped with the binary (which an import may not
/// replace; extend it under a new key instead).
pub fn is_builtin(key: &str) -> bool {
    KEYS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Channel, Lane, Stage};

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

    fn builtin(key: &str) -> Journey {
        journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == key)
            .unwrap_or_else(|| panic!("no built-in {key}"))
    }

    #[test]
    fn every_builtin_is_listed_once_in_order() {
        let keys: Vec<String> = journeys()
            .unwrap()
            .iter()
            .map(|j| j.key().to_string())
            .collect();
        assert_eq!(keys, KEYS);
        for k in KEYS {
            assert!(is_builtin(k), "{k}");
        }
        assert!(!is_builtin("dongjiang-hall"));
        assert!(!is_builtin("Hotline"));
    }

    #[test]
    fn new_journeys_have_their_channels_and_moments() {
        let moments = |key: &str| -> Vec<String> {
            builtin(key)
                .moments()
                .iter()
                .map(|m| m.key.to_string())
                .collect()
        };
        assert_eq!(builtin(HOTLINE).channel(), Channel::Phone);
        assert_eq!(builtin(APP).channel(), Channel::Remote);
        assert_eq!(builtin(ONSITE).channel(), Channel::FaceToFace);
        assert_eq!(
            moments(HOTLINE),
            [
                "dial",
                "ivr",
                "reach_agent",
                "queue",
                "greeting",
                "understand",
                "resolve",
                "confirm",
                "close",
                "follow_up"
            ]
        );
        assert_eq!(
            moments(APP),
            [
                "find_open",
                "sign_in",
                "find_service",
                "choose",
                "order_pay",
                "confirmation",
                "get_help",
                "notify_follow_up"
            ]
        );
        assert_eq!(
            moments(ONSITE),
            [
                "book",
                "confirm_appointment",
                "arrive",
                "greet",
                "work",
                "test_explain",
                "tidy_up",
                "sign_off",
                "follow_up"
            ]
        );
        for (key, end) in [
            (HOTLINE, "follow_up"),
            (APP, "notify_follow_up"),
            (ONSITE, "follow_up"),
        ] {
            let j = builtin(key);
            assert_eq!(
                j.end().key.as_str(),
                end,
                "{key}: the end of the peak-end rule"
            );
            assert!(j.extends().is_none(), "{key}");
            // No study measured these channels: no prior importance is invented.
            assert!(j.mean_prior_importance().is_none(), "{key}");
            let stages: Vec<Stage> = j.moments().iter().map(|m| m.stage).collect();
            assert!(
                stages.is_sorted(),
                "{key}: people → customer → business flow"
            );
        }
    }

    #[test]
    fn new_journeys_are_complete_and_bilingual() {
        const TRADITIONAL: &str = "務廳時關鍵業體驗們與應說為這個會對開發門問間題點見過還進區號電話網標準處導質據經辦類歸聽計劃語陳樣員單櫃確認";
        let han = |t: &str| t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for key in [HOTLINE, APP, ONSITE] {
            let j = builtin(key);
            assert!(
                j.moments().len() >= 8,
                "{key} has {} moments",
                j.moments().len()
            );
            let mut texts = vec![j.name().clone()];
            for m in j.moments() {
                assert!(!m.core_needs.is_empty(), "{key}.{} has no core need", m.key);
                assert!(!m.standards.is_empty(), "{key}.{} has no standard", m.key);
                for s in &m.standards {
                    assert!(s.check.is_some(), "{key}.{}.{} has no check", m.key, s.key);
                }
                for lane in Lane::ALL {
                    assert!(
                        !m.blueprint.lane(lane).is_empty(),
                        "{key}.{} has an empty {lane:?} lane",
                        m.key
                    );
                }
                texts.push(m.name.clone());
                texts.extend(m.core_needs.iter().map(|n| n.text.clone()));
                texts.extend(m.standards.iter().map(|s| s.text.clone()));
                for lane in Lane::ALL {
                    texts.extend(m.blueprint.lane(lane).iter().cloned());
                }
            }
            for t in texts {
                assert!(han(&t.zh), "{key}: zh text without Chinese: {}", t.zh);
                assert!(
                    !t.zh.chars().any(|c| TRADITIONAL.contains(c)),
                    "{key}: traditional character in: {}",
                    t.zh
                );
                assert!(
                    !t.en.trim().is_empty() && !han(&t.en),
                    "{key}: en text not English: {}",
                    t.en
                );
            }
        }
    }

    #[test]
    fn hotline_carries_its_figures() {
        let j = builtin(HOTLINE);
        let t = |key: &str| {
            let t = j.threshold(key).unwrap_or_else(|| panic!("{key}"));
            (
                t.value,
                t.unit.symbol(),
                serde_json::to_value(t.bound).unwrap(),
            )
        };
        assert_eq!(t("answer_within"), (20.0, "s", "max".into()));
        assert_eq!(t("ivr_max_levels"), (3.0, "count", "max".into()));
        assert_eq!(t("abandon_max"), (5.0, "percent", "max".into()));
        assert_eq!(
            t("first_contact_resolution"),
            (80.0, "percent", "min".into())
        );
        assert_eq!(t("after_call_work_max"), (30.0, "s", "max".into()));
        assert_eq!(t("hold_max"), (60.0, "s", "max".into()));
        let (m, s) = j.standard("answer_within").unwrap();
        assert_eq!(m.key.as_str(), "queue");
        let check = serde_json::to_value(s.check.as_ref().unwrap()).unwrap();
        assert_eq!(check["verify"], "share_min 0.8");
    }

    /// A region extending `hotline` may answer faster, never slower.
    #[test]
    fn a_journey_extending_hotline_may_tighten_answer_within_but_not_loosen_it() {
        let parent = builtin(HOTLINE);
        let child = |seconds: f64, verify: &str| {
            let mut v: serde_json::Value = serde_json::from_str(&parent.to_json_pretty()).unwrap();
            v["key"] = "dongjiang-hotline".into();
            v["extends"] = HOTLINE.into();
            let queue = v["moments"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|m| m["key"] == "queue")
                .unwrap();
            let std = queue["standards"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|s| s["key"] == "answer_within")
                .unwrap();
            std["threshold"]["value"] = seconds.into();
            std["check"]["verify"] = verify.into();
            Journey::from_json(&v.to_string()).unwrap()
        };
        child(20.0, "share_min 0.8").check_extends(&parent).unwrap();
        child(15.0, "share_min 0.9").check_extends(&parent).unwrap();
        let err = child(30.0, "share_min 0.8")
            .check_extends(&parent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("answer_within"), "{err}");
        // The service-level share is part of the standard too: 70 % is looser.
        let err = child(20.0, "share_min 0.7")
            .check_extends(&parent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("answer_within"), "{err}");
    }

    /// Every moment of every built-in journey carries at least one experience and one
    /// SERVQUAL dimension, and the export writes them.
    #[test]
    fn every_built_in_moment_is_tagged_in_both_families() {
        use crate::journey::{Dimension, DimensionFamily};
        for j in journeys().unwrap() {
            for m in j.moments() {
                for family in [DimensionFamily::Experience, DimensionFamily::Servqual] {
                    assert!(
                        m.dimensions.iter().any(|d| d.family() == family),
                        "{}.{} has no {family:?} dimension",
                        j.key(),
                        m.key
                    );
                }
            }
            let export: serde_json::Value = serde_json::from_str(&j.to_json_pretty()).unwrap();
            for m in export["moments"].as_array().unwrap() {
                assert!(m["dimensions"].as_array().is_some_and(|d| !d.is_empty()));
            }
        }
        // Spot checks of the reading: waiting is about efficiency and responsiveness,
        // the hall's environment is tangible, the counter is knowledge and assurance.
        let j = service_hall();
        let dims = |k: &str| {
            j.moments()
                .iter()
                .find(|m| m.key.as_str() == k)
                .unwrap()
                .dimensions
                .clone()
        };
        assert!(dims("queue").contains(&Dimension::Efficiency));
        assert!(dims("queue").contains(&Dimension::Responsiveness));
        assert!(dims("environment").contains(&Dimension::Tangibles));
        for d in [
            Dimension::Knowledge,
            Dimension::Attention,
            Dimension::Assurance,
            Dimension::Empathy,
        ] {
            assert!(dims("counter_talk").contains(&d), "{d}");
        }
    }

    /// A region extending `service-hall` that restates a moment's tags must keep them.
    #[test]
    fn a_region_cannot_drop_a_built_in_tag() {
        let parent = service_hall();
        let mut v: serde_json::Value = serde_json::from_str(&parent.to_json_pretty()).unwrap();
        v["key"] = "dongjiang-hall".into();
        v["extends"] = SERVICE_HALL.into();
        let queue = v["moments"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["key"] == "queue")
            .unwrap();
        queue["dimensions"] = serde_json::json!(["efficiency", "tangibles"]);
        let mut child = Journey::from_json(&v.to_string()).unwrap();
        child.inherit_checks(&parent);
        let err = child.check_extends(&parent).unwrap_err();
        assert_eq!(err.dropped_dimensions, ["queue (control, responsiveness)"]);
    }

    /// The survey form asks every built-in moment in the customer's words, under a
    /// customer heading for every stage the journey uses.
    #[test]
    fn every_built_in_moment_has_a_customer_question_and_heading() {
        for j in journeys().unwrap() {
            for m in j.moments() {
                let q = m
                    .question
                    .as_ref()
                    .unwrap_or_else(|| panic!("{} {}", j.key(), m.key));
                assert!(
                    q.zh.ends_with('？') && q.en.ends_with('?'),
                    "{} {}",
                    j.key(),
                    m.key
                );
                let (zh, en) = j.section_heading(m.stage);
                let (staff_zh, staff_en) = m.stage.name();
                assert!(
                    zh != staff_zh && en != staff_en,
                    "{} {:?}",
                    j.key(),
                    m.stage
                );
                assert_ne!(
                    (zh, en),
                    m.stage.customer_heading(),
                    "{} words its own",
                    j.key()
                );
            }
        }
    }

    /// A region words only what differs: its moments without a question and the stages
    /// it does not head take the parent's.
    #[test]
    fn a_region_inherits_the_customer_wording() {
        let parent = service_hall();
        let mut v: serde_json::Value = serde_json::from_str(&parent.to_json_pretty()).unwrap();
        v["key"] = "dongjiang-hall".into();
        v["extends"] = SERVICE_HALL.into();
        v["sections"] = serde_json::json!({"business_flow": {"zh": "办事", "en": "Your errand"}});
        for m in v["moments"].as_array_mut().unwrap() {
            if m["key"] == "queue" {
                m["question"] = serde_json::json!({"zh": "等得久吗？", "en": "Was the wait long?"});
            } else {
                m.as_object_mut().unwrap().remove("question");
            }
        }
        let mut child = Journey::from_json(&v.to_string()).unwrap();
        assert!(child.moments()[0].question.is_none());
        child.inherit_checks(&parent);
        let find = child.moment(&"find".parse().unwrap()).unwrap();
        assert_eq!(find.question, parent.moments()[0].question);
        let queue = child.moment(&"queue".parse().unwrap()).unwrap();
        assert_eq!(queue.question.as_ref().unwrap().zh, "等得久吗？");
        assert_eq!(
            child.section_heading(Stage::BusinessFlow),
            ("办事", "Your errand")
        );
        assert_eq!(
            child.section_heading(Stage::PeopleFlow),
            parent.section_heading(Stage::PeopleFlow)
        );
    }
}
