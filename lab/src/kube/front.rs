//! What happens to a request before the router: injected faults first,
//! then the routes that need the request's body or stream an answer of
//! their own — pod logs, port-forwards, SelfSubjectAccessReviews and the
//! lab's endpoint for adding log lines — and everything else goes on to
//! the router.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::faults::Fault;
use super::logs;
use super::request::{QueryParams, RecordedRequest};
use super::server::{ResponseBody, ServerState, json_response, status_response};
use super::status::ApiError;

/// The error that makes hyper close a connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("the connection was dropped by an injected fault")]
pub struct Dropped;

/// Where the lab's own endpoint for adding lines to a pod's log lives:
/// `POST /lab/v1/namespaces/NS/pods/NAME/log?container=C` with the bytes
/// as the body.
pub const LAB_LOG_PREFIX: &str = "/lab/v1/namespaces/";

/// The biggest request body read (an access review, lines to add).
const BODY_LIMIT: usize = 16 << 20;

/// Answers `request`: with an injected fault, from this module's routes,
/// or by handing it to `route`.
pub async fn serve<F, R>(
    state: Arc<ServerState>,
    mut request: Request<Incoming>,
    route: R,
) -> Result<Response<ResponseBody>, Dropped>
where
    R: FnOnce(Request<Incoming>) -> F,
    F: Future<Output = Response<ResponseBody>>,
{
    if state.plain_http && !request.headers().contains_key(AUTHORIZATION) {
        // Over plain HTTP client-go sends no token: let such requests in.
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", state.token)) {
            request.headers_mut().insert(AUTHORIZATION, value);
        }
    }
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let record = || {
        state.requests.record(RecordedRequest {
            method: request.method().to_string(),
            path: path.clone(),
            query: query.clone(),
        });
    };
    let lab_endpoint = path.starts_with("/lab/");
    if !lab_endpoint && let Some(fault) = state.faults.take(&path) {
        let watch = QueryParams::parse(&query).flag("watch");
        match fault {
            Fault::Delay(delay) => tokio::time::sleep(delay).await,
            Fault::DropConnection => {
                record();
                return Err(Dropped);
            }
            other => {
                record();
                return Ok(fault_response(&other, watch));
            }
        }
    }
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let own = match (request.method(), segments.as_slice()) {
        (&Method::GET, ["api", "v1", "namespaces", _, "pods", _, "log"]) => Own::Log,
        (
            &Method::POST,
            [
                "apis",
                "authorization.k8s.io",
                "v1",
                "selfsubjectaccessreviews",
            ],
        ) => Own::Review,
        (&Method::POST, ["lab", "v1", "namespaces", _, "pods", _, "log"]) => Own::AddLines,
        (
            &Method::GET | &Method::POST,
            ["api", "v1", "namespaces", _, "pods", _, "portforward"],
        ) => Own::PortForward,
        _ => return Ok(route(request).await),
    };
    record();
    if !authorized(&state, &request) {
        return Ok(status_response(&ApiError::unauthorized()));
    }
    let (namespace, pod) = (
        segments.get(3).copied().unwrap_or_default(),
        segments.get(5).copied().unwrap_or_default(),
    );
    let params = QueryParams::parse(&query);
    let answer = match own {
        Own::Log => logs::serve(&state, namespace, pod, &params),
        Own::PortForward => super::portforward::serve(&state, namespace, pod, &query, request),
        Own::Review => match read_body(request).await {
            Ok(body) => state.access.review(&body).map(|review| created(&review)),
            Err(error) => Err(error),
        },
        Own::AddLines => match read_body(request).await {
            Ok(body) => {
                let container = params.get("container").unwrap_or_default();
                let store = state.store.read();
                state
                    .logs
                    .append(&store, namespace, pod, container, &body)
                    .map(|()| json_response(&json!({"added": body.len()})))
            }
            Err(error) => Err(error),
        },
    };
    Ok(answer.unwrap_or_else(|error| status_response(&error)))
}

/// The routes served here.
enum Own {
    Log,
    Review,
    AddLines,
    PortForward,
}

fn authorized(state: &ServerState, request: &Request<Incoming>) -> bool {
    let expected = format!("Bearer {}", state.token);
    request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        == Some(expected.as_str())
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|error| ApiError::bad_request(format!("cannot read the request body: {error}")))
}

/// A 201 Created JSON answer, as the API server gives for a review.
fn created(body: &Value) -> Response<ResponseBody> {
    let mut response = json_response(body);
    *response.status_mut() = StatusCode::CREATED;
    response
}

/// The answer an injected fault gives.
fn fault_response(fault: &Fault, watch: bool) -> Response<ResponseBody> {
    match fault {
        Fault::Gone if watch => {
            let status = ApiError::expired("too old resource version: 1 (2)").to_status();
            let line = format!("{}\n", json!({"type": "ERROR", "object": status}));
            let mut response = Response::new(Full::new(Bytes::from(line)).boxed());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Fault::Gone => status_response(&ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter.",
        )),
        Fault::TooManyRequests {
            retry_after_seconds,
        } => {
            let mut error = ApiError {
                code: 429,
                reason: "TooManyRequests",
                message: "Too many requests, please try again later.".to_string(),
                details: None,
            };
            error.details = Some(json!({"retryAfterSeconds": retry_after_seconds}));
            let mut response = status_response(&error);
            if let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            response
        }
        Fault::Unavailable | Fault::DropConnection | Fault::Delay(_) => {
            status_response(&ApiError {
                code: 503,
                reason: "ServiceUnavailable",
                message: "the server is currently unable to handle the request".to_string(),
                details: None,
            })
        }
    }
}
