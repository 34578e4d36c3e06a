//! `peakend kpi` with sales (issue 23) on both backends: the sales block of the table,
//! and `--peaks-vs-sales` over five halls whose peak satisfaction and sales per served
//! visit rank alike by construction (ρ = 1), a sixth left out for want of answers.

use assert_cmd::Command;
use peakend_store::Store;
use serde_json::Value;

fn peakend(db: &str, args: &[&str]) -> String {
    let out = Command::cargo_bin("peakend")
        .unwrap()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "{args:?}: {stderr}");
    stdout
}

/// Hall `hall` serves 10 phone visits and sells `n` phones of 1,999 yuan.
fn day_of(hall: &str, n: usize) -> String {
    let at = |m: usize| format!("2026-08-07T{:02}:{:02}:00+08:00", 9 + m / 60, m % 60);
    let mut out = String::new();
    for t in 0..10 {
        let m = t * 6;
        let head = |id: &str, m: usize, kind: &str| {
            format!(
                r#"{{"id":"{id}{t}","hall":"{hall}","type":"{kind}","at":"{}","#,
                at(m)
            )
        };
        out += &format!(
            "{}\"ticket\":\"P{t}\",\"service\":\"phone\"}}\n",
            head("i", m, "ticket_issued")
        );
        out += &format!(
            "{}\"ticket\":\"P{t}\",\"counter\":\"c1\",\"staff\":\"s1\"}}\n",
            head("c", m + 1, "called")
        );
        out += &format!(
            "{}\"ticket\":\"P{t}\",\"counter\":\"c1\"}}\n",
            head("s", m + 1, "service_started")
        );
        if t < n {
            out += &format!(
                "{}\"ticket\":\"P{t}\",\"category\":\"phone\",\"amount\":1999}}\n",
                head("sale", m + 2, "sale")
            );
        }
        out += &format!(
            "{}\"ticket\":\"P{t}\",\"counter\":\"c1\",\"outcome\":\"done\"}}\n",
            head("e", m + 4, "service_ended")
        );
    }
    out
}

peakend_testkit::on_both_backends!(kpi_shows_sales_and_peaks_vs_sales, |url| {
    let dir = tempfile::tempdir().unwrap();
    let halls = ["h1", "h2", "h3", "h4", "h5", "h6"];
    let mut org = String::from("id,parent,level,name\np,,province,省\nd,p,district,区\n");
    let mut events = String::new();
    for (i, h) in halls.iter().enumerate() {
        org += &format!("{h},d,hall,{}号厅\n", i + 1);
        events += &day_of(h, if *h == "h6" { 9 } else { i + 1 });
    }
    let org_file = dir.path().join("org.csv");
    std::fs::write(&org_file, org).unwrap();
    peakend(url, &["org", "import", org_file.to_str().unwrap()]);
    let events_file = dir.path().join("day.ndjson");
    std::fs::write(&events_file, events).unwrap();
    let out = peakend(url, &["events", "ingest", events_file.to_str().unwrap()]);
    assert!(out.contains("0 rejected"), "{out}");
    // 40 answers for each of h1–h5, every moment rated 4 + N by hall hN.
    let store = peakend_store::connect(url).await.unwrap();
    let journey = store
        .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
        .await
        .unwrap()
        .unwrap();
    let answered: Vec<peakend_core::HallId> = halls[..5]
        .iter()
        .map(|h| peakend_core::HallId::parse(*h).unwrap())
        .collect();
    let mut responses = Vec::new();
    for (i, hall) in answered.iter().enumerate() {
        for (k, mut r) in
            peakend_core::synth::responses(&journey, &answered[..1], 40, i as u64).enumerate()
        {
            r.respondent = format!("{hall}-{k}");
            r.hall = hall.clone();
            r.date = "2026-08-07".parse().unwrap();
            for rating in &mut r.ratings {
                rating.satisfaction = Some(4.0 + (i + 1) as f64);
                rating.importance.get_or_insert(8.0);
            }
            responses.push(r);
        }
    }
    store.import_responses(&journey, &responses).await.unwrap();

    let base = [
        "kpi",
        "--org",
        "d",
        "--from",
        "2026-08-07",
        "--to",
        "2026-08-07",
    ];
    let table = peakend(url, &base);
    let sales = table.split("SALES 销售").nth(1).expect("a sales block");
    let row = |label: &str| {
        sales
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label}: {sales}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Sales, amount, per served, the five lines, the four conversions, trials.
    assert_eq!(
        row("hall h3 "),
        "hall h3 3 5997.00 0.300 0 0 3 0 0 30.0 (3/10) 0/0",
        "{table}"
    );
    assert!(
        row("sales total").starts_with("sales total 合计 24 47976.00 0.400"),
        "{table}"
    );
    assert!(
        row("staff h6/s1").starts_with("staff h6/s1 9 17991.00 0.900"),
        "{table}"
    );

    let json: Value = serde_json::from_str(&peakend(
        url,
        &[&base[..], &["--peaks-vs-sales", "--format", "json"]].concat(),
    ))
    .unwrap();
    let p = &json["peaks_vs_sales"];
    assert_eq!(p["n"], 5, "{p}");
    assert!(
        (p["sales_per_served"]["rho"].as_f64().unwrap() - 1.0).abs() < 1e-12,
        "{p}"
    );
    assert_eq!(p["excluded"][0]["hall"], "h6");
    let table = peakend(url, &[&base[..], &["--peaks-vs-sales"]].concat())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        table.contains("sales per served 人均销售 1.000")
            && table.contains("left out 未纳入 h6: 峰值时刻无满意度评分"),
        "{table}"
    );
    // Without the flag, no such section.
    let json: Value =
        serde_json::from_str(&peakend(url, &[&base[..], &["--format", "json"]].concat())).unwrap();
    assert!(json.get("peaks_vs_sales").is_none());
});
