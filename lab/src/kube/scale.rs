//! Growing the simulator to the size of a large customer site, for scale
//! tests and benchmarks (e.g. 10k pods, 2k deployments, 200 nodes).

use anyhow::Result;

use super::KubeSim;
use super::seed::{ScaleSpec, seed_scale};

impl KubeSim {
    /// Adds a generated cluster of `spec`'s size; watches see every object
    /// as ADDED.
    pub fn generate(&self, spec: ScaleSpec) -> Result<()> {
        self.state.store.write(|store| seed_scale(store, spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::KubeSimOptions;
    use crate::kube::resources::{PODS, find_by_kind};

    #[test]
    fn generates_the_asked_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let options = KubeSimOptions {
            seed_site: false,
            ..KubeSimOptions::default()
        };
        let sim = KubeSim::start_with(dir.path(), options).unwrap();
        sim.generate(ScaleSpec {
            namespaces: 5,
            deployments: 40,
            pods: 203,
            nodes: 12,
        })
        .unwrap();
        let store = sim.state.store.read();
        assert_eq!(store.count(&PODS, None), 203);
        let deployments = find_by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(store.count(deployments, None), 40);
        let nodes = find_by_kind("v1", "Node").unwrap();
        assert_eq!(store.count(nodes, None), 12);
    }
}
