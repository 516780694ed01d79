//! The lab's small site: the Acme platform of `assets/releases/` as
//! Deployments, a StatefulSet and a DaemonSet with their ReplicaSets,
//! ControllerRevisions and Pods, middleware StatefulSets, Services,
//! Endpoints, three nodes and a few events, aged like a site running for
//! weeks.
//!
//! Deliberate drift: `notification-worker` runs 2.4.0 although release
//! 2.4.1 (`assets/releases/example-2.4.1.yaml`) ships 2.4.1, so sitedeck's
//! drift check has something to find. Every other component runs exactly
//! the tag the release names.
//!
//! Deliberate problems, so the findings and the Pods and Events views have
//! something to show (see [`problems`]; no versions change):
//!
//! * one `billing-service` pod runs again after 7 restarts, the last one
//!   an OOM kill (critical);
//! * every `order-service` replica runs on `acme-worker-1` (a single-node
//!   risk);
//! * namespace `acme-tools`, outside the release: a `debug-shell`
//!   Deployment on `busybox:latest` without limits whose pod is in
//!   CrashLoopBackOff, and a `load-generator` whose pod is Pending because
//!   no node has the memory it asks for;
//! * Warning events for each (BackOff, SystemOOM, FailedScheduling).
//!
//! The simulator's controllers act only on changes made after it started,
//! and find these objects consistent (statuses count the unready pods, the
//! broken Deployments are past their progress deadline), so they leave
//! them as seeded until a test changes them.

mod events;
mod problems;
mod scale;
mod sets;

pub use scale::{ScaleSpec, seed_scale};

use problems::PodHealth;

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::resources::{PODS, ResourceType, find_by_kind};
use super::store::ObjectStore;

/// The nodes of the site: name, internal IP, control plane or not.
const NODES: [(&str, &str, bool); 3] = [
    ("acme-master-1", "10.20.0.11", true),
    ("acme-worker-1", "10.20.0.21", false),
    ("acme-worker-2", "10.20.0.22", false),
];
const WORKERS: [&str; 2] = ["acme-worker-1", "acme-worker-2"];
const PLATFORM_REGISTRY: &str = "registry.acme.example/platform";

/// The platform's stateless services: name, image tag, replicas, port.
const PLATFORM_DEPLOYMENTS: [(&str, &str, i64, i64); 4] = [
    ("api-gateway", "2.4.1", 2, 8080),
    ("order-service", "2.4.1", 3, 8080),
    ("billing-service", "2.4.0", 2, 8080),
    // Drift: release 2.4.1 ships notification-worker 2.4.1.
    ("notification-worker", "2.4.0", 1, 8080),
];

/// A Deployment to seed with its ReplicaSet, pods and Service.
struct DeploymentSeed<'s> {
    namespace: &'s str,
    name: &'s str,
    image: &'s str,
    replicas: i64,
    /// Its container port, also the Service's; `None`: no Service.
    port: Option<i64>,
    /// The container's `resources`.
    resources: Value,
    /// The container's command, if not the image's.
    command: Option<Value>,
    /// The node every replica runs on; `None`: the workers in turn.
    node: Option<&'static str>,
    /// How its pods are doing, by replica; those past the end are ready.
    health: Vec<PodHealth>,
    /// Minutes since it, and since its pods, were created.
    age_minutes: (i64, i64),
    /// Its `deployment.kubernetes.io/revision`.
    revision: u32,
}

impl<'s> DeploymentSeed<'s> {
    /// A platform Deployment: a port, requests and limits, revision 3,
    /// created 41 days ago, its pods 12 days ago, all ready.
    fn new(namespace: &'s str, name: &'s str, image: &'s str, replicas: i64, port: i64) -> Self {
        Self {
            namespace,
            name,
            image,
            replicas,
            port: Some(port),
            resources: platform_resources(),
            command: None,
            node: None,
            health: Vec::new(),
            age_minutes: (41 * DAY, 12 * DAY),
            revision: 3,
        }
    }
}

/// The requests and limits of the platform's containers.
fn platform_resources() -> Value {
    json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
}

