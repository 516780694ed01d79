//! The HTTPS server: TLS, bearer-token authentication, routing of
//! discovery, get and list requests (watches are handed to
//! [`super::watch`]), and Status objects for everything that fails.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::discovery;
use super::present::{Representation, list_item, list_kind, object_for};
use super::request::{QueryParams, RecordedRequest, RequestLog};
use super::resources::{ResourceType, find};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{ObjectKey, SharedStore, key_of};
use super::table::{IncludeObject, partial_metadata, table};
use super::watch;

/// The body of every response: whole for most, streamed for watches.
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// What every connection of one simulator shares.
#[derive(Debug)]
pub struct ServerState {
    /// The objects.
    pub store: SharedStore,
    /// The bearer token clients must present.
    pub token: String,
    /// `127.0.0.1:PORT`, as `/api` reports it.
    pub address: String,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// The requests served so far.
    pub requests: RequestLog,
    /// Pod logs: how lines are generated, and the lines tests added.
    pub logs: super::logs::LogBook,
    /// Who may do what, for SelfSubjectAccessReviews.
    pub access: super::access::AccessPolicy,
    /// Faults injected by tests, and API restarts.
    pub faults: super::faults::Faults,
    /// Serving plain HTTP, where (as on the API server's old insecure
    /// port) requests without a token are let in.
    pub plain_http: bool,
    /// Where port-forwards to pod ports go.
    pub forwards: super::portforward::ForwardTargets,
}

/// Accepts TLS connections (plain ones without `tls`) until `shutdown`
/// fires. Connections and watches
/// run as tasks of the caller's runtime and end with it.
pub async fn serve(
    mut listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<ServerState>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let acceptor = super::tls::Acceptor::new(tls);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            // Restarts (a fault tests inject) happen while accepting.
            accepted = state.faults.accept(&mut listener) => accepted,
        };
        let Ok((connection, _)) = accepted else {
            // Out of file descriptors or similar: let it pass.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        // From the accept on: a restart during the handshake cuts it too.
        let restarts = state.faults.restarts_from_now();
        tokio::spawn(async move {
            let Ok(tls_stream) = acceptor.accept(connection).await else {
                return;
            };
            let service = service_fn(move |request| {
                let state = state.clone();
                // Injected faults, pod logs and access reviews come first.
                super::front::serve(state.clone(), request, |request| async move {
                    // Writes carry a body: read it whole (bounded) first.
                    match super::write::read_body(request).await {
                        Ok(request) => handle(&state, &request),
                        Err(error) => status_response(&error),
                    }
                })
            });
            // A client going away mid-request is its business; an API
            // restart cuts every connection.
            let _ = super::faults::Faults::until_restart_since(
                restarts,
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls_stream), service)
                    .with_upgrades(),
            )
            .await;
        });
    }
}

fn handle(state: &Arc<ServerState>, request: &Request<Bytes>) -> Response<ResponseBody> {
    let path = request.uri().path();
    let query = request.uri().query().unwrap_or_default();
    state.requests.record(RecordedRequest {
        method: request.method().to_string(),
        path: path.to_string(),
        query: query.to_string(),
    });
    route(state, request, path, query).unwrap_or_else(|error| status_response(&error))
}

fn route(
    state: &Arc<ServerState>,
    request: &Request<Bytes>,
    path: &str,
    query: &str,
) -> Result<Response<ResponseBody>, ApiError> {
    let authorization = request.headers().get(AUTHORIZATION);
    let health_check = matches!(path, "/healthz" | "/livez" | "/readyz");
    if health_check && authorization.is_none() {
        return Ok(body_response(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"ok"),
        ));
    }
    let expected = format!("Bearer {}", state.token);
    if authorization.and_then(|value| value.to_str().ok()) != Some(expected.as_str()) {
        return Err(ApiError::unauthorized());
    }
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let method = request.method();
    let discovery_answer = |answer: Option<Value>| {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(method.as_str()));
        }
        answer
            .map(|body| json_response(&body))
            .ok_or_else(ApiError::path_not_found)
    };
    match segments.as_slice() {
        ["healthz" | "livez" | "readyz"] => Ok(body_response(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"ok"),
        )),
        ["version"] => discovery_answer(Some(discovery::version())),
        ["api"] => discovery_answer(Some(discovery::core_versions(&state.address))),
        ["apis"] => discovery_answer(Some(discovery::group_list())),
        ["apis", group] => discovery_answer(discovery::group(group)),
        ["api", "v1"] => discovery_answer(discovery::resource_list("", "v1")),
        ["apis", group, version] => discovery_answer(discovery::resource_list(group, version)),
        ["openapi", "v3"] => discovery_answer(Some(super::openapi::root())),
        ["openapi", "v3", rest @ ..] => discovery_answer(super::openapi::group_version(rest)),
        ["api", "v1", rest @ ..] => resource_request(state, request, "", "v1", rest, query),
        ["apis", group, version, rest @ ..] => {
            resource_request(state, request, group, version, rest, query)
        }
        _ => Err(ApiError::path_not_found()),
    }
}

