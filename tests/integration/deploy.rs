//! deploy/: every file is checked by the tool that will read it, where that
//! tool runs here, and structurally otherwise.
//!
//! - Dockerfile: parsed instruction by instruction (multi-stage, pinned
//!   bases, non-root numeric USER, root-owned COPYs, no ADD, EXPOSE equal to
//!   the default config's ports, exec-form ENTRYPOINT), linted by `hadolint`;
//!   its default config passes `check-config`, and its HEALTHCHECK command
//!   is run against a real `redactd serve` (and against a closed port).
//! - Kubernetes: YAML parsed by PyYAML; probes, ports, security contexts,
//!   annotations, resources, ConfigMap and Secret mounts are cross-checked
//!   with the embedded redactd config, which passes `check-config` with its
//!   referenced files made in a temp dir.
//! - systemd: `systemd-analyze verify` (no warnings) and `systemd-analyze
//!   security --offline` on a copy whose ExecStart is the built binary.
//! - Prometheus: `promtool check rules`, `promtool test rules`; every alert
//!   is tested firing and not firing; every metric and label the rules use
//!   exists in src/metrics.rs.
//! - rsyslog (`rsyslogd -N1`) and syslog-ng (`syslog-ng -s`) snippets in a
//!   minimal full config; Vector and Fluent Bit (not installable here)
//!   structurally, their addresses checked against deploy/config.example.toml.
//!
//! A missing tool prints `SKIP: <name> not found`, or fails under
//! REDACTD_REQUIRE_PEERS=1 (tests/common/peers.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::binary::Redactd;
use crate::common::peers::*;
use serde_json::Value as Json;

const TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(p: &str) -> PathBuf {
    repo().join("deploy").join(p)
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: Command) -> Output {
    run_bounded(cmd, TIMEOUT)
}

/// `redactd check-config FILE` must accept the file.
fn check_config(file: &Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_redactd"));
    cmd.arg("check-config").arg(file);
    let out = run(cmd);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": ok"),
        "check-config {}:\n{}\n--- file\n{}",
        file.display(),
        text(&out),
        read(file)
    );
}

fn toml_table(s: &str, what: &str) -> toml::Table {
    s.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{what} is not TOML: {e}"))
}

/// The port of an `IP:PORT` string.
fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// (protocol, port) of every listen address of a redactd config, and the
/// metrics port.
fn config_ports(cfg: &toml::Table) -> (BTreeSet<(String, u16)>, Option<u16>) {
    let mut ports = BTreeSet::new();
    for l in cfg
        .get("listener")
        .and_then(|v| v.as_array())
        .expect("[[listener]]")
    {
        let str_list = |k: &str| -> Vec<String> {
            l.get(k)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for a in str_list("listen_tcp") {
            ports.insert(("tcp".to_string(), port_of(&a)));
        }
        for a in str_list("listen_udp") {
            ports.insert(("udp".to_string(), port_of(&a)));
        }
        if let Some(a) = l.get("listen").and_then(|v| v.as_str()) {
            ports.insert(("tcp".to_string(), port_of(a)));
        }
    }
    let metrics = cfg
        .get("metrics")
        .and_then(|m| m.get("listen"))
        .and_then(|v| v.as_str())
        .map(port_of);
    (ports, metrics)
}

/// deploy/config.example.toml's listener of `mode` named `name`.
fn example_listener(name: &str) -> toml::Value {
    let cfg = toml_table(&read(&deploy("config.example.toml")), "config.example.toml");
    cfg["listener"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l.get("name").and_then(|n| n.as_str()) == Some(name))
        .unwrap_or_else(|| panic!("config.example.toml has no listener {name:?}"))
        .clone()
}

// ----------------------------------------------------------------- YAML ---

/// All documents of a YAML file as JSON, parsed by PyYAML (safe_load_all).
/// None (after SKIP) when python3 or PyYAML is missing.
fn yaml_docs(path: &Path) -> Option<Vec<Json>> {
    let python = peer("python3")?;
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(
            "import json, sys\n\
             try:\n    import yaml\n\
             except ImportError:\n    sys.exit(77)\n\
             with open(sys.argv[1]) as f:\n    docs = list(yaml.safe_load_all(f))\n\
             json.dump(docs, sys.stdout)\n",
        )
        .arg(path);
    let out = run(cmd);
    if out.status.code() == Some(77) {
        if require_peers() {
            panic!("REDACTD_REQUIRE_PEERS=1 and python3 has no PyYAML; .ci/run installs it");
        }
        say("SKIP: PyYAML not found");
        return None;
    }
    assert!(
        out.status.success(),
        "PyYAML {}:\n{}",
        path.display(),
        text(&out)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from python"))
}

fn s<'a>(v: &'a Json, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v:#}"))
}

// ----------------------------------------------------------- Dockerfile ---

struct Instr {
    line: usize,
    op: String,
    args: String,
}

/// Instructions of a Dockerfile: comments dropped, `\` continuations joined,
/// keywords upper-cased.
fn dockerfile_instructions(text: &str) -> Vec<Instr> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_none()) {
            continue;
        }
        let (start, mut acc) = cur.take().unwrap_or((i + 1, String::new()));
        let (body, cont) = match t.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (t, false),
        };
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if cont {
            cur = Some((start, acc));
        } else if !acc.is_empty() {
            let (op, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
            out.push(Instr {
                line: start,
                op: op.to_ascii_uppercase(),
                args: args.trim().to_string(),
            });
        }
    }
    assert!(cur.is_none(), "Dockerfile ends inside a continuation");
    out
}

