//! Watches: a stream of newline-delimited JSON events (ADDED, MODIFIED,
//! DELETED, BOOKMARK, ERROR) from a resourceVersion, served from the
//! store's change log, closed at `timeoutSeconds` as the API server does.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::present::{Representation, object_for};
use super::request::QueryParams;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{ResponseBody, ServerState};
use super::status::ApiError;
use super::store::{Change, ChangeType, ObjectKey};
use super::table::{IncludeObject, partial_metadata, table};

/// How long a watch without `timeoutSeconds` lasts (the API server picks
/// between 30 and 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Which objects a watch is about.
struct WatchFilter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl WatchFilter {
    fn matches(&self, key: &ObjectKey, object: &Value) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|namespace| *namespace == key.namespace)
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    /// The event a watcher sees for a change: an object modified into the
    /// filter is ADDED for it, one modified out of it DELETED.
    fn event_type(&self, change: &Change) -> Option<&'static str> {
        let matches_now = self.matches(&change.key, &change.object);
        let matched_before = change
            .previous
            .as_ref()
            .map(|previous| self.matches(&change.key, previous));
        match (change.change_type, matched_before, matches_now) {
            (ChangeType::Modified, Some(true), true) => Some("MODIFIED"),
            (ChangeType::Modified, Some(true), false) => Some("DELETED"),
            (ChangeType::Modified, _, true) => Some("ADDED"),
            (ChangeType::Modified, _, false) => None,
            (other, _, true) => Some(other.as_str()),
            (_, _, false) => None,
        }
    }
}

/// Turns objects into event lines in the representation asked for.
struct EventEncoder {
    resource: &'static ResourceType,
    representation: Representation,
    include: IncludeObject,
    sent_columns: bool,
}

impl EventEncoder {
    fn event(&mut self, event_type: &str, object: &Value) -> Bytes {
        let object = match self.representation {
            Representation::Json => object_for(self.resource, object),
            Representation::PartialMetadata => partial_metadata(object),
            Representation::Table => {
                let metadata = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
                let with_columns = !std::mem::replace(&mut self.sent_columns, true);
                table(
                    self.resource,
                    &[object],
                    metadata,
                    self.include,
                    with_columns,
                )
            }
        };
        line(event_type, &object)
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = match self.representation {
            Representation::Json => json!({
                "kind": self.resource.kind,
                "apiVersion": self.resource.api_version(),
                "metadata": metadata,
            }),
            Representation::PartialMetadata => partial_metadata(&json!({"metadata": metadata})),
            Representation::Table => json!({
                "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
                "columnDefinitions": [], "rows": [],
            }),
        };
        line("BOOKMARK", &object)
    }
}

fn line(event_type: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event_type, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn error_line(error: &ApiError) -> Bytes {
    line("ERROR", &error.to_status())
}

/// Starts a watch: checks its parameters, then streams events from a task
/// of the server's runtime until the timeout, the client leaving or the
/// server stopping.
pub fn start(
    state: &Arc<ServerState>,
    resource: &'static ResourceType,
    namespace: Option<&str>,
    params: &QueryParams,
    representation: Representation,
    include: IncludeObject,
) -> Result<Response<ResponseBody>, ApiError> {
    let filter = WatchFilter {
        namespace: namespace.map(str::to_string),
        labels: LabelSelector::parse(params.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(params.get("fieldSelector").unwrap_or_default(), resource)?,
    };
    let from_version = params.number("resourceVersion").map_err(|_| {
        ApiError::invalid(format!(
            "resourceVersion: Invalid value: {:?}: must be a number",
            params.get("resourceVersion").unwrap_or_default()
        ))
    })?;
    let timeout = params
        .number("timeoutSeconds")?
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let bookmarks = params.flag("allowWatchBookmarks");
    let send_initial_events = params.flag("sendInitialEvents");
    let mut encoder = EventEncoder {
        resource,
        representation,
        include,
        sent_columns: false,
    };

    let (sender, receiver) = mpsc::channel::<Bytes>(256);
    let mut first_lines = Vec::new();
    let mut expired = false;
    let (changes, cursor) = {
        let store = state.store.read();
        let changes = state.store.subscribe();
        let cursor = match from_version.filter(|version| *version > 0 && !send_initial_events) {
            Some(version) => {
                // Changes made before the watch arrived are sent at once.
                match store.changes_after(resource.storage, version) {
                    Ok(changes) => {
                        for change in changes {
                            if let Some(event_type) = filter.event_type(change) {
                                first_lines.push(encoder.event(event_type, &change.object));
                            }
                        }
                    }
                    Err(too_old) => {
                        first_lines.push(error_line(&too_old));
                        expired = true;
                    }
                }
                store.resource_version()
            }
            None => {
                // Without a version (or from "0"), a watch starts with the
                // current objects as ADDED events.
                for (key, object) in store.list(resource, namespace, None) {
                    if filter.matches(key, object) {
                        first_lines.push(encoder.event("ADDED", object));
                    }
                }
                if send_initial_events && bookmarks {
                    first_lines.push(encoder.bookmark(store.resource_version(), true));
                }
                store.resource_version()
            }
        };
        (changes, cursor)
    };
    let stream = Watch {
        state: state.clone(),
        resource,
        filter,
        encoder,
        cursor,
        sender,
        deadline: Instant::now() + timeout,
        bookmark_interval: bookmarks.then_some(state.bookmark_interval),
    };
    tokio::spawn(stream.run(first_lines, changes, expired));

    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), receiver))
    });
    let mut response = Response::new(StreamBody::new(body).boxed());
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Why a watch woke up.
#[derive(Clone, Copy)]
enum Wake {
    Stop,
    Changes,
    Bookmark,
}

