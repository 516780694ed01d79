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

/// The namespaces every cluster has.
pub fn seed_namespaces(store: &mut ObjectStore) -> Result<()> {
    let mut seeder = Seeder::new(store, WORKERS.map(String::from).to_vec());
    for name in ["default", "kube-node-lease", "kube-public", "kube-system"] {
        seeder.namespace(name, 60)?;
    }
    Ok(())
}

/// The Acme site: namespaces `acme-prod` and `middleware`, the nodes, the
/// platform's workloads, MariaDB and Redis, CoreDNS and kube-proxy.
pub fn seed_site(store: &mut ObjectStore) -> Result<()> {
    let mut seeder = Seeder::new(store, WORKERS.map(String::from).to_vec());
    for (name, ip, control_plane) in NODES {
        seeder.node(name, ip, control_plane)?;
    }
    seeder.namespace("acme-prod", 41)?;
    seeder.namespace("middleware", 43)?;
    seeder.deployment(
        "kube-system",
        "coredns",
        "registry.k8s.io/coredns/coredns:v1.11.3",
        2,
        53,
    )?;
    seeder.daemon_set(
        "kube-system",
        "kube-proxy",
        "registry.k8s.io/kube-proxy:v1.32.4",
    )?;
    for (name, tag, replicas, port) in PLATFORM_DEPLOYMENTS {
        let image = format!("{PLATFORM_REGISTRY}/{name}:{tag}");
        seeder.deployment("acme-prod", name, &image, replicas, port)?;
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
    seeder.config_and_secrets()?;
    super::helm::seed_releases(seeder.store)?;
    seeder.events()?;
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

fn pod_template(name: &str, image: &str, port: i64, labels: &Value) -> Value {
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{
                "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": port, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        },
    })
}

/// A generated cluster for scale tests and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct ScaleSpec {
    /// Namespaces, `scale-00`…
    pub namespaces: usize,
    /// Deployments (each with a ReplicaSet and a Service), spread over the namespaces.
    pub deployments: usize,
    /// Pods in all, spread over the deployments.
    pub pods: usize,
    /// Nodes, `scale-node-000`…; the first three are control-plane nodes.
    pub nodes: usize,
}

