//! What running appset in a cluster needs besides the CRDs: a ServiceAccount, RBAC for exactly
//! the calls the controller makes, and a Deployment (`appset install`).
//!
//! Stage: packaging (pure: returns YAML text).
//!
//! The Deployment reads Argo CD's `argocd-cmd-params-cm` exactly as Argo CD's own ApplicationSet
//! controller Deployment does ([`ARGO_CMD_PARAMS`]: the same keys into the same environment
//! variables, each optional), so an installation configured for Argo CD's controller configures
//! appset. Secrets are readable only in appset's namespace (Argo CD's cluster, repository and
//! GitHub App Secrets) and in the other namespaces it is told to serve (a generator's
//! `tokenRef`); AppProjects are read, never written.

/// Argo CD's `argocd-cmd-params-cm` keys and the environment variables its ApplicationSet
/// controller Deployment maps them to; appset reads the same variables (`appset run --help`).
pub const ARGO_CMD_PARAMS: [(&str, &str); 21] = [
    (
        "applicationsetcontroller.namespaces",
        "ARGOCD_APPLICATIONSET_CONTROLLER_NAMESPACES",
    ),
    (
        "applicationsetcontroller.policy",
        "ARGOCD_APPLICATIONSET_CONTROLLER_POLICY",
    ),
    (
        "applicationsetcontroller.enable.policy.override",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_POLICY_OVERRIDE",
    ),
    (
        "applicationsetcontroller.debug",
        "ARGOCD_APPLICATIONSET_CONTROLLER_DEBUG",
    ),
    (
        "applicationsetcontroller.log.format",
        "ARGOCD_APPLICATIONSET_CONTROLLER_LOGFORMAT",
    ),
    (
        "applicationsetcontroller.log.level",
        "ARGOCD_APPLICATIONSET_CONTROLLER_LOGLEVEL",
    ),
    (
        "applicationsetcontroller.dryrun",
        "ARGOCD_APPLICATIONSET_CONTROLLER_DRY_RUN",
    ),
    (
        "applicationsetcontroller.enable.leader.election",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_LEADER_ELECTION",
    ),
    (
        "applicationsetcontroller.global.preserved.annotations",
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_ANNOTATIONS",
    ),
    (
        "applicationsetcontroller.global.preserved.labels",
        "ARGOCD_APPLICATIONSET_CONTROLLER_GLOBAL_PRESERVED_LABELS",
    ),
    (
        "applicationsetcontroller.enable.tokenref.strict.mode",
        "ARGOCD_APPLICATIONSET_CONTROLLER_TOKENREF_STRICT_MODE",
    ),
    (
        "applicationsetcontroller.enable.new.git.file.globbing",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_NEW_GIT_FILE_GLOBBING",
    ),
    (
        "applicationsetcontroller.concurrent.reconciliations.max",
        "ARGOCD_APPLICATIONSET_CONTROLLER_CONCURRENT_RECONCILIATIONS",
    ),
    (
        "applicationsetcontroller.allowed.scm.providers",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ALLOWED_SCM_PROVIDERS",
    ),
    (
        "applicationsetcontroller.enable.scm.providers",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_SCM_PROVIDERS",
    ),
    (
        "applicationsetcontroller.enable.github.api.metrics",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_GITHUB_API_METRICS",
    ),
    (
        "applicationsetcontroller.webhook.parallelism.limit",
        "ARGOCD_APPLICATIONSET_CONTROLLER_WEBHOOK_PARALLELISM_LIMIT",
    ),
    (
        "applicationsetcontroller.requeue.after",
        "ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER",
    ),
    (
        "applicationsetcontroller.enable.progressive.syncs",
        "ARGOCD_APPLICATIONSET_CONTROLLER_ENABLE_PROGRESSIVE_SYNCS",
    ),
    (
        "applicationsetcontroller.status.max.resources.count",
        "ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT",
    ),
    (
        "reposerver.include.hidden.directories",
        "ARGOCD_REPO_SERVER_INCLUDE_HIDDEN_DIRECTORIES",
    ),
];