/// What a resource path names.
pub(super) enum Target<'a> {
    Collection {
        resource: &'static ResourceType,
        namespace: Option<&'a str>,
    },
    Object {
        resource: &'static ResourceType,
        namespace: &'a str,
        name: &'a str,
        subresource: Option<&'a str>,
    },
}

/// The user the lab's token stands for, as the API server names it.
pub(super) const LAB_USER: &str = "lab";

/// Refuses what the access policy does not allow, with a 403 Status, as an
/// RBAC-enforcing API server does.
fn authorize(
    state: &ServerState,
    method: &Method,
    target: &Target<'_>,
    params: &QueryParams,
) -> Result<(), ApiError> {
    let (resource, namespace, name) = match target {
        Target::Collection {
            resource,
            namespace,
        } => (*resource, *namespace, None),
        Target::Object {
            resource,
            namespace,
            name,
            ..
        } => (
            *resource,
            Some(*namespace).filter(|n| !n.is_empty()),
            Some(*name),
        ),
    };
    let verb = match (method.as_str(), name) {
        ("GET", None) if params.flag("watch") => "watch",
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", None) => "deletecollection",
        ("DELETE", Some(_)) => "delete",
        (other, _) => return Err(ApiError::method_not_allowed(other)),
    };
    if state
        .access
        .allows(verb, resource.group, resource.plural, namespace)
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            LAB_USER, verb, resource, name, namespace,
        ))
    }
}

fn parse_target<'a>(group: &str, version: &str, rest: &[&'a str]) -> Result<Target<'a>, ApiError> {
    let stored = |plural: &str| find(group, version, plural).filter(|r| r.is_stored());
    let namespaced_resource = match rest {
        ["namespaces", _, plural, ..] => stored(plural).filter(|r| r.namespaced),
        _ => None,
    };
    let (resource, namespace, tail) = match (namespaced_resource, rest) {
        (Some(resource), ["namespaces", namespace, _, tail @ ..]) => {
            (resource, Some(*namespace), tail)
        }
        (_, [plural, tail @ ..]) => {
            let resource = stored(plural).ok_or_else(ApiError::path_not_found)?;
            if resource.namespaced && !tail.is_empty() {
                return Err(ApiError::path_not_found());
            }
            (resource, None, tail)
        }
        _ => return Err(ApiError::path_not_found()),
    };
    let namespace_or_none = namespace.unwrap_or_default();
    match tail {
        [] => Ok(Target::Collection {
            resource,
            namespace,
        }),
        [name] => Ok(Target::Object {
            resource,
            namespace: namespace_or_none,
            name,
            subresource: None,
        }),
        [name, subresource] => Ok(Target::Object {
            resource,
            namespace: namespace_or_none,
            name,
            subresource: Some(subresource),
        }),
        _ => Err(ApiError::path_not_found()),
    }
}

fn resource_request(
    state: &Arc<ServerState>,
    request: &Request<Bytes>,
    group: &str,
    version: &str,
    rest: &[&str],
    query: &str,
) -> Result<Response<ResponseBody>, ApiError> {
    let target = parse_target(group, version, rest)?;
    let params = QueryParams::parse(query);
    authorize(state, request.method(), &target, &params)?;
    if request.method() != Method::GET {
        return super::write::route(state, request, &target, &params);
    }
    let accept = request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let representation = Representation::negotiate(accept)?;
    let include = IncludeObject::parse(params.get("includeObject"));
    match target {
        Target::Collection {
            resource,
            namespace,
        } if params.flag("watch") => {
            watch::start(state, resource, namespace, &params, representation, include)
        }
        Target::Collection {
            resource,
            namespace,
        } => list(state, resource, namespace, &params, representation, include),
        Target::Object {
            resource,
            namespace,
            name,
            subresource,
        } => {
            if subresource == Some("scale") {
                return super::write::get_scale(state, resource, namespace, name);
            }
            let subresource_served = subresource.is_none_or(|sub| {
                sub == "status"
                    && find(group, version, &format!("{}/status", resource.plural)).is_some()
            });
            if !subresource_served {
                return Err(ApiError::path_not_found());
            }
            get(state, resource, namespace, name, representation, include)
        }
    }
}

