//! The Kubernetes manifests: every rendered resource passes the Kubernetes schemas
//! (`kubernetes-validate`), every flag a container passes is accepted by the binary it runs
//! (`-dryRun`), and the `-storageNode` lists name the StatefulSet's pods through its headless
//! Service, on the ports the storage container exposes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn render(kustomization: &str) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(repo().join("k8s/render.py"))
        .arg(repo().join(kustomization))
        .output()
        .expect("python3 runs (the manifest tests need python3 with PyYAML, installed by `pip install kubernetes-validate`)");
    assert!(
        out.status.success(),
        "render {kustomization}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn validate(kustomization: &str, docs: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML: one file per resource.
    let mut files = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let f = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&f, d.to_string()).unwrap();
        files.push(f);
    }
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(&files)
        .output()
        .expect("kubernetes-validate runs: install it with `pip install kubernetes-validate` (.ci/run does)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{kustomization} fails the Kubernetes schemas:\n{text}"
    );
    assert_eq!(text.matches("passed").count(), docs.len(), "{text}");
}

fn containers(doc: &Value) -> Vec<&Value> {
    doc["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn arg<'a>(c: &'a Value, flag: &str) -> Option<&'a str> {
    c["args"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(&format!("-{flag}=")))
}

fn check(kustomization: &str, want_replication: &str) {
    let docs = render(kustomization);
    validate(kustomization, &docs);

    // Every container's flags are accepted by its binary.
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
    {
        for c in containers(d) {
            let cmd = c["command"][0].as_str().expect("command");
            let name = Path::new(cmd)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let bin = benches::procs::bin(&name).unwrap_or_else(|e| panic!("{e}"));
            let args: Vec<&str> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let out = Command::new(&bin)
                .args(&args)
                .arg("-dryRun")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{kustomization}: {name} refuses its manifest flags {args:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // -storageNode names the StatefulSet's pods through the headless Service, on the ports
    // the storage container exposes.
    let sts = find(&docs, "StatefulSet", "vmstorage");
    let svc_name = sts["spec"]["serviceName"].as_str().unwrap();
    let svc = find(&docs, "Service", svc_name);
    assert_eq!(
        svc["spec"]["clusterIP"], "None",
        "the StatefulSet's Service must be headless"
    );
    let replicas = sts["spec"]["replicas"].as_u64().unwrap();
    let storage = containers(sts)[0];
    let port = |name: &str| -> u64 {
        storage["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["containerPort"]
            .as_u64()
            .unwrap()
    };
    for (deployment, port_name) in [("vminsert", "vminsert"), ("vmselect", "vmselect")] {
        let c = containers(find(&docs, "Deployment", deployment))[0];
        let want: Vec<String> = (0..replicas)
            .map(|i| {
                format!(
                    "{}-{i}.{svc_name}:{}",
                    sts["metadata"]["name"].as_str().unwrap(),
                    port(port_name)
                )
            })
            .collect();
        let got: Vec<String> = arg(c, "storageNode")
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        assert_eq!(got, want, "{kustomization}: {deployment} -storageNode");
        assert_eq!(
            arg(c, "replicationFactor"),
            Some(want_replication),
            "{kustomization}: {deployment}"
        );
        let svc_ports: Vec<u64> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        assert!(
            svc_ports.contains(&port(port_name)),
            "the headless Service exposes {port_name}"
        );
    }
}

#[test]
fn base_manifests_validate_and_their_flags_are_accepted() {
    check("k8s/base", "1");
}

#[test]
fn replication_overlay_validates_and_sets_two_copies() {
    check("k8s/overlays/replication-2", "2");
}

#[test]
fn every_grafana_dashboard_query_parses() {
    let text = std::fs::read_to_string(repo().join("k8s/examples/grafana-dashboard.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    let mut n = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            promql::parse(expr).unwrap_or_else(|e| panic!("{}: {expr}: {e}", panel["title"]));
            n += 1;
        }
    }
    assert!(n >= 12, "{n} queries");
}
