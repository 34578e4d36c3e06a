//! An audit checklist as CSV, one row per standard to check, with empty `result` and
//! `note` columns to fill in. Keys and methods as the journey file writes them
//! (`moment`, `standard`, `verify`, `every`, `auto`); texts in Chinese (`moment_name`,
//! `text`, `owner`, `how`). UTF-8 with a BOM, so Excel opens the Chinese as it is.

use peakend_core::audit::Frequency;
use peakend_core::checklist::Checklist;

pub const CHECKLIST_HEADER: [&str; 11] = [
    "moment",
    "moment_name",
    "standard",
    "text",
    "owner",
    "verify",
    "how",
    "every",
    "auto",
    "result",
    "note",
];

fn frequency_key(f: Frequency) -> &'static str {
    match f {
        Frequency::Day => "day",
        Frequency::Week => "week",
        Frequency::Month => "month",
        Frequency::Quarter => "quarter",
    }
}

pub fn checklist_csv(list: &Checklist) -> Result<Vec<u8>, csv::Error> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(CHECKLIST_HEADER)?;
        for (m, i) in list.items() {
            let auto = i
                .auto
                .and_then(|a| serde_json::to_value(a).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            w.write_record([
                m.key.as_str(),
                m.name.zh.as_str(),
                i.standard.as_str(),
                i.text.zh.as_str(),
                i.owner.name().0,
                &i.verify.to_string(),
                i.how.zh.as_str(),
                frequency_key(i.every),
                &auto,
                "",
                "",
            ])?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peakend_core::audit::Checker;

    #[test]
    fn a_row_per_standard_with_room_for_the_result() {
        let j = peakend_core::builtin::journeys()
            .unwrap()
            .into_iter()
            .find(|j| j.key().as_str() == "service-hall")
            .unwrap();
        let list = peakend_core::checklist::checklist(&j, Checker::Walk);
        let bytes = checklist_csv(&list).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let text = text.strip_prefix('\u{feff}').unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap(), CHECKLIST_HEADER.as_slice());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), list.len());
        let care = rows.iter().find(|r| &r[2] == "care_after").unwrap();
        assert_eq!(&care[0], "queue");
        assert_eq!(&care[4], "流动岗");
        assert_eq!(&care[5], "duration_max 300");
        assert_eq!(&care[6], "记录秒数（不超过 300 秒）");
        assert_eq!(&care[7], "day");
        assert_eq!(&care[8], "care_in_time");
        assert_eq!((&care[9], &care[10]), ("", ""));
    }
}
