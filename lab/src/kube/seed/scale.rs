//! A generated cluster of any size, for scale tests and benchmarks.

use anyhow::{Context, Result};

use super::{DeploymentSeed, PLATFORM_REGISTRY, Seeder};
use crate::kube::store::ObjectStore;

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
        let namespace = &namespaces[d % namespaces.len()];
        seeder.deployment(DeploymentSeed::new(
            namespace, &name, &image, replicas, 8080,
        ))?;
    }
    Ok(())
}
