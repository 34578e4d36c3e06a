//! Where the server may send a browser back to: a path on this site and nothing else.
//! Used by every route that redirects to a target the request names (`/lang/{code}?back=`,
//! the login form's `next`), so there is one place that decides.

/// The target as a path on this site, or `None` if a browser could read it as another
/// site or it cannot be a header value.
///
/// Browsers normalise before they resolve a `Location`: they drop tabs and newlines and
/// read `\` as `/` in http(s) URLs, so `/\evil.example/` and `/<TAB>/evil.example/` both
/// become `//evil.example/`, another host. Anything that a browser would strip or fold
/// is therefore refused outright rather than cleaned, and so is its percent-encoded
/// form, which some servers and proxies decode on the way back in. Non-ASCII characters
/// are percent-encoded (a header value is ASCII).
pub fn local_target(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    // A raw space is no part of a URL; an encoded one (`%20`) is.
    if raw.contains(' ')
        || !is_plain_path(raw.as_bytes())
        || !is_plain_path(&percent_decoded(raw.as_bytes()))
    {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

/// [`local_target`], or the home page.
pub fn local_target_or_home(raw: Option<&str>) -> String {
    raw.and_then(local_target).unwrap_or_else(|| "/".to_owned())
}

/// A single leading `/`, then no byte a browser strips or reads as a separator.
fn is_plain_path(bytes: &[u8]) -> bool {
    let forbidden = |b: u8| b < 0x20 || b == 0x7f || b == b'\\';
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/'))
        && !bytes.iter().copied().any(forbidden)
}

/// `%XX` decoded (repeatedly, so `%252F` counts as `/` too); malformed escapes stay as they are.
fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut cur = bytes.to_vec();
    // Each round shortens the text, so this ends; three rounds cover any real double encoding.
    for _ in 0..3 {
        let mut out = Vec::with_capacity(cur.len());
        let mut i = 0;
        let mut changed = false;
        while i < cur.len() {
            let hex = |at: usize| {
                cur.get(at)
                    .and_then(|&b| (b as char).to_digit(16))
                    .map(|d| d as u8)
            };
            if cur[i] == b'%'
                && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
            {
                out.push(h * 16 + l);
                i += 3;
                changed = true;
                continue;
            }
            out.push(cur[i]);
            i += 1;
        }
        cur = out;
        if !changed {
            break;
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/", Some("/")),
            (
                "/analysis?node=demo&lang=en",
                Some("/analysis?node=demo&lang=en"),
            ),
            ("/halls/h1/board#top", Some("/halls/h1/board#top")),
            ("/a%20b", Some("/a%20b")),
            ("/分析", Some("/%E5%88%86%E6%9E%90")),
            // another host, written the many ways a browser reads as one
            ("//evil.example/", None),
            ("/\\evil.example/", None),
            ("\\\\evil.example/", None),
            ("/\tevil.example/", None),
            ("/\t/evil.example/", None),
            ("/\n/evil.example/", None),
            ("/\r\n/evil.example/", None),
            ("/%09/evil.example/", None),
            ("/%5Cevil.example/", None),
            ("/%5cevil.example/", None),
            ("/%2F/evil.example/", None),
            ("/%252F/evil.example/", None),
            ("/ /evil.example/", None),
            // header injection
            ("/\r\nSet-Cookie: a=b", None),
            ("/%0d%0aSet-Cookie:%20a=b", None),
            ("/x\0y", None),
            // schemes and relative targets
            ("https://evil.example/", None),
            ("javascript:alert(1)", None),
            ("evil.example", None),
            (" /", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(local_target(raw).as_deref(), *want, "{raw:?}");
        }
        assert_eq!(local_target_or_home(Some("//x")), "/");
        assert_eq!(local_target_or_home(None), "/");
    }

    #[test]
    fn every_target_is_a_header_value() {
        for raw in ["/ä?x=é", "/%ZZ", "/%", "/a%2"] {
            let t = local_target(raw).unwrap();
            assert!(
                axum::http::HeaderValue::from_str(&t).is_ok(),
                "{raw:?} → {t:?}"
            );
        }
    }
}
