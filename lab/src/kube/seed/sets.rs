//! The seed's StatefulSets and DaemonSets, with their ControllerRevisions.

use anyhow::Result;
use serde_json::{Value, json};

use super::problems::PodHealth;
use super::{DAY, NODES, Seeder, WORKERS, hours_ago, owner, pod_template, short_hash};

impl Seeder<'_> {
    /// A StatefulSet of `replicas` pods spread over the workers, with its
    /// ControllerRevision, claims and Service.
    pub(super) fn stateful_set(
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
                &pod_name,
                &pod_template,
                &stateful_set,
                node,
                20 * DAY,
                PodHealth::Ready,
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

    /// A DaemonSet with a pod on every node, and its ControllerRevision.
    pub(super) fn daemon_set(&mut self, namespace: &str, name: &str, image: &str) -> Result<()> {
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
                &pod_name,
                &pod_template,
                &daemon_set,
                node,
                30 * DAY,
                PodHealth::Ready,
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
}