/// `--flag=value` options at the start of an instruction's arguments, and
/// the rest.
fn flags(args: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut f = BTreeMap::new();
    let mut rest = Vec::new();
    for w in args.split_whitespace() {
        if rest.is_empty() {
            if let Some(kv) = w.strip_prefix("--") {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                f.insert(k.to_string(), v.to_string());
                continue;
            }
        }
        rest.push(w.to_string());
    }
    (f, rest)
}

fn expand_args(s: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in args {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_read_only_friendly() {
    let text = read(&deploy("Dockerfile"));
    assert!(
        text.starts_with("# syntax=docker/dockerfile:1"),
        "BuildKit syntax directive first (COPY --chmod, RUN --mount)"
    );
    let ins = dockerfile_instructions(&text);

    // Global ARG defaults, then the stages.
    let mut args = BTreeMap::new();
    let mut stages: Vec<(String, Option<String>, Vec<&Instr>)> = Vec::new();
    for i in &ins {
        match i.op.as_str() {
            "ARG" if stages.is_empty() => {
                let (k, v) = i.args.split_once('=').expect("ARG with a default");
                args.insert(k.to_string(), v.to_string());
            }
            "FROM" => {
                let w: Vec<&str> = i.args.split_whitespace().collect();
                let image = expand_args(w[0], &args);
                let name = match w.as_slice() {
                    [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_string()),
                    [_] => None,
                    _ => panic!("line {}: FROM {}", i.line, i.args),
                };
                stages.push((image, name, Vec::new()));
            }
            _ => stages
                .last_mut()
                .unwrap_or_else(|| panic!("line {}: {} before FROM", i.line, i.op))
                .2
                .push(i),
        }
    }
    assert!(stages.len() >= 2, "multi-stage: {} stage(s)", stages.len());
    for (image, name, _) in &stages {
        assert!(name.is_some(), "every stage is named (FROM {image} AS ...)");
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest",
            "{image}: a pinned tag, not latest"
        );
    }
    let (builder_image, _, builder_body) = &stages[0];
    assert!(
        builder_image.starts_with("rust:") && builder_image.ends_with("-bookworm"),
        "builder on the Rust image for Debian bookworm: {builder_image}"
    );
    assert!(
        builder_body
            .iter()
            .any(|i| i.op == "RUN" && i.args.contains("cargo build --release --locked")),
        "the builder runs cargo build --release --locked"
    );
    let (runtime_image, _, rt) = stages.last().unwrap();
    assert!(
        runtime_image == "debian:bookworm-slim"
            || runtime_image.starts_with("gcr.io/distroless/cc-debian12"),
        "runtime base: {runtime_image}"
    );

    for i in &ins {
        assert_ne!(
            i.op, "ADD",
            "line {}: COPY, not ADD (no URLs, no auto-extraction)",
            i.line
        );
        assert_ne!(i.op, "MAINTAINER", "line {}", i.line);
    }

    // Build context: every COPY source exists and is not excluded.
    let ignore = read(&deploy("Dockerfile.dockerignore"));
    let ignored: BTreeSet<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stage_names: BTreeSet<&str> = stages.iter().filter_map(|s| s.1.as_deref()).collect();
    for (_, _, body) in &stages {
        for i in body.iter().filter(|i| i.op == "COPY") {
            let (f, rest) = flags(&i.args);
            assert!(rest.len() >= 2, "line {}: COPY SRC... DEST", i.line);
            match f.get("from") {
                Some(st) => assert!(
                    stage_names.contains(st.as_str()),
                    "line {}: --from={st}",
                    i.line
                ),
                None => {
                    for src in &rest[..rest.len() - 1] {
                        assert!(
                            repo().join(src).exists(),
                            "line {}: COPY {src}: not in the repo",
                            i.line
                        );
                        assert!(
                            !ignored.contains(src.as_str()),
                            "line {}: {src} is in the dockerignore",
                            i.line
                        );
                    }
                }
            }
        }
    }

    // Runtime stage: root-owned files, then a numeric non-root user.
    let users: Vec<&&Instr> = rt.iter().filter(|i| i.op == "USER").collect();
    let user = &users.last().expect("USER in the runtime stage").args;
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: numeric, so runAsNonRoot can verify it"));
    assert!(uid >= 1000, "USER {user}: not root, not a system uid");
    let user_at = rt.iter().position(|i| i.op == "USER").unwrap();
    for (n, i) in rt.iter().enumerate() {
        match i.op.as_str() {
            "RUN" => {
                assert!(n < user_at, "line {}: RUN after USER", i.line);
                assert!(
                    i.args.contains(&format!("--uid {uid}")),
                    "line {}: the runtime stage only creates the user: {}",
                    i.line,
                    i.args
                );
            }
            "COPY" => {
                let (f, _) = flags(&i.args);
                assert_eq!(
                    f.get("chown").map(String::as_str),
                    Some("root:root"),
                    "line {}: COPY --chown=root:root, so the process cannot change its files",
                    i.line
                );
                assert!(f.contains_key("chmod"), "line {}: COPY --chmod", i.line);
            }
            "VOLUME" => panic!("line {}: no VOLUME (nothing is written)", i.line),
            _ => {}
        }
    }
    let copy_dest = |needle: &str| -> String {
        let i = rt
            .iter()
            .find(|i| i.op == "COPY" && i.args.contains(needle))
            .unwrap_or_else(|| panic!("COPY of {needle} in the runtime stage"));
        flags(&i.args).1.last().unwrap().clone()
    };
    let binary = copy_dest("redactd ");
    let config_dest = copy_dest("deploy/docker/redactd.toml");
    assert_eq!(config_dest, "/etc/redactd/redactd.toml");

    let one = |op: &str| -> &Instr {
        let v: Vec<&&Instr> = rt.iter().filter(|i| i.op == op).collect();
        assert_eq!(v.len(), 1, "one {op} in the runtime stage");
        v[0]
    };
    let entry: Vec<String> =
        serde_json::from_str(&one("ENTRYPOINT").args).expect("exec-form ENTRYPOINT");
    assert_eq!(
        entry,
        [
            binary.as_str(),
            "serve",
            "--config",
            "/etc/redactd/redactd.toml"
        ]
    );
    assert!(
        rt.iter().all(|i| i.op != "CMD"),
        "no CMD: the entrypoint is the whole command"
    );

    // EXPOSE: exactly the default config's ports.
    let cfg = toml_table(&read(&deploy("docker/redactd.toml")), "docker/redactd.toml");
    let (mut want, metrics) = config_ports(&cfg);
    want.insert((
        "tcp".to_string(),
        metrics.expect("[metrics] in the image's config"),
    ));
    let exposed: BTreeSet<(String, u16)> = rt
        .iter()
        .filter(|i| i.op == "EXPOSE")
        .flat_map(|i| i.args.split_whitespace())
        .map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            (proto.to_string(), port.parse().expect("EXPOSE port"))
        })
        .collect();
    assert_eq!(
        exposed, want,
        "EXPOSE = the default config's listeners and metrics"
    );

    // HEALTHCHECK: exec form, /healthz on the metrics port.
    let hc = &one("HEALTHCHECK").args;
    let (_, cmd_json) = hc.split_once("CMD ").expect("HEALTHCHECK ... CMD");
    let cmd: Vec<String> =
        serde_json::from_str(cmd_json.trim()).expect("exec-form HEALTHCHECK CMD");
    let script = cmd.join(" ");
    assert!(script.contains("/healthz"), "{script}");
    assert!(
        script.contains(&format!("/{}", metrics.unwrap())),
        "the health check asks the metrics port: {script}"
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    let Some(hadolint) = peer("hadolint") else {
        return;
    };
    let mut cmd = Command::new(hadolint);
    cmd.args(["--no-color", "--failure-threshold", "info"])
        .arg(deploy("Dockerfile"));
    let out = run(cmd);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "hadolint:\n{}",
        text(&out)
    );
}