fn get(
    state: &ServerState,
    resource: &'static ResourceType,
    namespace: &str,
    name: &str,
    representation: Representation,
    include: IncludeObject,
) -> Result<Response<ResponseBody>, ApiError> {
    let store = state.store.read();
    let object = store
        .get(resource, namespace, name)
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let body = match representation {
        Representation::Json => object_for(resource, object),
        Representation::PartialMetadata => partial_metadata(object),
        Representation::Table => {
            let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
            table(resource, &[object], metadata, include, true)
        }
    };
    Ok(json_response(&body))
}

fn list(
    state: &ServerState,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    params: &QueryParams,
    representation: Representation,
    include: IncludeObject,
) -> Result<Response<ResponseBody>, ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or_default(), resource)?;
    let limit = params.number("limit")?.filter(|limit| *limit > 0);
    let resumed = match params.get("continue").filter(|token| !token.is_empty()) {
        Some(token) => Some(ContinueToken::decode(token, resource)?),
        None => None,
    };
    let store = state.store.read();
    if let Some(token) = &resumed
        && token.resource_version < store.compacted_through()
    {
        // The API server's words for a continue token older than its history.
        return Err(ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        ));
    }
    let list_version = resumed
        .as_ref()
        .map_or(store.resource_version(), |token| token.resource_version);
    let mut matching = store
        .list(
            resource,
            namespace,
            resumed.as_ref().map(|token| &token.after),
        )
        .filter(|(_, object)| labels.matches(object) && fields.matches(object));
    let page: Vec<(&ObjectKey, &Value)> = match limit {
        Some(limit) => matching
            .by_ref()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect(),
        None => matching.by_ref().collect(),
    };
    let remaining = matching.count();
    let mut metadata = json!({"resourceVersion": list_version.to_string()});
    if let (Some((last, _)), true) = (page.last(), remaining > 0) {
        metadata["continue"] = json!(ContinueToken::encode(list_version, last));
        if labels.is_empty() && fields.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let objects: Vec<&Value> = page.iter().map(|(_, object)| *object).collect();
    let body = match representation {
        Representation::Table => table(resource, &objects, metadata, include, true),
        Representation::PartialMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": objects.iter().map(|object| partial_metadata(object)).collect::<Vec<_>>(),
        }),
        Representation::Json => json!({
            "kind": list_kind(resource),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": objects.iter().map(|object| list_item(resource, object)).collect::<Vec<_>>(),
        }),
    };
    Ok(json_response(&body))
}

/// Where a paged list stopped, as the opaque `continue` token: base64 of
/// JSON like the API server's (`{"v":"meta.k8s.io/v1","rv":…,"start":…}`).
struct ContinueToken {
    resource_version: u64,
    after: ObjectKey,
}

impl ContinueToken {
    fn encode(resource_version: u64, last: &ObjectKey) -> String {
        let start = format!("{}/{}\u{0}", last.namespace, last.name);
        let token = json!({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
    }

    fn decode(token: &str, resource: &ResourceType) -> Result<Self, ApiError> {
        let invalid = |why: &str| ApiError::bad_request(format!("invalid continue token: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| invalid("not base64"))?;
        let token: Value = serde_json::from_slice(&bytes).map_err(|_| invalid("not JSON"))?;
        let resource_version = token["rv"]
            .as_u64()
            .ok_or_else(|| invalid("no resource version"))?;
        let start = token["start"].as_str().ok_or_else(|| invalid("no start"))?;
        let (namespace, name) = start
            .trim_end_matches('\u{0}')
            .split_once('/')
            .ok_or_else(|| invalid("bad start"))?;
        Ok(Self {
            resource_version,
            after: key_of(resource, namespace, name),
        })
    }
}

/// A JSON response with status 200.
pub fn json_response(body: &Value) -> Response<ResponseBody> {
    body_response(
        StatusCode::OK,
        "application/json",
        Bytes::from(body.to_string()),
    )
}

/// The Status response of an error.
pub fn status_response(error: &ApiError) -> Response<ResponseBody> {
    let code = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    body_response(
        code,
        "application/json",
        Bytes::from(error.to_status().to_string()),
    )
}

fn body_response(
    code: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