/// Adds a generated cluster of `spec`'s size to the store (on top of what
/// is there), e.g. 10k pods, 2k deployments, 200 nodes.
pub fn seed_scale(store: &mut ObjectStore, spec: ScaleSpec) -> Result<()> {
    let nodes: Vec<String> = (0..spec.nodes.max(1))
        .map(|n| format!("scale-node-{n:03}"))
        .collect();
    let mut seeder = Seeder::new(store, nodes.clone());
    seeder.next_pod_ip = 1000;
    seeder.next_service_ip = 1000;
    for (n, name) in nodes.iter().enumerate() {
        seeder.node(name, &format!("10.30.{}.{}", n / 250, n % 250 + 1), n < 3)?;
    }
    let namespaces: Vec<String> = (0..spec.namespaces.max(1))
        .map(|n| format!("scale-{n:02}"))
        .collect();
    for name in &namespaces {
        seeder.namespace(name, 30)?;
    }
    let deployments = spec.deployments.max(1);
    for d in 0..deployments {
        let replicas = spec.pods / deployments + usize::from(d < spec.pods % deployments);
        let name = format!("svc-{d:04}");
        let image = format!("{PLATFORM_REGISTRY}/{name}:1.0.{}", d % 7);
        let replicas = i64::try_from(replicas).context("too many pods")?;
        seeder.deployment(
            &namespaces[d % namespaces.len()],
            &name,
            &image,
            replicas,
            8080,
        )?;
    }
    Ok(())
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

    /// A running, ready pod of `template` on `node`, owned by `owner_object`.
    fn pod(
        &mut self,
        namespace: &str,
        name: &str,
        template: &Value,
        owner_object: &Value,
        node: &str,
        age_hours: i64,
    ) -> Result<()> {
        let ip = format!(
            "10.244.{}.{}",
            1 + self.next_pod_ip / 250,
            self.next_pod_ip % 250
        );
        self.next_pod_ip += 1;
        let started = hours_ago(age_hours);
        let containers = template["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
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
        let mut spec = template["spec"].clone();
        spec["nodeName"] = json!(node);
        spec["serviceAccountName"] = json!("default");
        self.create("v1", "Pod", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"],
                         "ownerReferences": owner(owner_object), "creationTimestamp": started},
            "spec": spec,
            "status": {
                "phase": "Running", "qosClass": "Burstable", "startTime": started,
                "hostIP": NODES.iter().find(|(n, _, _)| *n == node).map_or("", |(_, ip, _)| ip),
                "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": conditions,
                "containerStatuses": statuses,
            },
        }))?;
        Ok(())
    }

    fn deployment(
        &mut self,
        namespace: &str,
        name: &str,
        image: &str,
        replicas: i64,
        port: i64,
    ) -> Result<()> {
        let hash = short_hash(image, 10);
        let labels = json!({"app": name});
        let pod_labels = json!({"app": name, "pod-template-hash": hash});
        let revision = json!({"deployment.kubernetes.io/revision": "3"});
        let ready = json!({"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "observedGeneration": 1});
        let mut status = ready.clone();
        status["conditions"] = json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability.", "lastUpdateTime": hours_ago(12 * 24), "lastTransitionTime": hours_ago(12 * 24)},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
             "lastUpdateTime": hours_ago(12 * 24), "lastTransitionTime": hours_ago(41 * 24)},
        ]);
        let deployment = self.create("apps/v1", "Deployment", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": revision,
                         "creationTimestamp": hours_ago(41 * 24)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "template": pod_template(name, image, port, &labels)},
            "status": status,
        }))?;
        let replica_set_name = format!("{name}-{hash}");
        let template = pod_template(name, image, port, &pod_labels);
        let replica_set = self.create("apps/v1", "ReplicaSet", json!({
            "metadata": {"name": replica_set_name, "namespace": namespace, "labels": pod_labels,
                         "annotations": {"deployment.kubernetes.io/revision": "3",
                                         "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                         "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()},
                         "ownerReferences": owner(&deployment), "creationTimestamp": hours_ago(12 * 24)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": pod_labels}, "template": template},
            "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "observedGeneration": 1},
        }))?;
        for index in 0..replicas {
            let pod_name = format!(
                "{replica_set_name}-{}",
                short_hash(&format!("{name}{index}"), 5)
            );
            let node = self.next_worker();
            self.pod(
                namespace,
                &pod_name,
                &template,
                &replica_set,
                &node,
                12 * 24,
            )?;
        }
        self.service(namespace, name, port)
    }

    fn stateful_set(
        &mut self,
        namespace: &str,
        name: &str,
        image: &str,
        replicas: i64,
        port: i64,
    ) -> Result<()> {
        let revision = format!("{name}-{}", short_hash(image, 10));
        let labels = json!({"app": name});
        let template = pod_template(name, image, port, &labels);
        let stateful_set = self.create("apps/v1", "StatefulSet", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": hours_ago(43 * 24)},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                     "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                     "template": template,
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}]},
            "status": {"replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas,
                       "updatedReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1,
                       "currentRevision": revision, "updateRevision": revision, "collisionCount": 0},
        }))?;
        self.controller_revision(namespace, &revision, &stateful_set, &template)?;
        for index in 0..replicas {
            let pod_name = format!("{name}-{index}");
            let mut pod_template = template.clone();
            pod_template["metadata"]["labels"] = json!({"app": name, "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": index.to_string()});
            let node = WORKERS[usize::try_from(index).unwrap_or_default() % WORKERS.len()];
            self.pod(
                namespace,
                &pod_name,
                &pod_template,
                &stateful_set,
                node,
                20 * 24,
            )?;
            self.create("v1", "PersistentVolumeClaim", json!({
                "metadata": {"name": format!("data-{pod_name}"), "namespace": namespace, "labels": {"app": name},
                             "creationTimestamp": hours_ago(43 * 24)},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}},
                         "storageClassName": "local-path", "volumeMode": "Filesystem",
                         "volumeName": format!("pvc-{}", short_hash(&pod_name, 12))},
                "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "20Gi"}},
            }))?;
        }
        self.service(namespace, name, port)
    }

    fn daemon_set(&mut self, namespace: &str, name: &str, image: &str) -> Result<()> {
        let revision = format!("{name}-{}", short_hash(image, 10));
        let labels = json!({"app": name});
        let mut template = pod_template(name, image, 9100, &labels);
        template["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        let nodes = i64::try_from(NODES.len()).unwrap_or_default();
        let daemon_set = self.create("apps/v1", "DaemonSet", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": hours_ago(41 * 24)},
            "spec": {"selector": {"matchLabels": labels}, "template": template,
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}},
            "status": {"desiredNumberScheduled": nodes, "currentNumberScheduled": nodes, "numberReady": nodes,
                       "updatedNumberScheduled": nodes, "numberAvailable": nodes, "numberMisscheduled": 0,
                       "observedGeneration": 1},
        }))?;
        self.controller_revision(namespace, &revision, &daemon_set, &template)?;
        for (node, _, _) in NODES {
            let pod_name = format!("{name}-{}", short_hash(&format!("{name}{node}"), 5));
            let mut pod_template = template.clone();
            pod_template["metadata"]["labels"] = json!({"app": name, "controller-revision-hash": revision, "pod-template-generation": "1"});
            self.pod(
                namespace,
                &pod_name,
                &pod_template,
                &daemon_set,
                node,
                30 * 24,
            )?;
        }
        Ok(())
    }

    fn controller_revision(
        &mut self,
        namespace: &str,
        name: &str,
        owner_object: &Value,
        template: &Value,
    ) -> Result<()> {
        self.create("apps/v1", "ControllerRevision", json!({
            "metadata": {"name": name, "namespace": namespace, "labels": owner_object["metadata"]["labels"],
                         "ownerReferences": owner(owner_object), "creationTimestamp": owner_object["metadata"]["creationTimestamp"]},
            "data": {"spec": {"template": template}},
            "revision": 1,
        }))?;
        Ok(())
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

    fn events(&mut self) -> Result<()> {
        let pods: Vec<Value> = self
            .store
            .list(&PODS, Some("acme-prod"), None)
            .filter(|(_, pod)| pod["metadata"]["labels"]["app"] == "notification-worker")
            .map(|(_, pod)| pod.clone())
            .collect();
        for pod_object in pods {
            let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
            let pod = text(&pod_object["metadata"]["name"]);
            let image = text(&pod_object["spec"]["containers"][0]["image"]);
            let node = text(&pod_object["spec"]["nodeName"]);
            let involved = json!({"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "acme-prod",
                                  "uid": pod_object["metadata"]["uid"],
                                  "resourceVersion": pod_object["metadata"]["resourceVersion"]});
            for (minutes, reason, message, component) in [
                (
                    62,
                    "Scheduled",
                    format!("Successfully assigned acme-prod/{pod} to {node}"),
                    "default-scheduler",
                ),
                (
                    61,
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                    "kubelet",
                ),
                (
                    60,
                    "Started",
                    "Started container notification-worker".to_string(),
                    "kubelet",
                ),
            ] {
                self.create("v1", "Event", json!({
                    "metadata": {"name": format!("{pod}.{}", short_hash(reason, 16)), "namespace": "acme-prod",
                                 "creationTimestamp": minutes_ago(minutes)},
                    "involvedObject": involved,
                    "reason": reason, "message": message, "type": "Normal", "count": 1,
                    "source": {"component": component},
                    "firstTimestamp": minutes_ago(minutes), "lastTimestamp": minutes_ago(minutes),
                    "reportingComponent": component, "reportingInstance": "",
                }))?;
            }
        }
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
        assert_eq!(count("deployments"), 5);
        assert_eq!(count("statefulsets"), 3);
        assert_eq!(count("daemonsets"), 2);
        // coredns 2 + platform 8 + search-indexer 2 + node-agent 3 + kube-proxy 3 + mysql 2 + redis 2
        assert_eq!(count("pods"), 22);
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