#[test]
fn docker_default_config_is_valid_and_the_healthcheck_works() {
    let cfg_path = deploy("docker/redactd.toml");
    check_config(&cfg_path);

    // The image's HEALTHCHECK command, run against a real `redactd serve`
    // of the image's config moved onto loopback ports.
    let dockerfile = read(&deploy("Dockerfile"));
    let hc = dockerfile_instructions(&dockerfile)
        .into_iter()
        .find(|i| i.op == "HEALTHCHECK")
        .unwrap();
    let cmd: Vec<String> =
        serde_json::from_str(hc.args.split_once("CMD ").unwrap().1.trim()).unwrap();
    let mut cfg = toml_table(&read(&cfg_path), "docker/redactd.toml");
    let metrics_port = config_ports(&cfg).1.unwrap();
    let closed = free_tcp_port();
    cfg["metrics"]["listen"] = "127.0.0.1:0".into();
    for l in cfg["listener"].as_array_mut().unwrap() {
        let l = l.as_table_mut().unwrap();
        for k in ["listen_tcp", "listen_udp"] {
            if l.contains_key(k) {
                l.insert(k.into(), toml::Value::Array(vec!["127.0.0.1:0".into()]));
            }
        }
        if l.contains_key("listen") {
            l.insert("listen".into(), "127.0.0.1:0".into());
        }
        l.insert(
            "upstream".into(),
            format!("tcp://127.0.0.1:{closed}").into(),
        );
    }
    let tmp = TempDir::new("deploy-docker");
    let local = tmp.join("redactd.toml");
    fs::write(&local, toml::to_string(&cfg).unwrap()).unwrap();
    let health = |port: u16| -> Output {
        let args: Vec<String> = cmd
            .iter()
            .map(|a| a.replace(&format!("/{metrics_port}"), &format!("/{port}")))
            .collect();
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]);
        run_bounded(c, Duration::from_secs(10))
    };

    // Negative control: nothing listens.
    let out = health(free_tcp_port());
    assert!(
        !out.status.success(),
        "health check passed with nothing listening:\n{}",
        text(&out)
    );

    let mut d = Redactd::start(&tmp, "serve", &["--config", local.to_str().unwrap()]);
    let port = d.port("metrics");
    let out = health(port);
    assert!(
        out.status.success(),
        "HEALTHCHECK against redactd serve:\n{}\n--- redactd\n{}",
        text(&out),
        d.stderr()
    );
    d.stop();
}

