//! A deadline for the whole request body. A client that sends its headers and then its
//! body slowly (a byte now and then) or not at all would otherwise hold a handler and a
//! connection for as long as it likes; here its body ends in an error at the deadline,
//! and the request is answered 408 whatever the handler made of that error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;

use crate::ApiError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body, cut off at a deadline.
struct Deadline {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    missed: Arc<AtomicBool>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.missed.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Gives the request's body `within` to arrive; answers 408 if it did not.
pub async fn body_deadline(within: Duration, request: Request, next: Next) -> Response {
    let missed = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Deadline {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(within)),
        missed: Arc::clone(&missed),
    });
    let response = next.run(Request::from_parts(parts, body)).await;
    if missed.load(Ordering::Relaxed) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                within.as_secs_f64()
            ),
        )
        .into_response();
    }
    response
}
