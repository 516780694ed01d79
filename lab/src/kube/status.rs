//! Errors as the API server reports them: `Status` objects with a reason
//! and an HTTP code, following the Kubernetes API conventions.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// A failed request, carried to the client as a `Status` object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `Expired`…).
    pub reason: &'static str,
    /// The human-readable message kubectl prints.
    pub message: String,
    /// The `details` of the Status: which object, which kind.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404: the named object does not exist.
    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self {
            details: Some(object_details(resource, name)),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", resource.qualified_name()),
            )
        }
    }

    /// 403: the access policy does not allow the request, worded as the
    /// API server words it.
    pub fn forbidden(
        user: &str,
        verb: &str,
        resource: &ResourceType,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Self {
        let scope = match namespace {
            Some(namespace) => format!(" in the namespace \"{namespace}\""),
            None => " at the cluster scope".to_owned(),
        };
        let what = match name {
            Some(name) => format!("{} \"{name}\"", resource.qualified_name()),
            None => resource.qualified_name(),
        };
        Self {
            details: Some(object_details(resource, name.unwrap_or_default())),
            ..Self::new(
                403,
                "Forbidden",
                format!(
                    "{what} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
                    resource.plural, resource.group
                ),
            )
        }
    }

    /// 404 for a path the simulator does not serve.
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409: an object of that name already exists.
    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        Self {
            details: Some(object_details(resource, name)),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource.qualified_name()),
            )
        }
    }

    /// 409: the object changed since the version the client based its
    /// update on.
    pub fn conflict(resource: &ResourceType, name: &str) -> Self {
        Self {
            details: Some(object_details(resource, name)),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    resource.qualified_name()
                ),
            )
        }
    }

    /// 400: the request is malformed (a bad selector, a bad parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401: no token or the wrong one.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405: the resource exists but the simulator does not (yet) do this.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// 410: the resource version is older than what the server retains.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 422: the object is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

fn object_details(resource: &ResourceType, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": resource.plural });
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    #[test]
    fn not_found_follows_the_api_conventions() {
        let deployments = find("apps", "v1", "deployments").expect("deployments");
        let status = ApiError::not_found(deployments, "web").to_status();
        assert_eq!(
            status,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "deployments.apps \"web\" not found", "reason": "NotFound",
                "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 404,
            })
        );
    }
}
