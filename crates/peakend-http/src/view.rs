//! What every page shares: the language, the header, errors as pages and rendering.
//! Below both the sign-in module and the page modules, so neither imports the other
//! for these.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use peakend_core::{Action, OrgTree, Text};
use peakend_store::User;

use crate::ApiError;

/// A cookie of the request by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in user as the header shows them (the sign-in module's `Viewer`).
pub trait Signed {
    fn user(&self) -> &User;
    fn csrf(&self) -> &str;
}

/// The page language: `?lang=en|zh` on the URL, else the `lang` cookie the switch sets,
/// else Chinese.
#[derive(Debug, Clone, Copy)]
pub struct Lang {
    pub en: bool,
}

impl Lang {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { zh }
    }

    pub fn text<'a>(&self, text: &'a Text) -> &'a str {
        self.t(&text.zh, &text.en)
    }

    pub fn code(&self) -> &'static str {
        if self.en { "en" } else { "zh-CN" }
    }

    fn of(parts: &Parts) -> Lang {
        Lang::of_request(&parts.uri, &parts.headers)
    }

    /// The language `?lang=` names, if the address names one.
    pub fn of_query(uri: &Uri) -> Option<Lang> {
        uri.query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .map(|l| Lang {
                en: l.starts_with("en"),
            })
    }

    /// The `lang` cookie that keeps this language for the pages that follow (the
    /// language switch's, and the sign-in's when the address chose a language).
    pub fn cookie(&self) -> HeaderValue {
        HeaderValue::from_static(if self.en {
            "lang=en; Path=/; Max-Age=31536000; SameSite=Lax"
        } else {
            "lang=zh; Path=/; Max-Age=31536000; SameSite=Lax"
        })
    }

    /// The language a request asks for (`?lang=`, else the cookie, else Chinese).
    pub fn of_request(uri: &Uri, headers: &HeaderMap) -> Lang {
        let query = uri.query().unwrap_or("");
        let asked = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .or_else(|| cookie(headers, "lang"));
        Lang {
            en: asked.is_some_and(|l| l.starts_with("en")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(parts))
    }
}

/// The header of every page: who is signed in, where they are, the switch and logout.
pub struct Nav {
    pub user: String,
    pub role: String,
    pub org: String,
    pub csrf: String,
    pub admin: bool,
    /// An auditor sees no results: its menu is the audits only.
    pub auditor: bool,
    /// A hall user's own hall, for the live board link.
    pub hall: String,
    /// The path and query of this page, to come back to after switching language.
    pub here: String,
}

impl Nav {
    /// The header of a page drawn without a signed-in viewer at hand (an error page):
    /// the brand and the language switch back to `here`.
    pub fn anonymous_at(here: &Uri) -> Nav {
        Nav {
            here: here
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            ..Nav::anonymous()
        }
    }

    pub fn anonymous() -> Nav {
        Nav {
            user: String::new(),
            role: String::new(),
            org: String::new(),
            csrf: String::new(),
            admin: false,
            auditor: false,
            hall: String::new(),
            here: "/".into(),
        }
    }

    pub fn of(viewer: &impl Signed, tree: &OrgTree, lang: &Lang, here: &Uri) -> Nav {
        let user = viewer.user();
        let node = tree.get(&user.org);
        let (zh, en) = user.role.name();
        Nav {
            user: user.name.to_string(),
            role: lang.t(zh, en).to_owned(),
            org: node.map_or_else(|| user.org.to_string(), |n| n.name.clone()),
            csrf: viewer.csrf().to_owned(),
            admin: user.role.may(Action::ManageUsers),
            auditor: user.role == peakend_core::Role::Auditor,
            hall: node
                .and_then(|n| n.hall_id())
                .map(|h| h.to_string())
                .unwrap_or_default(),
            here: here
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        }
    }

    pub fn signed_in(&self) -> bool {
        !self.user.is_empty()
    }