/// One running watch.
struct Watch {
    state: Arc<ServerState>,
    resource: &'static ResourceType,
    filter: WatchFilter,
    encoder: EventEncoder,
    /// Every change up to this resourceVersion has been sent.
    cursor: u64,
    sender: mpsc::Sender<Bytes>,
    deadline: Instant,
    bookmark_interval: Option<Duration>,
}

impl Watch {
    async fn run(
        mut self,
        first_lines: Vec<Bytes>,
        mut changes: tokio::sync::watch::Receiver<u64>,
        expired: bool,
    ) {
        for chunk in first_lines {
            if self.sender.send(chunk).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let interval = self.bookmark_interval.unwrap_or(Duration::from_secs(3600));
        let mut bookmark_timer = tokio::time::interval_at(Instant::now() + interval, interval);
        loop {
            let wake = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => Wake::Stop,
                () = self.sender.closed() => Wake::Stop,
                changed = changes.changed() => match changed {
                    Ok(()) => Wake::Changes,
                    Err(_) => Wake::Stop,
                },
                _ = bookmark_timer.tick(), if self.bookmark_interval.is_some() => Wake::Bookmark,
            };
            let mut lines = match wake {
                Wake::Stop => return,
                Wake::Changes | Wake::Bookmark => self.pending_events(),
            };
            if let (Wake::Bookmark, Ok(lines)) = (wake, &mut lines) {
                lines.push(self.encoder.bookmark(self.cursor, false));
            }
            let (lines, end) = match lines {
                Ok(lines) => (lines, false),
                // The watch fell behind the retained changes.
                Err(too_old) => (vec![error_line(&too_old)], true),
            };
            for chunk in lines {
                if self.sender.send(chunk).await.is_err() {
                    return;
                }
            }
            if end {
                return;
            }
        }
    }

    /// The events of the changes since the cursor, moving it on.
    fn pending_events(&mut self) -> Result<Vec<Bytes>, ApiError> {
        let store = self.state.store.read();
        let mut lines = Vec::new();
        for change in store.changes_after(self.resource.storage, self.cursor)? {
            if let Some(event_type) = self.filter.event_type(change) {
                lines.push(self.encoder.event(event_type, &change.object));
            }
        }
        self.cursor = store.resource_version();
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;
    use crate::kube::store::key_of;

    fn change(change_type: ChangeType, before: Option<&str>, after: &str) -> Change {
        let pods = find("", "v1", "pods").expect("pods");
        let pod = |app: &str| json!({"metadata": {"name": "p", "labels": {"app": app}}});
        Change {
            resource_version: 7,
            change_type,
            key: key_of(pods, "shop", "p"),
            object: pod(after),
            previous: before.map(pod),
        }
    }

    #[test]
    fn a_filtered_watch_sees_objects_enter_and_leave_its_selector() {
        let filter = WatchFilter {
            namespace: Some("shop".into()),
            labels: LabelSelector::parse("app=web").expect("selector"),
            fields: FieldSelector::default(),
        };
        let seen = |change: Change| filter.event_type(&change);
        assert_eq!(seen(change(ChangeType::Added, None, "web")), Some("ADDED"));
        assert_eq!(seen(change(ChangeType::Added, None, "db")), None);
        assert_eq!(
            seen(change(ChangeType::Modified, Some("web"), "web")),
            Some("MODIFIED")
        );
        assert_eq!(
            seen(change(ChangeType::Modified, Some("db"), "web")),
            Some("ADDED")
        );
        assert_eq!(
            seen(change(ChangeType::Modified, Some("web"), "db")),
            Some("DELETED")
        );
        assert_eq!(seen(change(ChangeType::Modified, Some("db"), "db")), None);
        assert_eq!(
            seen(change(ChangeType::Deleted, None, "web")),
            Some("DELETED")
        );
        let elsewhere = WatchFilter {
            namespace: Some("other".into()),
            ..filter
        };
        assert_eq!(
            elsewhere.event_type(&change(ChangeType::Added, None, "web")),
            None
        );
    }
}
