//! A check as written in a journey file and a result as an auditor records it are
//! parsed from anything without panicking, and a check reads back what it writes.

use peakend_core::audit::CheckMethod;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_without_panicking(s in ".{0,40}") {
        if let Ok(m) = s.parse::<CheckMethod>() {
            prop_assert_eq!(m.to_string().parse::<CheckMethod>(), Ok(m));
        }
        for m in [
            CheckMethod::YesNo,
            CheckMethod::CountMax { max: 3.0 },
            CheckMethod::DurationMax { max: 15.0 },
            CheckMethod::ShareMin { min: 1.0 },
        ] {
            if let Ok(r) = m.parse_result(&s) {
                let _ = m.passes(r);
            }
        }
    }

    #[test]
    fn a_check_written_reads_back(kind in 0u8..4, x in 0.0f64..1.0e6) {
        let m = match kind {
            0 => CheckMethod::YesNo,
            1 => CheckMethod::CountMax { max: x.round() },
            2 => CheckMethod::DurationMax { max: x },
            _ => CheckMethod::ShareMin { min: x / 1.0e6 },
        };
        prop_assert_eq!(m.to_string().parse::<CheckMethod>(), Ok(m));
    }
}

#[test]
fn checks_are_refused_with_a_reason() {
    for (text, why) in [
        ("count_max", "needs a count"),
        ("count_max many", "not a number"),
        ("share_min 120%", "at most 1"),
        ("yes_no 3", "takes no number"),
        ("duration_max -1", "≥ 0"),
        ("weight_max 3", "is not yes_no"),
        ("count_max 3 4", "at most one number"),
    ] {
        let e = text.parse::<CheckMethod>().unwrap_err();
        assert!(e.contains(why), "{text}: {e}");
    }
    assert_eq!(
        "share_min 100%".parse(),
        Ok(CheckMethod::ShareMin { min: 1.0 })
    );
}