    /// This page without a `lang=` parameter, so the switch (a cookie) takes effect.
    pub fn here_without_lang(&self) -> String {
        let (path, query) = self.here.split_once('?').unwrap_or((&self.here, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
            .collect();
        if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        }
    }
}

/// An error on a page: the same statuses as the API, shown as a page, not JSON. Staff
/// see the status and the reason; a customer (the survey form) sees a friendly page in
/// their language that says what to do. One type for every page, so every page answers
/// errors the same way (and a 429's or 503's `Retry-After` is always sent).
#[derive(Debug)]
pub struct PageError {
    pub error: ApiError,
    /// A customer's page, in this language.
    pub customer: Option<Lang>,
}

impl PageError {
    pub fn for_customer(error: ApiError, lang: Lang) -> PageError {
        PageError {
            error,
            customer: Some(lang),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError {
            error,
            customer: None,
        }
    }
}

impl From<peakend_store::StoreError> for PageError {
    fn from(e: peakend_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    lang: Lang,
    nav: Nav,
    status: u16,
    title: &'static str,
    /// What the status means for the reader, in their language.
    human: &'static str,
    /// The reason as the API gives it (English), folded away: support asks for it.
    detail: String,
}

/// Set on every staff error page's response, so that [`crate::shape::shape_errors`],
/// which knows the request, draws it again in the request's language and with the
/// language switch back to the page (the handler that failed may not know either).
#[derive(Debug, Clone)]
pub struct ErrorPageParts {
    pub message: String,
    /// Drawn for a customer, in this language (the handler's, which may read only `?lang=`).
    pub customer: Option<Lang>,
}

/// The pages a customer opens without signing in. Their errors never show the staff
/// header; each kind says what went wrong in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerPage {
    /// The QR survey form and an invitation's link (`/halls/{hall}/survey`, `/i/…`).
    Survey,
    /// A service case's callback link (`/c/…`).
    Callback,
    /// A hall's public busy-hour forecast (`/halls/{hall}/busy`).
    Hall,
}

/// A staff error page: the site's header, a human title and message per status in the
/// reader's language, the API's reason folded away under "details".
pub fn error_page(
    status: StatusCode,
    detail: &str,
    lang: Lang,
    nav: Nav,
) -> askama::Result<String> {
    let (title, human) = match status {
        StatusCode::UNAUTHORIZED => (
            lang.t("请先登录", "Please sign in"),
            lang.t("这个页面需要登录后查看。", "This page needs you to sign in first."),
        ),
        StatusCode::FORBIDDEN => (
            lang.t("无权访问", "Not allowed"),
            lang.t(
                "您的账号无权查看或修改这里的内容：每个账号只能查看本级及下级机构的数据，部分操作只限特定角色。",
                "Your account may not see or change this: each account sees its own node and those below it, and some actions are for certain roles only.",
            ),
        ),
        StatusCode::NOT_FOUND => (
            lang.t("页面不存在", "Page not found"),
            lang.t(
                "找不到这个页面或记录：地址可能有误，或记录已被删除。",
                "This page or record does not exist: the address may be wrong, or the record was removed.",
            ),
        ),
        StatusCode::CONFLICT => (
            lang.t("与当前状态冲突", "Conflicts with the current state"),
            lang.t(
                "这项操作与记录的当前状态不符（可能已被他人处理），请刷新后再试。",
                "This action does not fit the record's current state (someone may have dealt with it); reload and try again.",
            ),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            lang.t("请求过于频繁", "Too many requests"),
            lang.t("请稍候片刻再试。", "Please wait a moment and try again."),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            lang.t("不支持这种操作", "This address does not take that action"),
            lang.t(
                "这个地址不接受这种请求（例如直接打开了只能提交的地址）。请从页面上的链接或按钮进入。",
                "This address does not accept that kind of request (for example, an address that only takes a form was opened directly). Use the links and buttons on the pages.",
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            lang.t("提交的内容格式不对", "What was sent is in the wrong format"),
            lang.t(
                "提交的内容不是这个地址接受的格式，请从页面上的表单重新提交。",
                "What was sent is not in a format this address accepts; send it again from the form on the page.",
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            lang.t("提交的内容过大", "What was sent is too large"),
            lang.t(
                "提交的内容超过了这里允许的大小，请缩小后重试。",
                "What was sent is larger than this page accepts; make it smaller and try again.",
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            lang.t("请求超时", "The request took too long"),
            lang.t(
                "请求没有在限定时间内完成，请检查网络后重试。",
                "The request did not complete in time; check the connection and try again.",
            ),
        ),
        StatusCode::GONE => (
            lang.t("已失效", "No longer available"),
            lang.t(
                "这个链接或记录已经失效。",
                "This link or record is no longer available.",
            ),
        ),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
            lang.t("请求有误", "Something is not right in the request"),
            lang.t(
                "地址中的参数或提交的内容有误，请检查后重试。",
                "A value in the address or in what was sent is not right; check it and try again.",
            ),
        ),
        s if s.is_server_error() => (
            lang.t("服务器出错", "Server error"),
            lang.t(
                "系统暂时出了问题，您的操作没有完成，请稍后再试。如问题持续，请把下面的请求编号告诉技术支持。",
                "The system has a problem just now and did not complete this; try again shortly. If it persists, give support the request number below.",
            ),
        ),
        _ => (
            lang.t("出错了", "Something went wrong"),
            lang.t("请返回上一页重试。", "Go back and try again."),
        ),
    };
    ErrorPage {
        lang,
        nav,
        status: status.as_u16(),
        title,
        human,
        detail: detail.to_owned(),
    }
    .render()
}

#[derive(Template)]
#[template(path = "survey_error.html")]
struct CustomerErrorPage {
    lang: Lang,
    title: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status;
        let body = match self.customer {
            // As a survey; `shape_errors`, which knows the path, draws it again in its page's words.
            Some(lang) => customer_page(status, lang, CustomerPage::Survey),
            // Drawn in Chinese here; `shape_errors` draws it again in the request's language.
            None => error_page(
                status,
                &self.error.message,
                Lang { en: false },
                Nav::anonymous(),
            ),
        };
        let mut response = match body {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => (status, status.to_string()).into_response(),
        };
        response.extensions_mut().insert(ErrorPageParts {
            message: self.error.message,
            customer: self.customer,
        });
        if let Some(secs) = self.error.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What a customer is told: what happened and what to do, never the reason's text, and
/// no staff header or menu.
pub fn customer_page(status: StatusCode, lang: Lang, page: CustomerPage) -> askama::Result<String> {
    let (title, message) = match (status, page) {
        (StatusCode::NOT_FOUND, CustomerPage::Callback) => (
            lang.t("这个回访链接无效", "This callback link does not work"),
            lang.t(
                "链接可能有误，或已经使用过。感谢您的反馈！如仍有问题，请联系营业厅工作人员。",
                "The link may be wrong or already used. Thank you for your feedback! If something is still wrong, please contact the hall's staff.",
            ),
        ),
        (StatusCode::NOT_FOUND, CustomerPage::Hall) => (
            lang.t("找不到这个营业厅", "We cannot find this hall"),
            lang.t(
                "地址可能有误，请向工作人员确认。",
                "The address may be wrong; please check with a member of staff.",
            ),
        ),
        (s, CustomerPage::Callback | CustomerPage::Hall) if s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS && s != StatusCode::PAYLOAD_TOO_LARGE => (
            lang.t("无法处理这次请求", "We could not handle this request"),
            lang.t(
                "请返回上一页重试。",
                "Please go back and try again.",
            ),
        ),
        (StatusCode::NOT_FOUND, _) => (
            lang.t("找不到这份问卷", "We cannot find this survey"),
            lang.t(
                "这个营业厅或问卷不存在，可能二维码已更换。请向工作人员索取新的二维码，谢谢！",
                "This hall or survey does not exist; the QR code may have been replaced. Please ask a member of staff for the current one. Thank you!",
            ),
        ),
        (StatusCode::GONE, _) => (
            lang.t("这个评价链接已失效", "This survey link no longer works"),
            lang.t(
                "每个邀请链接只能回答一次，并在 72 小时后失效。感谢您的支持！下次到访时，也可以扫描厅内的二维码评价。",
                "Each invitation link can be answered once and lapses after 72 hours. Thank you! Next time, you can also scan the QR code in the hall.",
            ),
        ),
        (StatusCode::TOO_MANY_REQUESTS, _) => (
            lang.t("请稍候再试", "Please wait a moment"),
            lang.t(
                "这个网络在短时间内提交了太多问卷。请一分钟后再提交，您的回答对我们很重要。",
                "Too many answers were sent from this network in a short time. Please try again in a minute: your answers matter to us.",
            ),
        ),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => (
            lang.t("回答内容过长", "This answer is too long"),
            lang.t(
                "请缩短文字后重新提交，谢谢！",
                "Please shorten what you wrote and send it again. Thank you!",
            ),
        ),
        (s, _) if s.is_client_error() => (
            lang.t("无法处理这次提交", "We could not read this submission"),
            lang.t(
                "请返回问卷重新提交。",
                "Please go back to the survey and send it again.",
            ),
        ),
        _ => (
            lang.t("抱歉，出了点问题", "Sorry, something went wrong"),
            lang.t(
                "我们的系统暂时出了点问题，请稍后再试。",
                "Our system has a problem just now. Please try again a little later.",
            ),
        ),
    };
    CustomerErrorPage {
        lang,
        title: title.to_owned(),
        message: message.to_owned(),
    }
    .render()
}

pub fn render(t: &impl Template) -> Result<Html<String>, ApiError> {
    html(t.render())
}

pub(crate) fn html(rendered: Result<String, askama::Error>) -> Result<Html<String>, ApiError> {
    rendered
        .map(Html)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