/// The ServiceAccount, RBAC, Service and Deployment, as a YAML stream. `served`: the other
/// namespaces whose ApplicationSets appset serves (exact names get a Role to read the Secrets a
/// `tokenRef` names there; globs and regexes need that Role granted by hand).
pub fn manifests(namespace: &str, image: &str, replicas: u32, served: &[String]) -> String {
    let mut env = String::new();
    for (key, var) in ARGO_CMD_PARAMS {
        env.push_str(&format!(
            "        - name: {var}\n          valueFrom: {{configMapKeyRef: {{name: argocd-cmd-params-cm, key: {key}, optional: true}}}}\n"
        ));
    }
    let served: Vec<&String> = served.iter().filter(|n| !n.is_empty()).collect();
    // One replica needs no Leases; more share the ApplicationSets by shard Leases (each
    // replica reconciles its fair share, and takes over a stopped replica's shards).
    let mut args = vec!["run".to_string()];
    if replicas > 1 {
        args.push("--shards=auto".into());
    }
    if !served.is_empty() {
        let list = served.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        args.push(format!("{:?}", format!("--applicationset-namespaces={list}")));
    }
    let args = format!("[{}]", args.join(", "));
    let mut out = TEMPLATE
        .replace("{namespace}", namespace)
        .replace("{image}", image)
        .replace("{replicas}", &replicas.to_string())
        .replace("{args}", &args)
        .replace("{argo_env}", &env);
    for ns in served {
        let exact = !(ns.contains(['*', '?', '[', '{']) || ns.starts_with('/') && ns.ends_with('/'));
        if exact && ns != namespace {
            out.push_str(
                &TOKEN_REF_ROLE
                    .replace("{served}", ns)
                    .replace("{namespace}", namespace),
            );
        }
    }
    out
}

/// Reading the Secrets a `tokenRef` names, in one served namespace.
const TOKEN_REF_ROLE: &str = r#"---
# Secrets named by tokenRef in ApplicationSets of {served}.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: appset-token-refs
  namespace: {served}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: appset-token-refs
  namespace: {served}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: appset-token-refs
subjects:
- kind: ServiceAccount
  name: appset
  namespace: {namespace}
"#;

const TEMPLATE: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: appset
  namespace: {namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: appset
rules:
- apiGroups: [argoproj.io]
  resources: [applicationsets]
  verbs: [get, list, watch, update, patch]
- apiGroups: [argoproj.io]
  resources: [applicationsets/status]
  verbs: [get, update, patch]
- apiGroups: [argoproj.io]
  resources: [applicationsets/finalizers]
  verbs: [update]
- apiGroups: [argoproj.io]
  resources: [applications]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [argoproj.io]
  resources: [appprojects]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, update]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, create, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: appset
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: appset
subjects:
- kind: ServiceAccount
  name: appset
  namespace: {namespace}
---
# Argo CD's cluster, repository and GitHub App Secrets and its known-hosts and TLS ConfigMaps,
# in appset's own namespace only.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: appset
  namespace: {namespace}
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: appset
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: appset
subjects:
- kind: ServiceAccount
  name: appset
  namespace: {namespace}
---
apiVersion: v1
kind: Service
metadata:
  name: appset
  namespace: {namespace}
  labels: {app.kubernetes.io/name: appset}
spec:
  selector: {app.kubernetes.io/name: appset}
  ports:
  - {name: http, port: 8080, targetPort: http}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: appset
  namespace: {namespace}
  labels: {app.kubernetes.io/name: appset}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {app.kubernetes.io/name: appset}
  template:
    metadata:
      labels: {app.kubernetes.io/name: appset}
    spec:
      serviceAccountName: appset
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: appset
        image: {image}
        args: {args}
        env:
        - name: APPSET_CONTROLLER_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - {name: APPSET_GIT_CACHE, value: /var/cache/appset/git}
        - {name: HOME, value: /var/cache/appset}
{argo_env}        ports:
        - {name: http, containerPort: 8080}
        livenessProbe:
          httpGet: {path: /healthz, port: http}
        readinessProbe:
          httpGet: {path: /readyz, port: http}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {memory: 512Mi}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: cache, mountPath: /var/cache/appset}
      volumes:
      - {name: cache, emptyDir: {}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replica_runs_without_leases_and_more_share_the_sets_by_shards() {
        let args = |replicas| {
            manifests("argocd", "registry.example.com/appset:1", replicas, &[])
                .lines()
                .find(|l| l.trim_start().starts_with("args:"))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(args(1), "args: [run]");
        assert_eq!(args(3), "args: [run, --shards=auto]");
    }
}