// ----------------------------------------------------------- Kubernetes ---

/// Every container of a pod spec (native sidecars are init containers).
fn containers(pod: &Json) -> Vec<&Json> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod.get(*k).and_then(Json::as_array))
        .flatten()
        .collect()
}

/// A container's port number for a probe's `port` (a name or a number).
fn resolve_port(c: &Json, port: &Json) -> u64 {
    if let Some(n) = port.as_u64() {
        return n;
    }
    let name = port.as_str().expect("port name or number");
    c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no container port named {name}"))["containerPort"]
        .as_u64()
        .unwrap()
}

fn assert_restricted(sc: &Json, what: &str) {
    assert_eq!(
        sc["allowPrivilegeEscalation"], false,
        "{what}: allowPrivilegeEscalation"
    );
    assert_eq!(
        sc["readOnlyRootFilesystem"], true,
        "{what}: readOnlyRootFilesystem"
    );
    assert_eq!(
        sc.pointer("/capabilities/drop/0"),
        Some(&Json::from("ALL")),
        "{what}: drop ALL"
    );
    assert!(
        sc.pointer("/capabilities/add").is_none(),
        "{what}: no added capability"
    );
    assert_ne!(
        sc.get("privileged"),
        Some(&Json::Bool(true)),
        "{what}: privileged"
    );
}

