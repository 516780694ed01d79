//! SelfSubjectAccessReview (`kubectl auth can-i`), answered from a policy
//! of ordered rules: the first rule that matches decides, and a request no
//! rule matches is denied, as RBAC denies what no role grants.
//!
//! The default policy ([`AccessPolicy::default`]) allows everything except
//! reading or changing `secrets` in `kube-system`.

use serde_json::{Value, json};

use super::status::ApiError;

/// Whether a rule grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The request is allowed.
    Allow,
    /// The request is denied.
    Deny,
}

/// One rule: `*` (or an empty namespace) matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Allow or deny.
    pub effect: Effect,
    /// The verb (`get`, `list`, `watch`, `create`, `patch`…) or `*`.
    pub verb: String,
    /// The API group (empty for the core group) or `*`.
    pub group: String,
    /// The resource, optionally with its subresource (`pods/log`), or `*`;
    /// for non-resource requests the path (`/healthz`).
    pub resource: String,
    /// The namespace; `None` for all namespaces and cluster-scoped requests.
    pub namespace: Option<String>,
}

impl AccessRule {
    /// A rule allowing `verb` on `group`/`resource` in `namespace` (`None`:
    /// everywhere).
    pub fn allow(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Self {
        Self {
            effect: Effect::Allow,
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
        }
    }

    /// A rule denying `verb` on `group`/`resource` in `namespace`.
    pub fn deny(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Self {
        Self {
            effect: Effect::Deny,
            ..Self::allow(verb, group, resource, namespace)
        }
    }

    fn matches(&self, attributes: &Attributes) -> bool {
        let field = |rule: &str, value: &str| rule == "*" || rule == value;
        let resource = match attributes.subresource.as_str() {
            "" => attributes.resource.clone(),
            sub => format!("{}/{sub}", attributes.resource),
        };
        field(&self.verb, &attributes.verb)
            && field(&self.group, &attributes.group)
            && (field(&self.resource, &resource) || field(&self.resource, &attributes.resource))
            && self
                .namespace
                .as_ref()
                .is_none_or(|namespace| Some(namespace) == attributes.namespace.as_ref())
    }
}

/// The rules, first match wins; no match is a denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The rules in order.
    pub rules: Vec<AccessRule>,
}

impl Default for AccessPolicy {
    /// Everything allowed except `secrets` in `kube-system`.
    fn default() -> Self {
        Self {
            rules: vec![
                AccessRule::deny("*", "", "secrets", Some("kube-system")),
                AccessRule::allow("*", "*", "*", None),
            ],
        }
    }
}

/// What a review asks about.
struct Attributes {
    verb: String,
    group: String,
    resource: String,
    subresource: String,
    namespace: Option<String>,
}

impl AccessPolicy {
    /// Whether the rules allow `verb` on `group`/`resource` in `namespace`.
    pub fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        self.decide(&Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.map(str::to_string),
        })
        .is_some_and(|rule| rule.effect == Effect::Allow)
    }

    fn decide(&self, attributes: &Attributes) -> Option<&AccessRule> {
        self.rules.iter().find(|rule| rule.matches(attributes))
    }

    /// Answers a SelfSubjectAccessReview given as JSON: the review back
    /// with its `status`.
    pub fn review(&self, body: &[u8]) -> Result<Value, ApiError> {
        if let Some(review) = body.strip_prefix(PROTOBUF_MAGIC) {
            let review = protobuf::review(review).ok_or_else(|| {
                ApiError::bad_request(
                    "the body of the request was in an unknown format: bad protobuf",
                )
            })?;
            return self.review(review.to_string().as_bytes());
        }
        let review: Value = serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format: {error}"
            ))
        })?;
        let spec = &review["spec"];
        let (resource_attributes, non_resource) = (
            spec["resourceAttributes"].as_object(),
            spec["nonResourceAttributes"].as_object(),
        );
        let attributes = match (resource_attributes, non_resource) {
            (Some(attributes), None) => {
                let field = |name: &str| text_field(attributes, name);
                Attributes {
                    verb: field("verb"),
                    group: field("group"),
                    resource: field("resource"),
                    subresource: field("subresource"),
                    namespace: Some(field("namespace")).filter(|namespace| !namespace.is_empty()),
                }
            }
            (None, Some(attributes)) => {
                let field = |name: &str| text_field(attributes, name);
                Attributes {
                    verb: field("verb"),
                    group: String::new(),
                    resource: field("path"),
                    subresource: String::new(),
                    namespace: None,
                }
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: \
                     Invalid value: {}: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                    spec["resourceAttributes"]
                )));
            }
        };
        let allowed = self
            .decide(&attributes)
            .is_some_and(|rule| rule.effect == Effect::Allow);
        let status = if allowed {
            json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"lab-admin\" of ClusterRole \"lab-policy\" to User \"lab\""})
        } else {
            json!({"allowed": false})
        };
        let mut metadata = review["metadata"].clone();
        if !metadata.is_object() {
            metadata = json!({});
        }
        metadata["creationTimestamp"] = Value::Null;
        Ok(json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        }))
    }
}

