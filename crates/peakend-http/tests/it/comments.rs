//! Issue 22's comments on the web, against a fresh database on each backend: the
//! form's comment is stored with the answer, one over 2,000 characters comes back as a
//! field problem with nothing stored, and the analysis page shows each moment's
//! comments (count, share negative, examples, escaped) beside its scores.

use crate::helpers;
use helpers::nonce_of;

use helpers::TestApp;
use peakend_core::JourneyKey;
use peakend_store::Store;
use reqwest::StatusCode;

async fn answer(app: &TestApp, comment: &str) -> (StatusCode, String) {
    let c = helpers::customer();
    let html = c
        .get(app.url("/halls/h1/survey"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("nonce", nonce_of(&html)),
        ("sat.queue", "7".to_owned()),
        ("overall", "8".to_owned()),
        ("segment", "全球通".to_owned()),
        ("comment", comment.to_owned()),
    ];
    let resp = c
        .post(app.url("/halls/h1/survey"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

peakend_testkit::on_both_backends!(
    the_forms_comment_is_stored_and_shown_beside_the_moments_scores,
    |url| {
        let app = TestApp::spawn(url).await;
        let journey = app
            .store
            .journey(&JourneyKey::parse("service-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let html = helpers::customer()
            .get(app.url("/halls/h1/survey"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("您还有什么想说的？"));
        assert!(html.contains(r#"<textarea name="comment" rows="4" maxlength="2000">"#));

        // Too long: the page comes back naming the field, the text kept, nothing stored.
        let (status, page) = answer(&app, &"慢".repeat(2001)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
        assert!(page.contains("留言请不超过 2000 字"));
        assert!(
            app.store
                .responses(&journey, None, None, None)
                .await
                .unwrap()
                .is_empty()
        );

        for text in [
            "排队排了一个多小时，太慢了",
            "等了很久，叫号也听不清 <script>alert(1)</script>",
            "这次不用排队，太好了",
        ] {
            let (status, page) = answer(&app, text).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        }
        let stored = app
            .store
            .comments(&journey, None, None, None)
            .await
            .unwrap();
        assert_eq!(stored.len(), 3);

        let admin = app.user("admin").await;
        let page = admin
            .get(app.url("/analysis?node=p"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (_, table) = page
            .split_once(r#"<table id="moment-comments">"#)
            .unwrap_or_else(|| panic!("no comments table in {page}"));
        let table = table.split("</table>").next().unwrap();
        // The queue: three comments, two negative (67%), its satisfaction of 7.00.
        let row = table
            .split("<tr>")
            .find(|r| r.contains("排队等候"))
            .unwrap_or_else(|| panic!("no queue row in {table}"));
        assert!(row.contains("<td>3</td><td>67%</td>"), "{row}");
        assert!(row.contains("<td>7.00</td>"), "{row}");
        assert!(row.contains("排队排了一个多小时"), "{row}");
        // Escaped, never markup.
        assert!(!page.contains("<script>alert(1)"));
        assert!(
            row.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || row.contains("&lt;script&gt;"),
            "{row}"
        );
    }
);
