//! Bilingual text. peakend is Chinese-first with English second; every user-facing
//! string of a journey carries both, and neither may be blank.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawText")]
pub struct Text {
    pub zh: String,
    pub en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    zh: String,
    en: String,
}

impl TryFrom<RawText> for Text {
    type Error = String;
    fn try_from(raw: RawText) -> Result<Self, String> {
        Text::new(raw.zh, raw.en)
    }
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Result<Self, String> {
        let (zh, en) = (zh.into(), en.into());
        match (zh.trim().is_empty(), en.trim().is_empty()) {
            (true, true) => Err("both `zh` and `en` are empty".into()),
            (true, false) => Err("`zh` is empty".into()),
            (false, true) => Err("`en` is empty".into()),
            (false, false) => Ok(Text { zh, en }),
        }
    }

    /// The text in the requested language; anything other than English gets Chinese.
    pub fn get(&self, lang: &str) -> &str {
        if lang.starts_with("en") {
            &self.en
        } else {
            &self.zh
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_side_is_rejected() {
        let err = serde_json::from_str::<Text>(r#"{"zh":" ","en":"Find"}"#).unwrap_err();
        assert!(err.to_string().contains("`zh` is empty"), "{err}");
        assert!(serde_json::from_str::<Text>(r#"{"zh":"寻找"}"#).is_err());
        assert!(serde_json::from_str::<Text>(r#"{"zh":"寻找","en":"Find","fr":"x"}"#).is_err());
    }

    #[test]
    fn get_picks_language() {
        let t = Text::new("离开", "Leave").unwrap();
        assert_eq!(t.get("zh-CN"), "离开");
        assert_eq!(t.get("en"), "Leave");
    }
}