/// The namespaces every cluster has.
pub fn seed_namespaces(store: &mut ObjectStore) -> Result<()> {
    let mut seeder = Seeder::new(store, WORKERS.map(String::from).to_vec());
    for name in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        seeder.namespace(name, 60)?;
    }
    Ok(())
}

/// The Acme site: namespaces `acme-prod` and `middleware`, the nodes, the
/// platform's workloads, MariaDB and Redis, CoreDNS and kube-proxy, and
/// the deliberate problems of namespace `acme-tools`.
pub fn seed_site(store: &mut ObjectStore) -> Result<()> {
    let mut seeder = Seeder::new(store, WORKERS.map(String::from).to_vec());
    for (name, ip, control_plane) in NODES {
        seeder.node(name, ip, control_plane)?;
    }
    seeder.namespace("acme-prod", 41)?;
    seeder.namespace("middleware", 43)?;
    seeder.deployment(DeploymentSeed::new(
        "kube-system",
        "coredns",
        "registry.k8s.io/coredns/coredns:v1.11.3",
        2,
        53,
    ))?;
    seeder.daemon_set(
        "kube-system",
        "kube-proxy",
        "registry.k8s.io/kube-proxy:v1.32.4",
    )?;
    for (name, tag, replicas, port) in PLATFORM_DEPLOYMENTS {
        let image = format!("{PLATFORM_REGISTRY}/{name}:{tag}");
        let mut deployment = DeploymentSeed::new("acme-prod", name, &image, replicas, port);
        problems::platform(&mut deployment);
        seeder.deployment(deployment)?;
    }
    let indexer = format!("{PLATFORM_REGISTRY}/search-indexer:2.3.7");
    seeder.stateful_set("acme-prod", "search-indexer", &indexer, 2, 9200)?;
    let agent = format!("{PLATFORM_REGISTRY}/node-agent:1.9.2");
    seeder.daemon_set("acme-prod", "node-agent", &agent)?;
    seeder.stateful_set(
        "middleware",
        "mysql",
        "docker.io/library/mariadb:10.11.8",
        2,
        3306,
    )?;
    seeder.stateful_set(
        "middleware",
        "redis",
        "docker.io/library/redis:7.2.5",
        2,
        6379,
    )?;
    problems::seed_tools(&mut seeder)?;
    seeder.config_and_secrets()?;
    super::helm::seed_releases(seeder.store)?;
    seeder.events()?;
    problems::warning_events(&mut seeder)?;
    Ok(())
}

struct Seeder<'a> {
    store: &'a mut ObjectStore,
    next_pod_ip: u32,
    next_service_ip: u32,
    /// The nodes pods are spread over, in turn.
    workers: Vec<String>,
    next_worker: usize,
}

/// Minutes in a day.
const DAY: i64 = 24 * 60;

/// A timestamp `hours` hours ago.
fn hours_ago(hours: i64) -> String {
    minutes_ago(hours * 60)
}

/// A timestamp `minutes` minutes ago.
fn minutes_ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stable, kubernetes-looking hash (`pod-template-hash` alphabet).
fn short_hash(seed: &str, length: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut state = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    });
    (0..length)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[(state >> 33) as usize % ALPHABET.len()])
        })
        .collect()
}

