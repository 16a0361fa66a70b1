//! What running appset in a cluster needs besides the CRDs: a ServiceAccount, RBAC for exactly
//! the calls the controller makes, and a Deployment (`appset install`).
//!
//! Stage: packaging (pure: returns YAML text).

/// The ServiceAccount, ClusterRole, ClusterRoleBinding, Service and Deployment, as a YAML stream.
pub fn manifests(namespace: &str, image: &str, replicas: u32) -> String {
    TEMPLATE
        .replace("{namespace}", namespace)
        .replace("{image}", image)
        .replace("{replicas}", &replicas.to_string())
}

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
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, update]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
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
# Argo CD's known-hosts and TLS ConfigMaps, in appset's own namespace only.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: appset
  namespace: {namespace}
rules:
- apiGroups: [""]
  resources: [configmaps]
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
        args: [run, --leader-elect]
        env:
        - name: APPSET_CONTROLLER_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - {name: APPSET_GIT_CACHE, value: /var/cache/appset/git}
        - {name: HOME, value: /var/cache/appset}
        ports:
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
