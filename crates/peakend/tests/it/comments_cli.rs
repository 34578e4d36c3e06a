//! `peakend survey comments` (issue 22) on both backends: a survey file's comments are
//! imported, an over-long one refuses the file by row and column with nothing stored,
//! and the listing gives each comment's hall, moments and sentiment, and the top
//! phrases per moment and hall.

use assert_cmd::Command;
use serde_json::Value;

fn peakend(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("peakend")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

peakend_testkit::on_both_backends!(
    comments_are_listed_with_moments_sentiment_and_phrases,
    |url| {
        let dir = tempfile::tempdir().unwrap();
        let org = write(
            dir.path(),
            "org.csv",
            "id,parent,level,name\np,,province,省\nc,p,city,市\nh1,c,hall,一厅\nh2,c,hall,二厅\n",
        );
        assert!(peakend(url, &["org", "import", &org]).0);
        let long = "慢".repeat(2001);
        let bad = write(
            dir.path(),
            "bad.csv",
            &format!(
                "respondent,hall,date,segment,comment\nr1,h1,2026-08-07,g,好\nr2,h1,2026-08-07,g,{long}\n"
            ),
        );
        let (ok, _, err) = peakend(
            url,
            &["survey", "import", &bad, "--journey", "service-hall"],
        );
        assert!(!ok);
        assert!(
            err.contains("row 3, column comment: 2001 characters, longer than the 2000 allowed"),
            "{err}"
        );
        let good = write(
            dir.path(),
            "good.csv",
            "respondent,hall,date,segment,comment\n\
         r1,h1,2026-08-07,g,排队排了一个多小时，太慢了\n\
         r2,h1,2026-08-07,g,排队等了很久\n\
         r3,h2,2026-08-08,g,营业员态度很好\n\
         r4,h2,2026-08-08,g,\n",
        );
        let (ok, _, err) = peakend(
            url,
            &["survey", "import", &good, "--journey", "service-hall"],
        );
        assert!(ok, "{err}");

        let (ok, out, err) = peakend(
            url,
            &[
                "survey",
                "comments",
                "--journey",
                "service-hall",
                "--format",
                "json",
            ],
        );
        assert!(ok, "{err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        let comments = doc["comments"].as_array().unwrap();
        assert_eq!(comments.len(), 3);
        assert_eq!(comments[0]["hall"], "h1");
        assert_eq!(comments[0]["moments"][0]["moment"], "queue");
        assert_eq!(comments[0]["sentiment"], "negative");
        assert_eq!(comments[2]["moments"][0]["moment"], "counter_talk");
        assert_eq!(comments[2]["sentiment"], "positive");
        let queue_h1 = doc["top_phrases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["moment"] == "queue" && t["hall"] == "h1")
            .unwrap();
        assert_eq!(queue_h1["phrases"][0]["phrase"], "排队");
        assert_eq!(queue_h1["phrases"][0]["count"], 2);

        // --org narrows to the halls under a node; the table shows comments then phrases.
        let (ok, out, err) = peakend(
            url,
            &[
                "survey",
                "comments",
                "--journey",
                "service-hall",
                "--org",
                "h2",
            ],
        );
        assert!(ok, "{err}");
        assert!(
            out.contains("营业员态度很好") && !out.contains("排队排了"),
            "{out}"
        );
        assert!(out.contains("高频短语"), "{out}");
    }
);