fn owner(object: &Value) -> Value {
    json!([{
        "apiVersion": object["apiVersion"], "kind": object["kind"],
        "name": object["metadata"]["name"], "uid": object["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

/// A platform pod template: one container with a port and the platform's
/// requests and limits.
fn pod_template(name: &str, image: &str, port: i64, labels: &Value) -> Value {
    let mut template = bare_template(name, image, labels, &platform_resources());
    template["spec"]["containers"][0]["ports"] =
        json!([{"containerPort": port, "protocol": "TCP"}]);
    template
}

/// A pod template of one container with these `resources` and no port.
fn bare_template(name: &str, image: &str, labels: &Value, resources: &Value) -> Value {
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{
                "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                "resources": resources,
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        },
    })
}

/// The QoS class of a pod of these container `resources`.
fn qos_class(resources: &Value) -> &'static str {
    match (resources.get("requests"), resources.get("limits")) {
        (None, None) => "BestEffort",
        (requests, Some(limits)) if requests.is_none_or(|requests| requests == limits) => {
            "Guaranteed"
        }
        _ => "Burstable",
    }
}

impl<'a> Seeder<'a> {
    fn new(store: &'a mut ObjectStore, workers: Vec<String>) -> Self {
        Self {
            store,
            next_pod_ip: 10,
            next_service_ip: 10,
            workers,
            next_worker: 0,
        }
    }

    /// The next node in turn for a pod.
    fn next_worker(&mut self) -> String {
        let node = self.workers[self.next_worker % self.workers.len()].clone();
        self.next_worker += 1;
        node
    }
}

impl Seeder<'_> {
    fn create(&mut self, api_version: &str, kind: &str, object: Value) -> Result<Value> {
        let resource: &ResourceType =
            find_by_kind(api_version, kind).with_context(|| format!("no resource for {kind}"))?;
        self.store
            .create(resource, object)
            .with_context(|| format!("cannot seed a {kind}"))
    }

    fn namespace(&mut self, name: &str, age_days: i64) -> Result<()> {
        self.create(
            "v1",
            "Namespace",
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name},
                             "creationTimestamp": hours_ago(age_days * 24)},
                "spec": {"finalizers": ["kubernetes"]},
            }),
        )?;
        self.create("v1", "ConfigMap", json!({
            "metadata": {"name": "kube-root-ca.crt", "namespace": name, "creationTimestamp": hours_ago(age_days * 24)},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n(lab)\n-----END CERTIFICATE-----\n"},
        }))?;
        Ok(())
    }

    fn node(&mut self, name: &str, ip: &str, control_plane: bool) -> Result<()> {
        let mut labels = json!({
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        });
        let mut spec =
            json!({"podCIDR": format!("10.244.{}.0/24", ip.rsplit('.').next().unwrap_or("0"))});
        if control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            spec["taints"] =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        let since = hours_ago(60 * 24);
        let condition = |kind: &str, status: &str, reason: &str| {
            json!({"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": hours_ago(0),
                   "lastTransitionTime": since})
        };
        let resources = json!({"cpu": "8", "memory": "32863156Ki", "pods": "110", "ephemeral-storage": "102626232Ki"});
        self.create("v1", "Node", json!({
            "metadata": {"name": name, "labels": labels, "creationTimestamp": since},
            "spec": spec,
            "status": {
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                    condition("Ready", "True", "KubeletReady"),
                ],
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "capacity": resources, "allocatable": resources,
                "nodeInfo": {
                    "kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4",
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-28-amd64",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "operatingSystem": "linux", "architecture": "amd64",
                },
            },
        }))?;
        Ok(())
    }

    /// A pod of `template` on `node` (none when it is unschedulable),
    /// owned by `owner_object` and in its namespace, created `age_minutes`
    /// ago and doing as `health` says.
    fn pod(
        &mut self,
        name: &str,
        template: &Value,
        owner_object: &Value,
        node: &str,
        age_minutes: i64,
        health: PodHealth,
    ) -> Result<()> {
        let namespace = &owner_object["metadata"]["namespace"];
        let started = minutes_ago(age_minutes);
        let mut spec = template["spec"].clone();
        spec["serviceAccountName"] = json!("default");
        let resources = &spec["containers"][0]["resources"];
        let mut status = json!({"phase": "Pending", "qosClass": qos_class(resources)});
        if let PodHealth::Unschedulable(reason) = health {
            problems::unscheduled(&mut status, reason, &started);
        } else {
            let ip = format!(
                "10.244.{}.{}",
                1 + self.next_pod_ip / 250,
                self.next_pod_ip % 250
            );
            self.next_pod_ip += 1;
            spec["nodeName"] = json!(node);
            let host_ip = NODES
                .iter()
                .find(|(n, _, _)| *n == node)
                .map_or("", |(_, ip, _)| ip);
            let containers = spec["containers"].as_array().cloned().unwrap_or_default();
            let statuses: Vec<Value> = containers
                .iter()
                .map(|container| json!({
                    "name": container["name"], "image": container["image"],
                    "imageID": format!("{}@sha256:{}", container["image"].as_str().unwrap_or_default(), short_hash(name, 64)),
                    "containerID": format!("containerd://{}", short_hash(&format!("{name}/c"), 64)),
                    "ready": true, "started": true, "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }))
                .collect();
            let conditions = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
                .map(|kind| json!({"type": kind, "status": "True", "lastTransitionTime": started}));
            status = json!({
                "phase": "Running", "qosClass": status["qosClass"], "startTime": started,
                "hostIP": host_ip, "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": conditions,
                "containerStatuses": statuses,
            });
            problems::restarted(&mut status, name, health);
        }
        self.create("v1", "Pod", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"],
                         "ownerReferences": owner(owner_object), "creationTimestamp": started},
            "spec": spec,
            "status": status,
        }))?;
        Ok(())
    }

    fn deployment(&mut self, seed: DeploymentSeed<'_>) -> Result<()> {
        let DeploymentSeed {
            namespace,
            name,
            image,
            replicas,
            ..
        } = seed;
        let (age, pods_age) = seed.age_minutes;
        let hash = short_hash(image, 10);
        let labels = json!({"app": name});
        let pod_labels = json!({"app": name, "pod-template-hash": hash});
        let revision = seed.revision.to_string();
        let health = |index: i64| {
            usize::try_from(index)
                .ok()
                .and_then(|index| seed.health.get(index).copied())
                .unwrap_or(PodHealth::Ready)
        };
        let ready = (0..replicas).filter(|index| health(*index).ready()).count();
        let ready = i64::try_from(ready).unwrap_or_default();
        let counts = |mut status: Value| {
            // The API leaves zero counts out.
            for (field, count) in [("readyReplicas", ready), ("availableReplicas", ready)] {
                if count > 0 {
                    status[field] = json!(count);
                }
            }
            status
        };
        let replica_set_name = format!("{name}-{hash}");
        let mut status = counts(
            json!({"replicas": replicas, "updatedReplicas": replicas, "observedGeneration": 1}),
        );
        status["conditions"] = if ready == replicas {
            json!([
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": minutes_ago(pods_age), "lastTransitionTime": minutes_ago(pods_age)},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{replica_set_name}\" has successfully progressed."),
                 "lastUpdateTime": minutes_ago(pods_age), "lastTransitionTime": minutes_ago(age)},
            ])
        } else {
            problems::stuck_conditions(&mut status, replicas, ready, &replica_set_name, pods_age)
        };
        let mut template = bare_template(name, image, &labels, &seed.resources);
        if let Some(port) = seed.port {
            template["spec"]["containers"][0]["ports"] =
                json!([{"containerPort": port, "protocol": "TCP"}]);
        }
        if let Some(command) = &seed.command {
            template["spec"]["containers"][0]["command"] = command.clone();
        }
        let deployment = self.create("apps/v1", "Deployment", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": revision},
                         "creationTimestamp": minutes_ago(age)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "template": template},
            "status": status,
        }))?;
        template["metadata"]["labels"] = pod_labels.clone();
        let replica_set = self.create("apps/v1", "ReplicaSet", json!({
            "metadata": {"name": replica_set_name, "namespace": namespace, "labels": pod_labels,
                         "annotations": {"deployment.kubernetes.io/revision": revision,
                                         "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                         "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()},
                         "ownerReferences": owner(&deployment), "creationTimestamp": minutes_ago(pods_age)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": pod_labels}, "template": template},
            "status": counts(json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1})),
        }))?;
        for index in 0..replicas {
            let pod_name = format!(
                "{replica_set_name}-{}",
                short_hash(&format!("{name}{index}"), 5)
            );
            let node = match seed.node {
                Some(node) => node.to_owned(),
                None => self.next_worker(),
            };
            self.pod(
                &pod_name,
                &template,
                &replica_set,
                &node,
                pods_age,
                health(index),
            )?;
        }
        match seed.port {
            Some(port) => self.service(namespace, name, port),
            None => Ok(()),
        }
    }

    /// A ClusterIP Service selecting `app=name`, and its Endpoints.
    fn service(&mut self, namespace: &str, name: &str, port: i64) -> Result<()> {
        let cluster_ip = format!(
            "10.96.{}.{}",
            self.next_service_ip / 250,
            self.next_service_ip % 250
        );
        self.next_service_ip += 1;
        let protocol = if port == 53 { "UDP" } else { "TCP" };
        self.create("v1", "Service", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, "creationTimestamp": hours_ago(41 * 24)},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "selector": {"app": name}, "ports": [{"name": "main", "port": port, "targetPort": port, "protocol": protocol}],
                     "sessionAffinity": "None", "ipFamilies": ["IPv4"]},
            "status": {"loadBalancer": {}},
        }))?;
        let addresses: Vec<Value> = self
            .store
            .list(&PODS, Some(namespace), None)
            .filter(|(_, pod)| pod["metadata"]["labels"]["app"] == name)
            .map(|(_, pod)| json!({"ip": pod["status"]["podIP"], "nodeName": pod["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}))
            .collect();
        self.create("v1", "Endpoints", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, "creationTimestamp": hours_ago(41 * 24)},
            "subsets": [{"addresses": addresses, "ports": [{"name": "main", "port": port, "protocol": protocol}]}],
        }))?;
        Ok(())
    }

    fn config_and_secrets(&mut self) -> Result<()> {
        self.create("v1", "ConfigMap", json!({
            "metadata": {"name": "order-service-config", "namespace": "acme-prod", "labels": {"app": "order-service"},
                         "creationTimestamp": hours_ago(41 * 24)},
            "data": {"application.yaml": "server:\n  port: 8080\norders:\n  batch-size: 50\n",
                     "LOG_LEVEL": "info"},
        }))?;
        self.create("v1", "Secret", json!({
            "metadata": {"name": "registry-credentials", "namespace": "acme-prod", "creationTimestamp": hours_ago(41 * 24)},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "eyJhdXRocyI6eyJyZWdpc3RyeS5hY21lLmV4YW1wbGUiOnt9fX0="},
        }))?;
        self.create("v1", "Secret", json!({
            "metadata": {"name": "mysql-credentials", "namespace": "middleware", "labels": {"app": "mysql"},
                         "creationTimestamp": hours_ago(43 * 24)},
            "type": "Opaque",
            "data": {"username": "YWNtZQ==", "password": "bGFiLW9ubHk="},
        }))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    #[test]
    fn the_site_has_its_workloads_and_one_drifted_image() {
        let mut store = ObjectStore::new(100_000);
        seed_namespaces(&mut store).expect("namespaces");
        seed_site(&mut store).expect("site");
        let count = |plural: &str| store.count(find_by_kind_plural(plural), None);
        assert_eq!(count("nodes"), 3);
        // coredns, the platform's 4, acme-tools' debug-shell and load-generator
        assert_eq!(count("deployments"), 7);
        assert_eq!(count("statefulsets"), 3);
        assert_eq!(count("daemonsets"), 2);
        // coredns 2 + platform 8 + search-indexer 2 + node-agent 3 + kube-proxy 3
        // + mysql 2 + redis 2 + debug-shell 1 + load-generator 1
        assert_eq!(count("pods"), 24);
        let deployments = find_by_kind_plural("deployments");
        let worker = store
            .get(deployments, "acme-prod", "notification-worker")
            .expect("worker");
        assert_eq!(
            worker["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.acme.example/platform/notification-worker:2.4.0"
        );
    }

    fn find_by_kind_plural(plural: &str) -> &'static ResourceType {
        find(
            if matches!(plural, "nodes" | "pods") {
                ""
            } else {
                "apps"
            },
            "v1",
            plural,
        )
        .expect(plural)
    }
}