/// How the API server's protobuf encoding begins (kubectl sends reviews
/// as `application/vnd.kubernetes.protobuf`).
const PROTOBUF_MAGIC: &[u8] = b"k8s\0";

/// Just enough protobuf to read a SelfSubjectAccessReview inside the
/// `runtime.Unknown` envelope the API machinery wraps it in.
mod protobuf {
    use serde_json::{Map, Value, json};

    /// The fields of a message: number and value (varints dropped).
    fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
        let mut found = Vec::new();
        while !bytes.is_empty() {
            let key = varint(&mut bytes)?;
            match key & 7 {
                0 => {
                    varint(&mut bytes)?;
                }
                2 => {
                    let length = usize::try_from(varint(&mut bytes)?).ok()?;
                    let (value, rest) = (bytes.get(..length)?, bytes.get(length..)?);
                    found.push((key >> 3, value));
                    bytes = rest;
                }
                1 => bytes = bytes.get(8..)?,
                5 => bytes = bytes.get(4..)?,
                _ => return None,
            }
        }
        Some(found)
    }

    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn field<'a>(message: &[(u64, &'a [u8])], number: u64) -> Option<&'a [u8]> {
        message
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, value)| *value)
    }

    fn strings(bytes: &[u8], names: &[(u64, &str)]) -> Option<Value> {
        let message = fields(bytes)?;
        let mut object = Map::new();
        for (number, name) in names {
            if let Some(value) = field(&message, *number) {
                object.insert((*name).to_string(), json!(String::from_utf8_lossy(value)));
            }
        }
        Some(Value::Object(object))
    }

    /// The review as JSON, from the bytes after the magic.
    pub fn review(envelope: &[u8]) -> Option<Value> {
        let unknown = fields(envelope)?;
        let review = fields(field(&unknown, 2)?)?;
        let spec = fields(field(&review, 2).unwrap_or_default())?;
        let mut json_spec = Map::new();
        if let Some(attributes) = field(&spec, 1) {
            let names = [
                (1, "namespace"),
                (2, "verb"),
                (3, "group"),
                (4, "version"),
                (5, "resource"),
                (6, "subresource"),
                (7, "name"),
            ];
            json_spec.insert("resourceAttributes".into(), strings(attributes, &names)?);
        }
        if let Some(attributes) = field(&spec, 2) {
            json_spec.insert(
                "nonResourceAttributes".into(),
                strings(attributes, &[(1, "path"), (2, "verb")])?,
            );
        }
        Some(
            json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                    "metadata": {}, "spec": json_spec}),
        )
    }
}

/// A string field of a review's attributes, empty when absent.
fn text_field(attributes: &serde_json::Map<String, Value>, name: &str) -> String {
    attributes
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(policy: &AccessPolicy, attributes: Value) -> Value {
        let body = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                          "spec": {"resourceAttributes": attributes}});
        policy.review(body.to_string().as_bytes()).expect("review")["status"]["allowed"].clone()
    }

    #[test]
    fn the_default_policy_hides_kube_system_secrets_only() {
        let policy = AccessPolicy::default();
        assert_eq!(
            review(
                &policy,
                json!({"verb": "list", "resource": "pods", "namespace": "acme-prod"})
            ),
            true
        );
        assert_eq!(
            review(
                &policy,
                json!({"verb": "get", "resource": "secrets", "namespace": "kube-system"})
            ),
            false
        );
        assert_eq!(
            review(
                &policy,
                json!({"verb": "get", "resource": "secrets", "namespace": "acme-prod"})
            ),
            true
        );
        assert!(policy.allows("patch", "apps", "deployments", Some("acme-prod")));
    }

    #[test]
    fn first_match_wins_and_no_match_denies() {
        let policy = AccessPolicy {
            rules: vec![
                AccessRule::allow("get", "", "pods/log", Some("acme-prod")),
                AccessRule::allow("list", "apps", "*", None),
            ],
        };
        let log = json!({"verb": "get", "resource": "pods", "subresource": "log", "namespace": "acme-prod"});
        assert_eq!(review(&policy, log), true);
        assert_eq!(
            review(
                &policy,
                json!({"verb": "get", "resource": "pods", "namespace": "acme-prod"})
            ),
            false
        );
        assert_eq!(
            review(
                &policy,
                json!({"verb": "list", "group": "apps", "resource": "deployments"})
            ),
            true
        );
        let neither = policy.review(br#"{"spec": {}}"#).expect_err("invalid");
        assert_eq!(neither.code, 422);
        assert_eq!(policy.review(b"not json").expect_err("bad").code, 400);
    }
}