/// Checks one manifest file; returns its redactd config and the redactd
/// container for workload-specific checks.
fn check_manifest(file: &str, kind: &str) -> Option<(toml::Table, Json, Json)> {
    let path = deploy(file);
    let docs = yaml_docs(&path)?;
    let by_kind = |k: &str| -> Vec<&Json> { docs.iter().filter(|d| d["kind"] == k).collect() };
    let workload = by_kind(kind);
    assert_eq!(workload.len(), 1, "{file}: one {kind}");
    let workload = workload[0].clone();
    for d in &docs {
        assert!(
            d["apiVersion"].is_string() && d["metadata"]["name"].is_string(),
            "{file}: {d:#}"
        );
        assert_ne!(
            d["kind"], "Secret",
            "{file}: no Secret with a value in an example"
        );
    }
    let tmpl = &workload["spec"]["template"];
    let pod = &tmpl["spec"];

    // Selector matches the template's labels.
    for (k, v) in workload["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&tmpl["metadata"]["labels"][k], v, "{file}: selector {k}");
    }

    // Pod security context.
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{file}: runAsNonRoot");
    assert!(
        psc["runAsUser"].as_u64().unwrap() >= 1000,
        "{file}: runAsUser"
    );
    assert_eq!(s(psc, "/seccompProfile/type"), "RuntimeDefault", "{file}");
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "{file}: no API token"
    );
    assert_ne!(
        pod.get("hostNetwork"),
        Some(&Json::Bool(true)),
        "{file}: hostNetwork"
    );

    // Every container: restricted, with resources.
    for c in containers(pod) {
        let name = s(c, "/name");
        assert_restricted(&c["securityContext"], &format!("{file}: {name}"));
        assert!(
            c.pointer("/resources/requests/cpu").is_some()
                && c.pointer("/resources/requests/memory").is_some()
                && c.pointer("/resources/limits/memory").is_some(),
            "{file}: {name}: resources"
        );
    }
    let redactd = containers(pod)
        .into_iter()
        .find(|c| c["name"] == "redactd")
        .unwrap_or_else(|| panic!("{file}: a container named redactd"))
        .clone();
    let args: Vec<&str> = redactd["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        ["serve", "--config", "/etc/redactd/redactd.toml"],
        "{file}"
    );

    // Volumes: the config from the ConfigMap at /etc/redactd, the key from
    // a Secret.
    let volumes: BTreeMap<&str, &Json> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (s(v, "/name"), v))
        .collect();
    let mounts: Vec<(&str, &Json)> = redactd["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["readOnly"], true, "{file}: mounts are read-only");
            (s(m, "/mountPath"), volumes[s(m, "/name")])
        })
        .collect();
    let cm_vol = mounts
        .iter()
        .find(|(p, _)| *p == "/etc/redactd")
        .unwrap_or_else(|| panic!("{file}: a volume at /etc/redactd"))
        .1;
    let cm_name = s(cm_vol, "/configMap/name");
    let cm = by_kind("ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == cm_name)
        .unwrap_or_else(|| panic!("{file}: ConfigMap {cm_name}"));
    assert_eq!(
        cm["metadata"]["namespace"], workload["metadata"]["namespace"],
        "{file}"
    );
    let config_text = s(cm, "/data/redactd.toml").to_string();
    let cfg = toml_table(&config_text, &format!("{file}: redactd.toml"));

    // Metrics: the probes and the scrape annotations use its port.
    let (ports, metrics) = config_ports(&cfg);
    let metrics =
        u64::from(metrics.unwrap_or_else(|| panic!("{file}: [metrics] is needed for probes")));
    assert_eq!(
        cfg["metrics"]["public"].as_bool(),
        Some(true),
        "{file}: kubelet probes the Pod IP"
    );
    let ann = &tmpl["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true", "{file}");
    assert_eq!(ann["prometheus.io/port"], metrics.to_string(), "{file}");
    assert_eq!(ann["prometheus.io/path"], "/metrics", "{file}");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let p = &redactd[probe]["httpGet"];
        assert_eq!(p["path"], path, "{file}: {probe}");
        assert_eq!(
            resolve_port(&redactd, &p["port"]),
            metrics,
            "{file}: {probe} on the metrics port"
        );
    }
    if let Some(p) = redactd.get("startupProbe") {
        assert_eq!(p["httpGet"]["path"], "/healthz", "{file}: startupProbe");
        assert_eq!(
            resolve_port(&redactd, &p["httpGet"]["port"]),
            metrics,
            "{file}"
        );
    }
    // Listener ports that are not loopback-only are container ports.
    let declared: BTreeSet<(String, u64)> = redactd["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    let public_listeners = cfg["listener"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.get("public").and_then(|v| v.as_bool()) == Some(true));
    if public_listeners {
        for (proto, port) in &ports {
            assert!(
                declared.contains(&(proto.clone(), u64::from(*port))),
                "{file}: listener port {port}/{proto} is not a container port"
            );
        }
    }

    // Secret-backed key files: mounted from a Secret item, then made in a
    // temp dir so `check-config` sees them.
    let tmp = TempDir::new("deploy-k8s");
    let mut local = config_text.clone();
    let mut key_files = Vec::new();
    collect_files(&toml::Value::Table(cfg.clone()), &mut key_files);
    assert!(
        key_files.iter().any(|(k, _)| k == "hmac_key_file"),
        "{file}: the HMAC key comes from a file"
    );
    for (key, f) in &key_files {
        let (mount, vol) = mounts
            .iter()
            .filter(|(m, _)| f.starts_with(&format!("{m}/")))
            .max_by_key(|(m, _)| m.len())
            .unwrap_or_else(|| panic!("{file}: {key} = {f:?} is under no volume mount"));
        let item = &f[mount.len() + 1..];
        if key.ends_with("key_file") {
            let secret = vol
                .get("secret")
                .unwrap_or_else(|| panic!("{file}: {key} from a Secret"));
            let items = secret["items"].as_array();
            assert!(
                items.is_none_or(|it| it.iter().any(|i| i["path"] == item)),
                "{file}: Secret {} has no item at {item}",
                s(secret, "/secretName")
            );
        }
        let there = tmp.join(f.trim_start_matches('/'));
        fs::create_dir_all(there.parent().unwrap()).unwrap();
        // 32 random bytes, base64, as the manifests' comments make it.
        fs::write(&there, "q9Rk2Vb0lJm3sT7uWx4yZa1cDe5fGh8iJk6lMn0pQr4=\n").unwrap();
        local = local.replace(
            &format!("\"{f}\""),
            &format!("{:?}", there.to_str().unwrap()),
        );
    }
    let cfg_file = tmp.join("redactd.toml");
    fs::write(&cfg_file, &local).unwrap();
    check_config(&cfg_file);
    Some((cfg, redactd, pod.clone()))
}

/// Every `*_file` string in a config: (key, value).
fn collect_files(v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                match v.as_str() {
                    Some(p) if k.ends_with("_file") => out.push((k.clone(), p.to_string())),
                    _ => collect_files(v, out),
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| collect_files(v, out)),
        _ => {}
    }
}

#[test]
fn kubernetes_sidecar() {
    let Some((cfg, redactd, pod)) = check_manifest("kubernetes/sidecar.yaml", "Deployment") else {
        return;
    };
    // A native sidecar: an init container that keeps running.
    let init = pod["initContainers"]
        .as_array()
        .expect("redactd as a native sidecar");
    assert!(init
        .iter()
        .any(|c| c["name"] == "redactd" && c["restartPolicy"] == "Always"));
    assert!(
        redactd.get("startupProbe").is_some(),
        "the app starts once redactd is up"
    );
    // Only the metrics port leaves the Pod; the listener is loopback.
    let listeners = cfg["listener"].as_array().unwrap();
    let syslog = listeners
        .iter()
        .find(|l| l["mode"].as_str() == Some("syslog"))
        .unwrap();
    let listen = syslog["listen_tcp"][0].as_str().unwrap();
    assert!(listen.starts_with("127.0.0.1:"), "{listen}");
    assert!(
        !syslog["upstream"].as_str().unwrap().contains("127.0.0.1"),
        "forwards off the Pod"
    );
    // The app logs to that listener.
    let app = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "app")
        .unwrap();
    let env: BTreeMap<&str, &str> = app["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(e, "/name"), s(e, "/value")))
        .collect();
    assert_eq!(env["SYSLOG_ADDRESS"], listen);
    assert_eq!(env["SYSLOG_PROTOCOL"], "tcp");
}

#[test]
fn kubernetes_daemonset() {
    let Some((cfg, redactd, _pod)) = check_manifest("kubernetes/daemonset.yaml", "DaemonSet")
    else {
        return;
    };
    let docs = yaml_docs(&deploy("kubernetes/daemonset.yaml")).unwrap();
    // Listener ports are host ports, and the node-local Service targets them.
    let (ports, _) = config_ports(&cfg);
    let by_name: BTreeMap<&str, &Json> = redactd["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(p, "/name"), p))
        .collect();
    for (proto, port) in &ports {
        assert!(
            by_name.values().any(|p| p["containerPort"] == *port
                && p["hostPort"] == *port
                && p["protocol"].as_str().unwrap().eq_ignore_ascii_case(proto)),
            "{port}/{proto} is a host port"
        );
    }
    let svc = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("Service");
    assert_eq!(svc["spec"]["internalTrafficPolicy"], "Local");
    for p in svc["spec"]["ports"].as_array().unwrap() {
        let target = &by_name[s(p, "/targetPort")];
        assert_eq!(p["protocol"], target["protocol"]);
        assert_eq!(p["port"], target["containerPort"]);
    }
    assert!(
        !by_name.contains_key("metrics") || by_name["metrics"].get("hostPort").is_none(),
        "metrics stay on the Pod IP"
    );
}

// -------------------------------------------------------------- systemd ---

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit_path = deploy("systemd/redactd.service");
    let unit = read(&unit_path);
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in unit.lines().map(str::trim) {
        if let Some((k, v)) = l.split_once('=').filter(|_| !l.starts_with('#')) {
            keys.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    let one = |k: &str| -> &str {
        keys.get(k)
            .and_then(|v| v.last())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k}= missing"))
    };
    assert_eq!(
        one("ExecStart"),
        "/usr/local/bin/redactd serve --config /etc/redactd/redactd.toml"
    );
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    for (k, v) in [
        ("DynamicUser", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    assert_eq!(keys["SystemCallFilter"][0], "@system-service");
    assert_eq!(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
    assert!(one("LoadCredential").starts_with("hmac-key:"));
    // No capability: every port of the example config is unprivileged.
    let cfg = toml_table(&read(&deploy("config.example.toml")), "config.example.toml");
    let (ports, metrics) = config_ports(&cfg);
    for (_, p) in &ports {
        assert!(*p >= 1024, "port {p} would need CAP_NET_BIND_SERVICE");
    }
    assert!(metrics.unwrap_or(9464) >= 1024);

    let Some(analyze) = peer("systemd-analyze") else {
        return;
    };
    // verify needs the binaries to exist: a copy pointing at the build.
    let tmp = TempDir::new("deploy-systemd");
    let copy = tmp.join("redactd.service");
    fs::write(
        &copy,
        unit.replace("/usr/local/bin/redactd", env!("CARGO_BIN_EXE_redactd")),
    )
    .unwrap();
    let mut cmd = Command::new(&analyze);
    cmd.args(["verify", "--man=no"]).arg(&copy);
    let out = run(cmd);
    // Unknown or misspelt keys are only warnings: none may appear.
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );
    let mut cmd = Command::new(&analyze);
    // --threshold is in tenths: 20 is an exposure of 2.0 ("OK" ends at 2.9).
    cmd.args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&copy);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "systemd-analyze security: exposure above 2.0:\n{}",
        text(&out)
    );
}

// ----------------------------------------------------------- Prometheus ---

/// Every family redactd exports: name -> label names.
fn metric_families() -> BTreeMap<String, Vec<String>> {
    redactd::metrics::families()
        .map(|(name, labels)| {
            (
                name.to_string(),
                labels.iter().map(|l| l.to_string()).collect(),
            )
        })
        .collect()
}

/// The `expr:` of every rule, a folded block (`expr: >-` and the lines
/// indented below it) joined into one line.
fn rule_exprs(rules_text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = rules_text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(expr) = line.trim().strip_prefix("expr: ") else {
            continue;
        };
        if !matches!(expr, ">-" | ">" | "|" | "|-") {
            out.push(expr.to_string());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut parts = Vec::new();
        while let Some(next) = lines.next_if(|l| l.len() - l.trim_start().len() > indent) {
            parts.push(next.trim());
        }
        out.push(parts.join(" "));
    }
    out
}

#[test]
fn prometheus_rules_check_and_unit_tests() {
    let rules = deploy("prometheus/redactd.rules.yml");
    let tests = deploy("prometheus/redactd.rules.test.yml");

    // Every metric and label a rule uses is one redactd exports.
    let families = metric_families();
    let rules_text = read(&rules);
    let mut alerts = BTreeSet::new();
    for line in rules_text.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("- alert: ") {
            alerts.insert(a.to_string());
        }
    }
    for expr in rule_exprs(&rules_text) {
        let expr = expr.as_str();
        let mut used = Vec::new();
        for (i, _) in expr.match_indices("redactd_") {
            let name: String = expr[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
        let by: Vec<&str> = expr
            .split("by (")
            .skip(1)
            .flat_map(|s| s.split(')').next().unwrap().split(','))
            .map(str::trim)
            .collect();
        let matchers: Vec<&str> = expr
            .split('{')
            .skip(1)
            .flat_map(|s| s.split('}').next().unwrap().split(','))
            .filter_map(|m| m.split(['=', '!', '~']).next())
            .map(str::trim)
            .collect();
        for name in &used {
            let labels = families
                .get(name)
                .unwrap_or_else(|| panic!("{expr}: {name} is not a redactd metric"));
            for l in by.iter().chain(&matchers) {
                assert!(
                    ["job", "instance"].contains(l) || labels.iter().any(|x| x == l),
                    "{expr}: {name} has no label {l} ({labels:?})"
                );
            }
        }
        assert!(!used.is_empty() || expr.starts_with("up{"), "{expr}");
        if expr.contains("up offset") {
            assert!(expr.contains("on (job, instance)"), "{expr}");
        }
    }
    for want in [
        "RedactdSecretFound",
        "RedactdUpstreamDown",
        "RedactdMessagesDropped",
        "RedactdFramingErrors",
        "RedactdTLSHandshakeFailures",
        "RedactdConfigReloadFailed",
        "RedactdDown",
    ] {
        assert!(alerts.contains(want), "alert {want} is missing");
    }

    // Each alert is tested firing and not firing.
    if let Some(docs) = yaml_docs(&tests) {
        let mut firing = BTreeSet::new();
        let mut quiet = BTreeSet::new();
        for t in docs[0]["tests"].as_array().unwrap() {
            for a in t["alert_rule_test"].as_array().into_iter().flatten() {
                let name = s(a, "/alertname").to_string();
                if a["exp_alerts"].as_array().is_some_and(|v| !v.is_empty()) {
                    firing.insert(name);
                } else {
                    quiet.insert(name);
                }
            }
        }
        assert_eq!(firing, alerts, "alerts tested firing");
        assert_eq!(quiet, alerts, "alerts tested not firing");
    }

    let Some(promtool) = peer("promtool") else {
        return;
    };
    let mut cmd = Command::new(&promtool);
    cmd.args(["check", "rules"]).arg(&rules);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("SUCCESS: {} rules found", alerts.len())),
        "{}",
        text(&out)
    );
    let mut cmd = Command::new(&promtool);
    cmd.args(["test", "rules"]).arg(&tests);
    let out = run(cmd);
    assert!(out.status.success(), "promtool test rules:\n{}", text(&out));
}

// --------------------------------------------------------- integrations ---

#[test]
fn rsyslog_snippets_validate() {
    let syslog_in = example_listener("syslog-in");
    let syslog_tls = example_listener("syslog-tls");
    let cases = [
        (
            "60-redactd.conf",
            port_of(syslog_in["listen_tcp"][0].as_str().unwrap()),
        ),
        (
            "60-redactd-tls.conf",
            port_of(syslog_tls["listen_tcp"][0].as_str().unwrap()),
        ),
    ];
    for (f, port) in &cases {
        let snippet = read(&deploy(&format!("integrations/rsyslog/{f}")));
        assert!(snippet.contains("type=\"omfwd\""), "{f}");
        assert!(
            snippet.contains("TCP_Framing=\"octet-counted\""),
            "{f}: octet counting"
        );
        assert!(
            snippet.contains(&format!("port=\"{port}\"")),
            "{f}: port {port}"
        );
        if f.contains("tls") {
            assert!(snippet.contains("StreamDriverMode=\"1\""), "{f}: TLS only");
            assert!(
                snippet.contains("StreamDriverAuthMode=\"x509/name\""),
                "{f}: verifies redactd"
            );
        }
    }
    let Some(rsyslogd) = peer("rsyslogd") else {
        return;
    };
    let tmp = TempDir::new("deploy-rsyslog");
    for (f, _) in &cases {
        let conf = tmp.join(format!("{f}.full"));
        fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{}\")\n{}",
                tmp.path().display(),
                read(&deploy(&format!("integrations/rsyslog/{f}")))
            ),
        )
        .unwrap();
        let mut cmd = Command::new(&rsyslogd);
        cmd.arg("-N1").arg("-f").arg(&conf);
        let out = run(cmd);
        let all = text(&out);
        assert!(
            out.status.success() && !all.contains("error") && !all.contains("warning"),
            "rsyslogd -N1 {f}:\n{all}"
        );
    }
}

#[test]
fn syslog_ng_snippet_validates() {
    let snippet = read(&deploy("integrations/syslog-ng/redactd.conf"));
    let port = port_of(
        example_listener("syslog-in")["listen_tcp"][0]
            .as_str()
            .unwrap(),
    );
    assert!(snippet.contains(&format!("port({port})")), "port {port}");
    assert!(snippet.contains("syslog(") && snippet.contains("transport(\"tls\")"));
    let Some(sng) = peer("syslog-ng") else {
        return;
    };
    // The TLS files must exist for `-s`: made in the temp dir.
    let tmp = TempDir::new("deploy-syslog-ng");
    let tls = tmp.join("tls");
    fs::create_dir_all(&tls).unwrap();
    for f in ["redactd-ca.crt", "client.crt", "client.key"] {
        fs::write(tls.join(f), "").unwrap();
    }
    let body = snippet
        .replace("/etc/syslog-ng/tls", tls.to_str().unwrap())
        .replace(
            "\"/var/lib/syslog-ng\"",
            &format!("{:?}", tmp.path().to_str().unwrap()),
        );
    let conf = tmp.join("syslog-ng.conf");
    fs::write(
        &conf,
        format!("@version: 3.38\nsource s_src {{ internal(); }};\n{body}"),
    )
    .unwrap();
    let mut cmd = Command::new(&sng);
    syslog_ng_env(&mut cmd, &sng);
    cmd.arg("-s").arg("-f").arg(&conf);
    let out = run(cmd);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "syslog-ng -s:\n{}",
        text(&out)
    );
}

#[test]
fn vector_and_fluent_bit_snippets_point_at_redactd() {
    // Neither is packaged for Debian 12: structural checks only.
    let tcp = example_listener("app-tcp");
    let http = example_listener("es-bulk");
    assert_eq!(tcp["mode"].as_str(), Some("tcp"));
    assert_eq!(http["mode"].as_str(), Some("http"));
    let tcp_addr = tcp["listen"].as_str().unwrap();
    let http_addr = http["listen"].as_str().unwrap();

    // Fluent Bit, classic format: [SECTION] then `Key Value` lines.
    let fb = read(&deploy("integrations/fluent-bit/redactd.conf"));
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, l) in fb.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            sections.push((name.to_string(), BTreeMap::new()));
            continue;
        }
        assert!(
            l.starts_with("    "),
            "fluent-bit line {}: indented under a section",
            n + 1
        );
        let (k, v) = t
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("line {}: KEY VALUE", n + 1));
        let sec = &mut sections.last_mut().expect("a section first").1;
        assert!(
            sec.insert(k.to_ascii_lowercase(), v.trim().to_string())
                .is_none(),
            "line {}: duplicate key {k}",
            n + 1
        );
    }
    let outputs: BTreeMap<&str, &BTreeMap<String, String>> = sections
        .iter()
        .map(|(n, kv)| {
            assert_eq!(n, "OUTPUT");
            (kv["name"].as_str(), kv)
        })
        .collect();
    assert_eq!(outputs.keys().copied().collect::<Vec<_>>(), ["http", "tcp"]);
    for (name, addr) in [("tcp", tcp_addr), ("http", http_addr)] {
        let o = outputs[name];
        assert_eq!(
            format!("{}:{}", o["host"], o["port"]),
            addr,
            "fluent-bit {name}"
        );
        assert_eq!(
            o["format"], "json_lines",
            "fluent-bit {name}: one record a line"
        );
        assert!(o.contains_key("match"));
    }

    // Vector (YAML).
    let Some(docs) = yaml_docs(&deploy("integrations/vector/redactd.yaml")) else {
        return;
    };
    let sinks = docs[0]["sinks"].as_object().expect("sinks");
    let sock = &sinks["redactd_tcp"];
    assert_eq!(sock["type"], "socket");
    assert_eq!(sock["mode"], "tcp");
    assert_eq!(sock["address"], tcp_addr);
    assert_eq!(sock["framing"]["method"], "newline_delimited");
    let h = &sinks["redactd_http"];
    assert_eq!(h["type"], "http");
    assert!(
        s(h, "/uri").starts_with(&format!("http://{http_addr}/")),
        "{h}"
    );
    assert_eq!(h["framing"]["method"], "newline_delimited");
    for sink in sinks.values() {
        assert!(sink["inputs"].as_array().is_some_and(|v| !v.is_empty()));
        assert!(sink["encoding"]["codec"].is_string());
    }
}
