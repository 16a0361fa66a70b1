//! The controller against a real control plane (etcd + kube-apiserver + kube-controller-manager,
//! built by `tests/control-plane/provision.sh`). Each test runs its own controller, restricted to
//! its own namespace, and talks to the API server like a user would.

mod harness;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use appset::{
    ApplicationSet,
    controller::{self, Config},
    plan::Policy,
};
use harness::{
    AuditedWrite, Replica, app_names, apps_api, audited_writes, counting_client, eventually, http_get,
    metric_value, setup,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn wait_names(client: &Client, ns: &str, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    if eventually(WAIT, || async { app_names(client, ns).await == want })
        .await
        .is_err()
    {
        let sets: Vec<String> = Api::<ApplicationSet>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .map(|s| format!("{}(finalizers={:?})", s.name_any(), s.finalizers()))
                    .collect()
            })
            .unwrap_or_default();
        panic!(
            "Applications in {ns}: {:?}, want {want:?}; ApplicationSets: {sets:?}",
            app_names(client, ns).await
        );
    }
}

/// A controller for one namespace; it stops when the handle is dropped.
struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start a controller and wait until its caches are filled (objects created from then on reach it
/// through its watches).
async fn start(client: Client, ns: &str, tweak: impl FnOnce(&mut Config)) -> Running {
    start_recording(client, ns, Default::default(), tweak).await
}

/// [`start`], recording into `metrics`.
async fn start_recording(
    client: Client,
    ns: &str,
    metrics: Arc<appset::metrics::Metrics>,
    tweak: impl FnOnce(&mut Config),
) -> Running {
    let mut config = Config {
        namespaces: vec![ns.to_string()],
        controller_namespace: ns.to_string(),
        git_cache_dir: std::env::temp_dir().join(format!("appset-controller-test-git-{ns}")),
        ..Config::default()
    };
    tweak(&mut config);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let running = Running(tokio::spawn(async move {
        if let Err(e) = controller::run_with(client, config, metrics, Some(tx)).await {
            panic!("controller: {e}");
        }
    }));
    tokio::time::timeout(WAIT, rx)
        .await
        .expect("controller ready in time")
        .expect("controller ready");
    running
}

fn list_appset(ns: &str, name: &str, elements: &[&str], extra_spec: Value) -> ApplicationSet {
    let mut spec = json!({
        "generators": [{"list": {"elements": elements.iter().map(|e| json!({"cluster": e})).collect::<Vec<_>>()}}],
        "template": {
            "metadata": {"name": "{{cluster}}-guestbook", "labels": {"team": "web"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook/{{cluster}}", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{cluster}}"}
            }
        }
    });
    if let (Value::Object(s), Value::Object(extra)) = (&mut spec, extra_spec) {
        s.extend(extra);
    }
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": ns}, "spec": spec
    }))
    .expect("appset")
}

/// An ApplicationSet with one `git` generator (`git`: its fields) and one Application per
/// parameter set, named and namespaced after `path.basename`.
fn git_dirs_appset(ns: &str, name: &str, git: Value) -> ApplicationSet {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "generators": [{"git": git}],
            "template": {
                "metadata": {"name": "{{path.basename}}"},
                "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{path.basename}}"}}
            }
        }
    }))
    .unwrap()
}

async fn create(client: &Client, set: &ApplicationSet) {
    let api: Api<ApplicationSet> = Api::namespaced(client.clone(), &set.namespace().unwrap());
    api.create(&PostParams::default(), set)
        .await
        .expect("create ApplicationSet");
}

async fn replace_spec(client: &Client, ns: &str, name: &str, set: &ApplicationSet) {
    let api: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let patch = json!({"spec": set.spec});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch ApplicationSet");
}

async fn condition(client: &Client, ns: &str, name: &str, type_: &str) -> Option<(String, String, String)> {
    let api: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let set = api.get(name).await.ok()?;
    set.status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, c.reason, c.message))
}

/// Wait until the set's `ResourcesUpToDate` condition is true.
async fn wait_up_to_date(client: &Client, ns: &str, name: &str) {
    eventually(WAIT, || async {
        condition(client, ns, name, "ResourcesUpToDate")
            .await
            .is_some_and(|c| c.0 == "True")
    })
    .await
    .expect("ResourcesUpToDate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_are_created_updated_and_pruned_with_owner_references_and_status() {
    let ns = "ctl-basic";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    create(
        &client,
        &list_appset(ns, "guestbook", &["dev", "prod"], json!({})),
    )
    .await;
    wait_names(&client, ns, &["dev-guestbook", "prod-guestbook"]).await;

    let app = apps_api(&client, ns).get("dev-guestbook").await.unwrap();
    let owner = &app.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ApplicationSet", "guestbook", Some(true))
    );
    assert_eq!(app.finalizers(), ["resources-finalizer.argocd.argoproj.io"]);
    assert_eq!(app.data["spec"]["source"]["path"], "guestbook/dev");
    assert!(
        app.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some("appset") && m.operation.as_deref() == Some("Apply")),
        "written by server-side apply under the appset field manager"
    );
    eventually(WAIT, || async {
        condition(&client, ns, "guestbook", "ResourcesUpToDate").await
            == Some((
                "True".into(),
                "ApplicationSetUpToDate".into(),
                "All applications have been generated successfully".into(),
            ))
    })
    .await
    .expect("ResourcesUpToDate");
    let status = Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .get("guestbook")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(status.resources_count, Some(2));
    assert_eq!(
        status
            .resources
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["dev-guestbook", "prod-guestbook"]
    );

    // Update: a changed template path; prune: prod is no longer generated; create: staging.
    let mut next = list_appset(ns, "guestbook", &["dev", "staging"], json!({}));
    next.spec.template.spec.source.as_mut().unwrap().path = Some("apps/{{cluster}}".into());
    replace_spec(&client, ns, "guestbook", &next).await;
    wait_names(&client, ns, &["dev-guestbook", "staging-guestbook"]).await;
    eventually(WAIT, || async {
        apps_api(&client, ns)
            .get("dev-guestbook")
            .await
            .is_ok_and(|a| a.data["spec"]["source"]["path"] == "apps/dev")
    })
    .await
    .expect("dev-guestbook updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_that_finds_everything_up_to_date_sends_no_write_request() {
    let ns = "ctl-quiet";
    let client = setup(ns).await;
    let writes = Arc::new(AtomicU64::new(0));
    let counted = counting_client(writes.clone()).await;
    let _controller = start(counted, ns, |_| {}).await;
    create(&client, &list_appset(ns, "quiet", &["a", "b", "c"], json!({}))).await;
    wait_names(&client, ns, &["a-guestbook", "b-guestbook", "c-guestbook"]).await;
    wait_up_to_date(&client, ns, "quiet").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = writes.load(Ordering::SeqCst);
    assert!(settled > 0, "the first reconcile wrote");
    // Trigger reconciles without changing anything the controller generates: an annotation on
    // the ApplicationSet (reconciles it) and a status-only change on an Application (ignored).
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    sets.patch(
        "quiet",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
    )
    .await
    .unwrap();
    // Through the main resource, as Argo CD's application controller writes status (Argo CD's
    // Application CRD, and appset's, have no status subresource).
    apps_api(&client, ns)
        .patch(
            "a-guestbook",
            &PatchParams::default(),
            // A status field appset does not report (sync and health status do appear in the
            // ApplicationSet's status.resources, so changing them legitimately writes).
            &Patch::Merge(&json!({"status": {"reconciledAt": "2026-11-22T00:00:00Z"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        writes.load(Ordering::SeqCst),
        settled,
        "a no-op reconcile writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_decide_which_writes_happen() {
    let ns = "ctl-policy";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    for policy in ["create-only", "create-update", "create-delete", "sync"] {
        let name = format!("p-{policy}");
        let elements = [format!("{policy}-a"), format!("{policy}-b")];
        let e: Vec<&str> = elements.iter().map(String::as_str).collect();
        let mut set = list_appset(ns, &name, &e, json!({"syncPolicy": {"applicationsSync": policy}}));
        set.spec.template.metadata.name = Some("{{cluster}}".into());
        create(&client, &set).await;
    }
    wait_names(
        &client,
        ns,
        &[
            "create-delete-a",
            "create-delete-b",
            "create-only-a",
            "create-only-b",
            "create-update-a",
            "create-update-b",
            "sync-a",
            "sync-b",
        ],
    )
    .await;
    // Change every set: drop element b and change the path of a.
    for policy in ["create-only", "create-update", "create-delete", "sync"] {
        let name = format!("p-{policy}");
        let a = format!("{policy}-a");
        let mut set = list_appset(
            ns,
            &name,
            &[&a],
            json!({"syncPolicy": {"applicationsSync": policy}}),
        );
        set.spec.template.metadata.name = Some("{{cluster}}".into());
        set.spec.template.spec.source.as_mut().unwrap().path = Some("changed/{{cluster}}".into());
        replace_spec(&client, ns, &name, &set).await;
    }
    // Deleting policies prune b; updating policies change a's path.
    wait_names(
        &client,
        ns,
        &[
            "create-delete-a",
            "create-only-a",
            "create-only-b",
            "create-update-a",
            "create-update-b",
            "sync-a",
        ],
    )
    .await;
    let path = |name: &'static str| {
        let client = client.clone();
        async move {
            apps_api(&client, ns).get(name).await.unwrap().data["spec"]["source"]["path"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    eventually(WAIT, || async {
        path("sync-a").await == "changed/sync-a" && path("create-update-a").await == "changed/create-update-a"
    })
    .await
    .expect("updates under sync and create-update");
    assert_eq!(path("create-only-a").await, "guestbook/create-only-a");
    assert_eq!(path("create-delete-a").await, "guestbook/create-delete-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_resources_on_deletion_adds_no_resources_finalizer() {
    let ns = "ctl-preserve";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    create(
        &client,
        &list_appset(
            ns,
            "keep",
            &["x"],
            json!({"syncPolicy": {"preserveResourcesOnDeletion": true}}),
        ),
    )
    .await;
    wait_names(&client, ns, &["x-guestbook"]).await;
    assert!(
        apps_api(&client, ns)
            .get("x-guestbook")
            .await
            .unwrap()
            .finalizers()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_application_set_garbage_collects_its_applications_or_releases_them() {
    let ns = "ctl-delete";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    create(&client, &list_appset(ns, "gc", &["gc1"], json!({}))).await;
    create(
        &client,
        &list_appset(
            ns,
            "rel",
            &["rel1"],
            json!({"syncPolicy": {"applicationsSync": "create-update"}}),
        ),
    )
    .await;
    // preserveResourcesOnDeletion keeps the workloads (no resources finalizer), not the
    // Application: garbage collection deletes it with the set, as Argo CD does.
    create(
        &client,
        &list_appset(
            ns,
            "pres",
            &["pres1"],
            json!({"syncPolicy": {"preserveResourcesOnDeletion": true}}),
        ),
    )
    .await;
    wait_names(
        &client,
        ns,
        &["gc1-guestbook", "pres1-guestbook", "rel1-guestbook"],
    )
    .await;
    // Our finalizer is on the sets.
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    eventually(WAIT, || async {
        sets.get("rel")
            .await
            .is_ok_and(|s| s.finalizers().contains(&controller::FINALIZER.to_string()))
    })
    .await
    .expect("finalizer added");
    sets.delete("gc", &DeleteParams::default()).await.unwrap();
    sets.delete("rel", &DeleteParams::default()).await.unwrap();
    sets.delete("pres", &DeleteParams::default()).await.unwrap();
    // gc1: sync policy → garbage collection deletes it (it then waits on Argo CD's resources
    // finalizer, terminating). pres1: deleted, and gone for good (no resources finalizer).
    // rel1: create-update → released, kept, without the ownerReference; as Argo CD, its
    // resources finalizer stays (it only matters if someone deletes the Application later).
    wait_names(&client, ns, &["rel1-guestbook"]).await;
    let kept = apps_api(&client, ns).get("rel1-guestbook").await.unwrap();
    assert!(kept.owner_references().is_empty());
    assert!(
        kept.finalizers()
            .contains(&"resources-finalizer.argocd.argoproj.io".to_string())
    );
    eventually(WAIT, || async {
        sets.get("rel").await.is_err()
            && sets.get("gc").await.is_err()
            && sets.get("pres").await.is_err()
            && apps_api(&client, ns).get("pres1-guestbook").await.is_err()
    })
    .await
    .expect("sets gone");
    // Released for good: still there a moment later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app_names(&client, ns).await, ["rel1-guestbook"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_error_writes_nothing_and_keeps_the_applications() {
    let ns = "ctl-failclosed";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    create(&client, &list_appset(ns, "fc", &["one", "two"], json!({}))).await;
    wait_names(&client, ns, &["one-guestbook", "two-guestbook"]).await;
    // A matrix whose second child is a git repository that does not exist: generation fails.
    let mut broken = list_appset(ns, "fc", &["one"], json!({}));
    broken.spec.generators = serde_json::from_value(json!([{"matrix": {"generators": [
        {"list": {"elements": [{"cluster": "one"}]}},
        {"git": {"repoURL": "file:///nonexistent/repo.git", "directories": [{"path": "*"}]}}
    ]}}]))
    .unwrap();
    replace_spec(&client, ns, "fc", &broken).await;
    eventually(WAIT, || async {
        condition(&client, ns, "fc", "ErrorOccurred")
            .await
            .is_some_and(|c| {
                c.0 == "True" && c.1 == "ApplicationGenerationFromParamsError" && c.2.contains("nonexistent")
            })
    })
    .await
    .expect("ErrorOccurred with the generator's error");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        app_names(&client, ns).await,
        ["one-guestbook", "two-guestbook"],
        "nothing deleted on error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_budget_withholds_mass_deletion() {
    let ns = "ctl-budget";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |c| c.max_deletes = Some(1)).await;
    create(&client, &list_appset(ns, "b", &["a1", "a2", "a3"], json!({}))).await;
    wait_names(&client, ns, &["a1-guestbook", "a2-guestbook", "a3-guestbook"]).await;
    replace_spec(&client, ns, "b", &list_appset(ns, "b", &["a1"], json!({}))).await;
    eventually(WAIT, || async {
        condition(&client, ns, "b", "ErrorOccurred")
            .await
            .is_some_and(|c| c.1 == "DeleteBudgetExceeded")
    })
    .await
    .expect("budget condition");
    assert_eq!(
        app_names(&client, ns).await.len(),
        3,
        "two deletes exceed a budget of one"
    );
    // Within budget: dropping one more element at a time is fine once the annotation allows it.
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    sets.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {"appset.io/max-deletes": "2"}}})),
    )
    .await
    .unwrap();
    wait_names(&client, ns, &["a1-guestbook"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_secret_added_and_removed_adds_and_prunes_its_application() {
    let ns = "ctl-clusters";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    let mut set = list_appset(ns, "fleet", &[], json!({}));
    set.spec.generators =
        serde_json::from_value(json!([{"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}]))
            .unwrap();
    set.spec.template.metadata.name = Some("{{name}}-app".into());
    set.spec.template.spec.destination.as_mut().unwrap().server = Some("{{server}}".into());
    create(&client, &set).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let secret = |name: &str| -> k8s_openapi::api::core::v1::Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"argocd.argoproj.io/secret-type": "cluster", "env": "prod"}},
            "stringData": {"name": name, "server": format!("https://{name}.example.com")}
        }))
        .unwrap()
    };
    secrets
        .create(&PostParams::default(), &secret("east"))
        .await
        .unwrap();
    wait_names(&client, ns, &["east-app"]).await;
    secrets
        .create(&PostParams::default(), &secret("west"))
        .await
        .unwrap();
    wait_names(&client, ns, &["east-app", "west-app"]).await;
    secrets.delete("east", &DeleteParams::default()).await.unwrap();
    wait_names(&client, ns, &["west-app"]).await;
    // Its cluster is gone, so Argo CD's application controller could never delete its resources:
    // the resources finalizer is removed first (Argo CD's removeFinalizerOnInvalidDestination) and
    // the Application is really gone, not left terminating forever.
    eventually(WAIT, || async {
        apps_api(&client, ns).get("east-app").await.is_err()
    })
    .await
    .expect("east-app deleted without hanging on its finalizer");
    assert!(
        apps_api(&client, ns)
            .get("west-app")
            .await
            .unwrap()
            .finalizers()
            .contains(&"resources-finalizer.argocd.argoproj.io".to_string()),
        "a valid destination keeps the finalizer"
    );

    // Destinations are validated against the known clusters: an Application sent to a cluster
    // nobody registered is not created, and the set says why.
    let mut stray = list_appset(ns, "stray", &["lost"], json!({}));
    stray.spec.template.spec.destination.as_mut().unwrap().server =
        Some("https://nowhere.example.com".into());
    create(&client, &stray).await;
    eventually(WAIT, || async {
        condition(&client, ns, "stray", "ErrorOccurred").await.is_some_and(|c| {
            c.0 == "True"
                && c.1 == "ApplicationValidationError"
                && c.2.contains(
                    "application destination spec is invalid: error getting cluster by server \"https://nowhere.example.com\"",
                )
        })
    })
    .await
    .expect("validation condition");
    assert_eq!(app_names(&client, ns).await, ["west-app"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_application_is_recreated_and_an_edited_one_is_restored() {
    let ns = "ctl-drift";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    create(
        &client,
        &list_appset(
            ns,
            "d",
            &["x"],
            json!({"syncPolicy": {"preserveResourcesOnDeletion": true}}),
        ),
    )
    .await;
    wait_names(&client, ns, &["x-guestbook"]).await;
    let apps = apps_api(&client, ns);
    apps.patch(
        "x-guestbook",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"source": {"path": "hand-edited"}}})),
    )
    .await
    .unwrap();
    eventually(WAIT, || async {
        apps.get("x-guestbook")
            .await
            .is_ok_and(|a| a.data["spec"]["source"]["path"] == "guestbook/x")
    })
    .await
    .expect("edit reverted");
    let uid = apps.get("x-guestbook").await.unwrap().uid();
    apps.delete("x-guestbook", &DeleteParams::default())
        .await
        .unwrap();
    eventually(WAIT, || async {
        apps.get("x-guestbook").await.is_ok_and(|a| a.uid() != uid)
    })
    .await
    .expect("recreated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_converges_without_duplicates() {
    let ns = "ctl-restart";
    let client = setup(ns).await;
    let first = start(client.clone(), ns, |c| c.policy = Policy::Sync).await;
    create(&client, &list_appset(ns, "r", &["a", "b"], json!({}))).await;
    wait_names(&client, ns, &["a-guestbook", "b-guestbook"]).await;
    drop(first);
    replace_spec(&client, ns, "r", &list_appset(ns, "r", &["b", "c"], json!({}))).await;
    let _second = start(client.clone(), ns, |_| {}).await;
    wait_names(&client, ns, &["b-guestbook", "c-guestbook"]).await;
}

/// Argo CD's application controller, as far as these tests need it: it removes the resources
/// finalizer from Applications being deleted (after deleting their resources, of which there are
/// none here). Runs until dropped.
fn fake_argo_application_controller(client: Client, ns: &str) -> Running {
    let apps = apps_api(&client, ns);
    Running(tokio::spawn(async move {
        loop {
            if let Ok(list) = apps.list(&ListParams::default()).await {
                for a in list
                    .items
                    .iter()
                    .filter(|a| a.metadata.deletion_timestamp.is_some())
                {
                    let remaining: Vec<&String> = a
                        .finalizers()
                        .iter()
                        .filter(|f| !f.starts_with("resources-finalizer.argocd.argoproj.io"))
                        .collect();
                    let _ = apps
                        .patch(
                            &a.name_any(),
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"metadata": {"finalizers": remaining}})),
                        )
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
}

/// The preview-environment lifecycle end to end: a labelled PR gets an Application; a draft or
/// unlabelled PR does not; closing the PR deletes the Application through Argo CD's resources
/// finalizer; GitHub answering 500 deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_previews_follow_the_pull_requests_and_survive_github_errors() {
    use harness::github_server::{Mode, Server, pull};
    let ns = "ctl-previews";
    let client = setup(ns).await;
    let github = Server::start().await;
    github.add_repo(
        "example",
        "shop",
        vec![pull(1, "feature/one", "main", &["preview"], false)],
    );
    let _argo = fake_argo_application_controller(client.clone(), ns);
    let _controller = start(client.clone(), ns, |c| c.github_max_age = Duration::ZERO).await;
    let set: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "previews", "namespace": ns},
        "spec": {
            "generators": [{"pullRequest": {
                "github": {"owner": "example", "repo": "shop", "api": github.base, "labels": ["preview"], "ignoreDraft": true},
                "requeueAfterSeconds": 1
            }}],
            "template": {
                "metadata": {"name": "pr-{{number}}-preview", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/example/shop.git", "targetRevision": "refs/pull/{{number}}/head", "path": "deploy"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "pr-{{number}}"},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}
                }
            }
        }
    }))
    .unwrap();
    create(&client, &set).await;
    wait_names(&client, ns, &["pr-1-preview"]).await;
    assert_eq!(
        apps_api(&client, ns).get("pr-1-preview").await.unwrap().data["spec"]["source"]["targetRevision"],
        "refs/pull/1/head"
    );

    // PR 2 opens as a draft (ignored), PR 3 without the label (ignored), PR 4 labelled.
    github.edit_pulls("example", "shop", |p| {
        p.push(pull(2, "feature/two", "main", &["preview"], true));
        p.push(pull(3, "feature/three", "main", &[], false));
        p.push(pull(4, "feature/four", "main", &["preview"], false));
    });
    wait_names(&client, ns, &["pr-1-preview", "pr-4-preview"]).await;

    // GitHub fails: nothing is deleted, the error is on the status.
    github.set_mode("example", "shop", Mode::ServerError);
    eventually(WAIT, || async {
        condition(&client, ns, "previews", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True" && c.2.contains("HTTP 500"))
    })
    .await
    .expect("ErrorOccurred while GitHub answers 500");
    assert_eq!(app_names(&client, ns).await, ["pr-1-preview", "pr-4-preview"]);

    // GitHub recovers; the draft is marked ready and PR 1 closes.
    github.set_mode("example", "shop", Mode::Ok);
    github.edit_pulls("example", "shop", |p| {
        p.retain(|x| x["number"] != 1);
        for x in p.iter_mut().filter(|x| x["number"] == 2) {
            x["draft"] = json!(false);
        }
    });
    wait_names(&client, ns, &["pr-2-preview", "pr-4-preview"]).await;
    // PR 1's Application went through the resources-finalizer path and is gone for good.
    eventually(WAIT, || async {
        apps_api(&client, ns).get("pr-1-preview").await.is_err()
    })
    .await
    .expect("pr-1 deleted");
    eventually(WAIT, || async {
        condition(&client, ns, "previews", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "False")
    })
    .await
    .expect("error cleared");
}

/// Argo CD's metrics after the reconcile of a pull-request set: its info (`ResourcesUpToDate`'s
/// reason), owned Applications, labels (with `--metrics-applicationset-labels`), reconcile
/// histogram and the GitHub requests made for it, labelled with it; its series go when it is
/// deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_metrics_report_the_set_its_reconciles_and_its_github_requests() {
    use harness::github_server::{Server, pull};
    let ns = "ctl-metrics";
    let client = setup(ns).await;
    let github = Server::start().await;
    github.add_repo(
        "example",
        "shop",
        vec![
            pull(1, "feature/one", "main", &[], false),
            pull(2, "feature/two", "main", &[], false),
        ],
    );
    let metrics = Arc::new(appset::metrics::Metrics::default());
    let _controller = start_recording(client.clone(), ns, metrics.clone(), |c| {
        c.github_max_age = Duration::ZERO;
        c.metrics_applicationset_labels = vec!["team".into(), "app.kubernetes.io/part-of".into()];
    })
    .await;
    let set: ApplicationSet = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "previews", "namespace": ns, "labels": {"team": "web"}},
        "spec": {
            "generators": [{"pullRequest": {"github": {"owner": "example", "repo": "shop", "api": github.base}}}],
            "syncPolicy": {"preserveResourcesOnDeletion": true},
            "template": {
                "metadata": {"name": "pr-{{number}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/example/shop.git", "targetRevision": "{{head_sha}}", "path": "deploy"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "pr-{{number}}"}
                }
            }
        }
    }))
    .unwrap();
    create(&client, &set).await;
    wait_names(&client, ns, &["pr-1", "pr-2"]).await;
    // The status the reconcile wrote reaches the controller's cache, which the families read.
    let owned = format!(r#"argocd_appset_owned_applications{{namespace="{ns}",name="previews"}} 2"#);
    let info = format!(
        r#"argocd_appset_info{{namespace="{ns}",name="previews",resource_update_status="ApplicationSetUpToDate"}} 1"#
    );
    if eventually(WAIT, || async {
        let text = metrics.encode();
        text.contains(&owned) && text.contains(&info)
    })
    .await
    .is_err()
    {
        panic!("want {owned} and {info} in:\n{}", metrics.encode());
    }
    let text = metrics.encode();
    let has_line_starting = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    assert!(
        text.contains(&format!(
            r#"argocd_appset_labels{{namespace="{ns}",name="previews",label_team="web",label_app_kubernetes_io_part_of=""}} 1"#
        )),
        "{text}"
    );
    assert!(
        has_line_starting(&format!(
            r#"argocd_appset_reconcile_count{{namespace="{ns}",name="previews"}} "#
        )),
        "{text}"
    );
    assert!(
        has_line_starting(&format!(
            r#"argocd_github_api_requests_total{{method="GET",endpoint="/repos/example/shop/pulls",status="200",appset_namespace="{ns}",appset_name="previews"}} "#
        )),
        "{text}"
    );
    assert!(
        has_line_starting(&format!(
            r#"argocd_github_api_request_duration_seconds_count{{method="GET",endpoint="/repos/example/shop/pulls",appset_namespace="{ns}",appset_name="previews"}} "#
        )),
        "{text}"
    );
    // The harness server answers with X-RateLimit-Remaining 4999 and no X-RateLimit-Resource.
    assert!(
        text.contains(&format!(
            r#"argocd_github_api_rate_limit_remaining{{endpoint="/repos/example/shop/pulls",appset_namespace="{ns}",appset_name="previews",resource=""}} 4999"#
        )),
        "{text}"
    );

    // Deleted (its Applications are released): the set's Argo CD families go with it.
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .delete("previews", &DeleteParams::default())
        .await
        .unwrap();
    let of_the_set = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("argocd_appset_") && l.contains(r#"name="previews""#))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if eventually(WAIT, || async { of_the_set(&metrics.encode()).is_empty() })
        .await
        .is_err()
    {
        panic!("series left: {:?}", of_the_set(&metrics.encode()));
    }
}

/// A git server that stops answering: the error goes on the status and nothing is deleted; when it
/// returns, the next poll picks up what changed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_server_that_stops_answering_deletes_nothing_and_recovery_resumes() {
    let ns = "ctl-gitdown";
    let client = setup(ns).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("gitops");
    harness::git::init_with_dirs(&repo, &["apps/api", "apps/web"]);
    let server = harness::git::GitDaemon::start(dir.path());
    let port = server.port;
    let _controller = start(client.clone(), ns, |_| {}).await;
    let set = git_dirs_appset(
        ns,
        "dirs",
        json!({"repoURL": format!("git://127.0.0.1:{port}/gitops"), "directories": [{"path": "apps/*"}], "requeueAfterSeconds": 1}),
    );
    create(&client, &set).await;
    wait_names(&client, ns, &["api", "web"]).await;

    drop(server);
    eventually(WAIT, || async {
        condition(&client, ns, "dirs", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True" && c.2.contains("127.0.0.1"))
    })
    .await
    .expect("ErrorOccurred while git is down");
    // While the server is down, web is removed from the repository and new is added; the
    // controller keeps polling (every second), failing, and deletes nothing.
    std::fs::remove_dir_all(repo.join("apps/web")).unwrap();
    harness::git::commit_dirs(&repo, &["apps/new"], "web out, new in");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        app_names(&client, ns).await,
        ["api", "web"],
        "nothing deleted while the source is unreachable"
    );

    let _server = harness::git::GitDaemon::start_on(dir.path(), port);
    wait_names(&client, ns, &["api", "new"]).await;
    eventually(WAIT, || async {
        condition(&client, ns, "dirs", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "False")
    })
    .await
    .expect("error cleared after recovery");
}

fn replica(ns: &str, identity: &str) -> Replica {
    replica_with(ns, identity, &["--leader-elect"])
}

/// A replica (`appset run` as a process) in `ns` of the shared control plane with `args`, Leases
/// of 3 s.
fn replica_with(ns: &str, identity: &str, args: &[&str]) -> Replica {
    harness::replica(&harness::control_plane().kubeconfig, ns, identity, args)
}

fn reconciles(port: u16) -> Option<u64> {
    let (_, body) = http_get(port, "/metrics")?;
    metric_value(&body, "appset_reconciles_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_that_writes_and_the_standby_takes_over() {
    let ns = "ctl-leader";
    let client = setup(ns).await;
    let a = replica(ns, "replica-a");
    let b = replica(ns, "replica-b");
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), ns);
    let holder = || async {
        leases
            .get("appset-controller")
            .await
            .ok()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    eventually(WAIT, || async { holder().await.is_some() })
        .await
        .expect("a leader");
    let leader = holder().await.unwrap();
    let (mut leading, standby) = if leader == "replica-a" {
        (Some(a), b)
    } else {
        (Some(b), a)
    };
    let leader_port = leading.as_ref().unwrap().port;
    eventually(WAIT, || async {
        http_get(leader_port, "/readyz").is_some_and(|(c, _)| c == 200)
    })
    .await
    .expect("leader ready");
    // The standby may still be starting (the replicas start one after the other).
    eventually(WAIT, || async {
        http_get(standby.port, "/healthz").is_some_and(|(c, _)| c == 200)
    })
    .await
    .expect("the standby serves its health endpoint");

    create(&client, &list_appset(ns, "led", &["one"], json!({}))).await;
    wait_names(&client, ns, &["one-guestbook"]).await;
    // The Application appears while the reconcile that created it is still running (status,
    // Events); the reconcile is counted when it ends.
    eventually(WAIT, || async { reconciles(leader_port).unwrap_or(0) > 0 })
        .await
        .expect("the leader reconciles");
    assert_eq!(reconciles(standby.port), Some(0), "the standby writes nothing");

    // The leader dies; the standby takes the Lease when it expires and carries on.
    drop(leading.take());
    let standby_id = if leader == "replica-a" {
        "replica-b"
    } else {
        "replica-a"
    };
    eventually(Duration::from_secs(30), || async {
        holder().await.as_deref() == Some(standby_id)
    })
    .await
    .expect("the standby takes over");
    replace_spec(
        &client,
        ns,
        "led",
        &list_appset(ns, "led", &["one", "two"], json!({})),
    )
    .await;
    wait_names(&client, ns, &["one-guestbook", "two-guestbook"]).await;
    // As for the leader above: the reconcile is counted when it ends, after its writes.
    eventually(WAIT, || async { reconciles(standby.port).unwrap_or(0) > 0 })
        .await
        .expect("the new leader counts its reconcile");
}

/// The shard Leases of `ns` per live holder.
async fn shard_holders(client: &Client, ns: &str) -> std::collections::BTreeMap<String, usize> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), ns);
    let mut held = std::collections::BTreeMap::new();
    for l in leases
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if l.name_any().starts_with("appset-controller-shard-")
            && let Some(h) = l.spec.and_then(|s| s.holder_identity)
        {
            *held.entry(h).or_default() += 1;
        }
    }
    held
}

/// Applications per set of the sharding test: enough that applying a change, one write at a
/// time, takes long enough for a handover to fall in the middle of it.
const PER_SET: usize = 40;

/// A set of [`PER_SET`] Applications `<set>-app-<i>` at revision `rev`.
fn revision_set(ns: &str, set: &str, rev: &str) -> ApplicationSet {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": set, "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": (0..PER_SET).map(|i| json!({"set": set, "i": i.to_string(), "rev": rev})).collect::<Vec<_>>()}}],
            "template": {
                "metadata": {"name": "{{set}}-app-{{i}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook", "targetRevision": "{{rev}}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{set}}"}
                }
            }
        }
    }))
    .unwrap()
}

/// Each Application's targetRevision, by name.
async fn revisions(client: &Client, ns: &str) -> std::collections::BTreeMap<String, String> {
    apps_api(client, ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            let rev = a.data["spec"]["source"]["targetRevision"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (a.name_any(), rev)
        })
        .collect()
}

/// Three replicas share 6 shards of 12 ApplicationSets while the sets are edited without pause
/// (each edit rewrites a set's 40 Applications, one write at a time):
/// a replica joins (shards move to it), another joins, the first is killed (its shards move
/// when their Leases expire). Every edit ends up applied, and the API server's audit log shows
/// that every replica wrote, and that for each set the writes of one replica never overlap in
/// time with another's: a handover waits for the reconciles in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_replicas_hand_sets_over_without_two_ever_writing_one_set() {
    let ns = "ctl-shards";
    let client = setup(ns).await;
    let sets: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    for set in &sets {
        create(&client, &revision_set(ns, set, "r0")).await;
    }
    // One write at a time: a set's change takes a while to apply, so replicas come and go in the
    // middle of reconciles.
    let shards = ["--shards", "auto:6", "--concurrent-application-updates", "1"];
    let mut a = Some(replica_with(ns, "shard-a", &shards));
    eventually(Duration::from_secs(60), || async {
        let revs = revisions(&client, ns).await;
        revs.len() == 12 * PER_SET && revs.values().all(|r| r == "r0")
    })
    .await
    .expect("replica a alone creates every Application");
    assert_eq!(
        shard_holders(&client, ns).await,
        [("shard-a".to_string(), 6)].into()
    );

    // Edits, one set after another, for as long as the replicas come and go.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let editor = tokio::spawn({
        let (client, sets, stop) = (client.clone(), sets.clone(), stop.clone());
        async move {
            let api: Api<ApplicationSet> = Api::namespaced(client, ns);
            let mut last = std::collections::BTreeMap::new();
            for k in 1..=2000u32 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let set = &sets[k as usize % sets.len()];
                let rev = format!("r{k}");
                let patch = json!({"spec": revision_set(ns, set, &rev).spec});
                if api
                    .patch(set, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .is_ok()
                {
                    last.insert(set.clone(), rev);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            last
        }
    });
    let b = replica_with(ns, "shard-b", &shards);
    eventually(Duration::from_secs(30), || async {
        shard_holders(&client, ns).await == [("shard-a".to_string(), 3), ("shard-b".to_string(), 3)].into()
    })
    .await
    .expect("b takes half of the shards");
    let c = replica_with(ns, "shard-c", &shards);
    eventually(Duration::from_secs(30), || async {
        shard_holders(&client, ns).await
            == [
                ("shard-a".to_string(), 2),
                ("shard-b".to_string(), 2),
                ("shard-c".to_string(), 2),
            ]
            .into()
    })
    .await
    .expect("c takes a third of the shards");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // kill -9: a's Leases stay until they expire, then b and c take them.
    drop(a.take());
    eventually(Duration::from_secs(30), || async {
        shard_holders(&client, ns).await == [("shard-b".to_string(), 3), ("shard-c".to_string(), 3)].into()
    })
    .await
    .expect("b and c take a's shards");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let last = editor.await.unwrap();
    assert!(last.len() == 12, "every set was edited: {last:?}");
    let want: std::collections::BTreeMap<String, String> = last
        .iter()
        .flat_map(|(set, rev)| (0..PER_SET).map(move |i| (format!("{set}-app-{i}"), rev.clone())))
        .collect();
    if eventually(Duration::from_secs(60), || async {
        revisions(&client, ns).await == want
    })
    .await
    .is_err()
    {
        panic!(
            "every last edit applied: want {want:?}, have {:?}",
            revisions(&client, ns).await
        );
    }

    // Metrics: b reports its shards and the sets of each.
    let (_, body) = http_get(b.port, "/metrics").expect("metrics");
    assert_eq!(metric_value(&body, "appset_shards_held"), Some(3), "{body}");
    let per_shard: u64 = body
        .lines()
        .filter(|l| l.starts_with("appset_shard_applicationsets{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(per_shard, 12, "{body}");
    drop(c);

    // The audit log: who wrote which set, when.
    let writes: Vec<AuditedWrite> = audited_writes(&harness::control_plane().audit_log(), ns)
        .into_iter()
        .filter(|w| w.writer.starts_with("shard-"))
        .collect();
    let set_of = |w: &AuditedWrite| -> String {
        match w.resource.as_str() {
            "applications" => w.name.split("-app-").next().unwrap_or_default().to_string(),
            _ => w.name.clone(),
        }
    };
    let writers: std::collections::BTreeSet<&str> = writes.iter().map(|w| w.writer.as_str()).collect();
    assert_eq!(
        writers,
        ["shard-a", "shard-b", "shard-c"].into(),
        "every replica wrote"
    );
    assert!(
        !writes
            .iter()
            .any(|w| w.resource == "applications" && w.verb == "delete"),
        "no Application was deleted"
    );
    let mut handovers = 0;
    for set in &sets {
        let mine: Vec<&AuditedWrite> = writes.iter().filter(|w| &set_of(w) == set).collect();
        // Runs of one writer, in the order the API server received the writes: a run ends
        // before the next one starts.
        let mut runs: Vec<(&str, jiff::Timestamp, jiff::Timestamp)> = Vec::new();
        for w in mine {
            match runs.last_mut() {
                Some((writer, _, end)) if *writer == w.writer => *end = (*end).max(w.end),
                _ => runs.push((&w.writer, w.start, w.end)),
            }
        }
        for pair in runs.windows(2) {
            let ((x, _, x_end), (y, y_start, _)) = (pair[0], pair[1]);
            assert!(
                x_end <= y_start,
                "{set}: {x} was still writing ({x_end}) when {y} started ({y_start}); runs: {runs:?}"
            );
        }
        handovers += runs.len().saturating_sub(1);
    }
    assert!(
        handovers >= 6,
        "sets moved between replicas: {handovers} handovers"
    );

    // The killed replica's membership Lease is removed once it has been expired a while.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), ns);
    eventually(Duration::from_secs(40), || async {
        leases
            .get_opt("appset-controller-member-shard-a")
            .await
            .is_ok_and(|l| l.is_none())
    })
    .await
    .expect("a's membership removed");
}

/// The cached Applications of the replica serving `port` (`appset_cached_applications`).
fn cached(port: u16) -> Option<u64> {
    let (_, body) = http_get(port, "/metrics")?;
    metric_value(&body, "appset_cached_applications")
}

/// The Applications of the sets of the shards the replica serving `port` holds, from its
/// `appset_shard_applicationsets{held="true"}` series.
fn held_share(port: u16) -> Option<u64> {
    let (_, body) = http_get(port, "/metrics")?;
    let sets: u64 = body
        .lines()
        .filter(|l| l.starts_with("appset_shard_applicationsets{") && l.contains("held=\"true\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    Some(sets * PER_SET as u64)
}

/// A sharded replica caches only the Applications of the sets of the shards it holds: when a
/// second replica joins, each one's cache is its share (the first one's shrinks). A running
/// replica that takes shards over (the other one killed) writes nothing, since it reconciles
/// their sets only once its cache has their Applications (were it to plan against a cache
/// without them, it would apply all of them again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_replica_caches_only_its_share_and_takes_sets_over_without_a_write() {
    let ns = "ctl-shard-cache";
    let client = setup(ns).await;
    let sets: Vec<String> = (0..8).map(|i| format!("c{i:02}")).collect();
    for set in &sets {
        create(&client, &revision_set(ns, set, "r0")).await;
    }
    let shards = ["--shards", "auto:4"];
    let a = replica_with(ns, "cache-a", &shards);
    eventually(Duration::from_secs(60), || async {
        revisions(&client, ns).await.len() == sets.len() * PER_SET
    })
    .await
    .expect("replica a alone creates every Application");
    eventually(Duration::from_secs(10), || async {
        cached(a.port) == Some((sets.len() * PER_SET) as u64)
    })
    .await
    .expect("a caches every Application");
    let b = replica_with(ns, "cache-b", &shards);
    eventually(Duration::from_secs(30), || async {
        shard_holders(&client, ns).await == [("cache-a".to_string(), 2), ("cache-b".to_string(), 2)].into()
    })
    .await
    .expect("b takes half of the shards");
    for (who, port) in [("a", a.port), ("b", b.port)] {
        if eventually(Duration::from_secs(20), || async {
            let share = held_share(port);
            share.is_some_and(|s| s > 0) && cached(port) == share
        })
        .await
        .is_err()
        {
            panic!(
                "{who} caches its share: {:?} cached, {:?} in its shards",
                cached(port),
                held_share(port)
            );
        }
    }
    // b has reconciled the sets of its shards, and written no Application: they were up to date.
    let b_writes = || {
        audited_writes(&harness::control_plane().audit_log(), ns)
            .into_iter()
            .filter(|w| w.writer == "cache-b" && w.resource == "applications")
            .collect::<Vec<AuditedWrite>>()
    };
    eventually(Duration::from_secs(20), || async {
        reconciles(b.port).is_some_and(|n| n >= held_share(b.port).unwrap_or(0) / PER_SET as u64)
    })
    .await
    .expect("b reconciles the sets of its shards");
    let wrote = b_writes();
    assert!(
        wrote.is_empty(),
        "b wrote {} Applications, first {:?}",
        wrote.len(),
        wrote.first()
    );

    // a is killed: b, running, takes its shards once their Leases expire, loads their
    // Applications, and reconciles their sets without a write.
    drop(a);
    eventually(Duration::from_secs(30), || async {
        shard_holders(&client, ns).await == [("cache-b".to_string(), 4)].into()
    })
    .await
    .expect("b takes every shard");
    eventually(Duration::from_secs(20), || async {
        cached(b.port) == Some((sets.len() * PER_SET) as u64)
            && reconciles(b.port).is_some_and(|n| n >= sets.len() as u64)
    })
    .await
    .expect("b caches and reconciles every set");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let wrote = b_writes();
    assert!(
        wrote.is_empty(),
        "b wrote {} Applications after taking a's shards, first {:?}",
        wrote.len(),
        wrote.first()
    );

    // Every set edited: b rewrites each Application once.
    let api: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    for set in &sets {
        let patch = json!({"spec": revision_set(ns, set, "r1").spec});
        api.patch(set, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(60), || async {
        let revs = revisions(&client, ns).await;
        revs.len() == sets.len() * PER_SET && revs.values().all(|r| r == "r1")
    })
    .await
    .expect("every edit applied");
    assert_eq!(
        b_writes().len(),
        sets.len() * PER_SET,
        "b wrote each Application once"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_manifests_are_accepted_by_the_api_server() {
    let ns = "ctl-install";
    let _client = setup(ns).await;
    let cp = harness::control_plane();
    let team = "ctl-install-team";
    harness::namespace(&_client, team).await;
    let install = |crds: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .args([
                "install",
                "--namespace",
                ns,
                "--image",
                "appset:test",
                "--crds",
                crds,
                "--applicationset-namespaces",
                team,
            ])
            .env("KUBECONFIG", &cp.kubeconfig)
            .output()
            .unwrap()
    };
    // The harness installed both CRDs: `auto` leaves them as they are and says so.
    let auto = install("auto");
    assert!(auto.status.success(), "{}", String::from_utf8_lossy(&auto.stderr));
    let stderr = String::from_utf8_lossy(&auto.stderr);
    for name in ["applicationsets.argoproj.io", "applications.argoproj.io"] {
        assert!(
            stderr.contains(&format!(
                "CRD {name} is already in the cluster and is left as it is"
            )),
            "{stderr}"
        );
    }
    assert!(!String::from_utf8_lossy(&auto.stdout).contains("kind: CustomResourceDefinition"));

    let always = install("always");
    assert!(always.status.success());
    let text = String::from_utf8(always.stdout).unwrap();
    for kind in [
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
    ] {
        assert!(text.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    let mut apply = std::process::Command::new(cp.bin.join("kubectl"))
        .args(["--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    apply.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = apply.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deployment.apps/appset") && stdout.contains("(server dry run)"),
        "{stdout}"
    );

    // Applied for real (without the CRDs, which the harness owns), the RBAC lets appset read
    // Secrets only in its namespace (and `get` tokenRef Secrets in the served one), never
    // cluster-wide, and AppProjects only read (issue 13, item 5).
    let text = String::from_utf8(install("never").stdout).unwrap();
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut child = std::process::Command::new(cp.bin.join("kubectl"))
            .args(["--kubeconfig"])
            .arg(&cp.kubeconfig)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    kubectl(&["apply", "-f", "-"], Some(&text));
    let sa = format!("--as=system:serviceaccount:{ns}:appset");
    let can = |verb: &str, resource: &str, namespace: &str| {
        kubectl(&["auth", "can-i", verb, resource, "-n", namespace, &sa], None) == "yes"
    };
    assert!(can("list", "secrets", ns) && can("watch", "secrets", ns));
    assert!(
        can("get", "secrets", team),
        "tokenRef Secrets in the served namespace"
    );
    assert!(!can("list", "secrets", team), "only get there");
    assert!(!can("get", "secrets", "kube-system"), "no Secret elsewhere");
    assert!(
        kubectl(
            &["auth", "can-i", "list", "secrets", "--all-namespaces", &sa],
            None
        ) == "no",
        "no cluster-wide Secret access"
    );
    assert!(can("list", "appprojects.argoproj.io", ns) && !can("create", "appprojects.argoproj.io", ns));
    assert!(can("patch", "applications.argoproj.io", team));
}

/// appset's Application CRD is shaped like Argo CD's: no status subresource, so the status Argo
/// CD's application controller writes through the main resource (a merge patch) is kept, also
/// after the CRD is applied again from `appset install --crds always`; and Argo CD's columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_status_written_through_the_main_resource_persists_as_with_argo_cd_s_crd() {
    let ns = "ctl-crd-shape";
    let client = setup(ns).await;
    let cp = harness::control_plane();
    let apps = apps_api(&client, ns);
    let app: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": ns},
        "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"}}
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let status = json!({"status": {"sync": {"status": "Synced", "revision": "abc123"}, "health": {"status": "Healthy"}}});
    apps.patch("guestbook", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let sync = |a: &kube::api::DynamicObject| a.data.pointer("/status/sync/status").cloned();
    assert_eq!(sync(&apps.get("guestbook").await.unwrap()), Some(json!("Synced")));

    let crds = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["crds"])
        .output()
        .unwrap();
    let mut apply = std::process::Command::new(cp.bin.join("kubectl"))
        .args(["--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(["apply", "--server-side", "--force-conflicts", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    apply.stdin.take().unwrap().write_all(&crds.stdout).unwrap();
    let out = apply.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = json!({"status": {"sync": {"status": "OutOfSync", "revision": "def456"}}});
    apps.patch("guestbook", &PatchParams::default(), &Patch::Merge(&again))
        .await
        .unwrap();
    let app = apps.get("guestbook").await.unwrap();
    assert_eq!(
        sync(&app),
        Some(json!("OutOfSync")),
        "a status write through the main resource is kept"
    );
    assert_eq!(app.data.pointer("/status/health/status"), Some(&json!("Healthy")));

    let table = std::process::Command::new(cp.bin.join("kubectl"))
        .args(["--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(["get", "applications", "-n", ns, "-o", "wide"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    let header = table.lines().next().unwrap_or_default();
    for column in ["SYNC STATUS", "HEALTH STATUS", "REVISION", "PROJECT"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains("OutOfSync") && table.contains("def456"), "{table}");
}

/// Argo CD's repository Secret and known-hosts ConfigMap in the controller's namespace, applied as
/// an operator would (server-side apply, so a later apply rotates the key in place).
async fn apply_repository_credential(client: &Client, ns: &str, url: &str, key: &str, known_hosts: &str) {
    let pp = PatchParams::apply("test").force();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "private-gitops", "namespace": ns,
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"url": url, "sshPrivateKey": key},
    });
    secrets
        .patch("private-gitops", &pp, &Patch::Apply(&secret))
        .await
        .expect("apply repository Secret");
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "argocd-ssh-known-hosts-cm", "namespace": ns},
        "data": {"ssh_known_hosts": known_hosts},
    });
    config_maps
        .patch("argocd-ssh-known-hosts-cm", &pp, &Patch::Apply(&cm))
        .await
        .expect("apply known hosts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ssh_repository_renders_through_argo_cd_s_secret_and_a_rotated_key_is_used_without_restart()
{
    let ns = "ctl-private";
    let client = setup(ns).await;
    let sshd = harness::sshd::Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("gitops");
    harness::git::init_with_dirs(&repo, &["apps/api", "apps/web"]);
    let url = sshd.url(&repo);
    apply_repository_credential(&client, ns, &url, &sshd.client_key, &sshd.known_hosts).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    let set = git_dirs_appset(
        ns,
        "private",
        json!({"repoURL": url, "directories": [{"path": "apps/*"}]}),
    );
    create(&client, &set).await;
    wait_names(&client, ns, &["api", "web"]).await;

    // The key is rotated to one the server does not accept: the Secret's change alone triggers a
    // reconcile, which fails and says why, naming the Secret.
    apply_repository_credential(&client, ns, &url, &sshd.other_key, &sshd.known_hosts).await;
    eventually(WAIT, || async {
        condition(&client, ns, "private", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True" && c.2.contains("authentication failed"))
    })
    .await
    .expect("ErrorOccurred after the key was rotated to a refused one");
    let (_, _, message) = condition(&client, ns, "private", "ErrorOccurred").await.unwrap();
    assert!(
        message.contains(&format!("credential from Secret {ns}/private-gitops")),
        "{message}"
    );
    // While the key is refused, web leaves the repository and new arrives; a reconcile (forced by
    // an annotation) fails closed: nothing is deleted or created.
    std::fs::remove_dir_all(repo.join("apps/web")).unwrap();
    harness::git::commit_dirs(&repo, &["apps/new"], "web out, new in");
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let touch = json!({"metadata": {"annotations": {"test/touch": "1"}}});
    sets.patch("private", &PatchParams::default(), &Patch::Merge(&touch))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        app_names(&client, ns).await,
        ["api", "web"],
        "nothing deleted on a credential error"
    );

    // Everything the failing run wrote, the status and the Events, holds no key material.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let written = format!(
        "{} {}",
        serde_json::to_string(
            &Api::<ApplicationSet>::namespaced(client.clone(), ns)
                .get("private")
                .await
                .unwrap()
                .status
        )
        .unwrap(),
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap()
    );
    for secret in [&sshd.client_key, &sshd.other_key] {
        // The lines after the second differ between keys (the first two are OpenSSH's header).
        for line in secret.lines().skip(2).filter(|l| !l.starts_with("-----")) {
            assert!(!written.contains(line), "key material in status or events");
        }
    }
    assert!(!written.contains("PRIVATE KEY"));
    // The rotated-out key does not stay in the controller's git cache.
    let credentials = std::env::temp_dir()
        .join(format!("appset-controller-test-git-{ns}"))
        .join(".credentials");
    let old_key = sshd.client_key.trim().to_owned();
    let keys: Vec<String> = std::fs::read_dir(&credentials)
        .unwrap()
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("key")).ok())
        .collect();
    assert!(!keys.is_empty(), "the current key is on disk");
    assert!(
        keys.iter().all(|k| k.trim() != old_key),
        "the rotated-out key was removed"
    );

    // The right key again, without a restart: the new directory appears and the error clears.
    apply_repository_credential(&client, ns, &url, &sshd.client_key, &sshd.known_hosts).await;
    wait_names(&client, ns, &["api", "new"]).await;
    eventually(WAIT, || async {
        condition(&client, ns, "private", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "False")
    })
    .await
    .expect("error cleared with the right key");
}

/// Without `--enable-progressive-syncs` (Argo CD's default), a RollingSync strategy is ignored:
/// the Applications are created as for any set, with no `applicationStatus`, no rollout
/// condition and no sync operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_progressive_syncs_a_rolling_sync_strategy_is_ignored_as_argo_cd_ignores_it() {
    let ns = "ctl-rolling";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |_| {}).await;
    let set = list_appset(
        ns,
        "rolling",
        &["one", "two"],
        json!({"strategy": {"type": "RollingSync", "rollingSync": {"steps": [
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["web"]}]}
        ]}}}),
    );
    create(&client, &set).await;
    wait_names(&client, ns, &["one-guestbook", "two-guestbook"]).await;
    wait_up_to_date(&client, ns, "rolling").await;
    let api: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    let status = api.get("rolling").await.unwrap().status.unwrap();
    assert!(status.application_status.is_empty(), "{status:?}");
    assert!(
        !status
            .conditions
            .iter()
            .any(|c| c.type_ == "RolloutProgressing" || c.type_ == "InvalidRolloutConfig"),
        "{status:?}"
    );
    // No operation is written: the Applications sync through their own policy.
    for app in apps_api(&client, ns).list(&ListParams::default()).await.unwrap() {
        assert!(app.data.get("operation").is_none(), "{app:?}");
    }
}

/// `appset uninstall` releases appset's finalizer from the ApplicationSets, so that once appset is
/// gone deleting one does not hang (its Applications go with it, by garbage collection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_releases_the_finalizer_so_deleting_a_set_never_hangs_without_appset() {
    let ns = "ctl-uninstall";
    let client = setup(ns).await;
    let cp = harness::control_plane();
    let controller = start(client.clone(), ns, |_| {}).await;
    create(&client, &list_appset(ns, "gone", &["one"], json!({}))).await;
    wait_names(&client, ns, &["one-guestbook"]).await;
    let sets: Api<ApplicationSet> = Api::namespaced(client.clone(), ns);
    assert!(
        sets.get("gone")
            .await
            .unwrap()
            .finalizers()
            .contains(&"appset.io/cleanup".to_string())
    );
    drop(controller);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["uninstall", "--namespace", ns])
        .env("KUBECONFIG", &cp.kubeconfig)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("released ApplicationSet {ns}/gone")),
        "{stderr}"
    );
    assert!(sets.get("gone").await.unwrap().finalizers().is_empty());

    sets.delete("gone", &DeleteParams::default()).await.unwrap();
    eventually(WAIT, || async { sets.get_opt("gone").await.unwrap().is_none() })
        .await
        .expect("the ApplicationSet is deleted with no appset running");
}

/// Issue 13, item 2: Applications that Argo CD's ApplicationSet controller created (its field
/// manager through Create/Update, the controller ownerReference, the resources finalizer; status
/// written through the main resource by Argo CD's application controller) are taken over with
/// one write each and no delete, re-create or change; the next reconcile writes nothing; and
/// appset then owns what Argo's controller owned (a label the template stops rendering goes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_argo_cd_s_controller_created_are_adopted_with_one_write_each_then_none() {
    let ns = "ctl-adopt";
    let client = setup(ns).await;
    let set = list_appset(ns, "adopt", &["a", "b"], json!({}));
    create(&client, &set).await;
    let uid = Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .get("adopt")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let apps = apps_api(&client, ns);
    let mut before = Vec::new();
    for c in ["a", "b"] {
        let name = format!("{c}-guestbook");
        // What Argo CD's controller creates for this set (its Go struct marshals an empty status).
        let app: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {
                "name": name, "namespace": ns, "labels": {"team": "web"},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "adopt",
                                     "uid": uid, "controller": true, "blockOwnerDeletion": true}]
            },
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": format!("guestbook/{c}"), "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": c}
            },
            "status": {"health": {}, "summary": {}}
        }))
        .unwrap();
        let pp = PostParams {
            field_manager: Some("argocd-applicationset-controller".into()),
            ..PostParams::default()
        };
        apps.create(&pp, &app)
            .await
            .expect("create as Argo CD's controller");
        let status = json!({"status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}});
        apps.patch(
            &name,
            &PatchParams {
                field_manager: Some("argocd-application-controller".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&status),
        )
        .await
        .expect("status as Argo CD's application controller");
        before.push(apps.get(&name).await.unwrap());
    }

    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _controller = start(harness::logging_client(log.clone()).await, ns, |_| {}).await;
    wait_up_to_date(&client, ns, "adopt").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let app_writes = |log: &std::sync::Mutex<Vec<String>>| -> Vec<String> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|w| w.contains("/applications/"))
            .cloned()
            .collect()
    };
    let first = app_writes(&log);
    let mut expected = vec![
        format!("PATCH /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/a-guestbook"),
        format!("PATCH /apis/argoproj.io/v1alpha1/namespaces/{ns}/applications/b-guestbook"),
    ];
    let mut got = first.clone();
    got.sort();
    expected.sort();
    assert_eq!(
        got, expected,
        "exactly one write per Application, no delete or create"
    );
    for old in &before {
        let now = apps.get(&old.name_any()).await.unwrap();
        assert_eq!(now.metadata.uid, old.metadata.uid, "not re-created");
        assert_eq!(now.data["spec"], old.data["spec"], "spec unchanged");
        assert_eq!(now.data["status"], old.data["status"], "status unchanged");
        assert_eq!(now.metadata.labels, old.metadata.labels);
        assert_eq!(now.metadata.finalizers, old.metadata.finalizers);
        assert_eq!(now.metadata.owner_references, old.metadata.owner_references);
        let managers: Vec<(String, String, bool)> = now
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| {
                let fields = m.fields_v1.as_ref().map(|f| f.0.clone()).unwrap_or_default();
                (
                    m.manager.clone().unwrap_or_default(),
                    m.operation.clone().unwrap_or_default(),
                    fields.get("f:spec").is_some(),
                )
            })
            .collect();
        assert!(
            managers.contains(&("appset".into(), "Apply".into(), true)),
            "appset owns the spec: {managers:?}"
        );
        assert!(
            !managers
                .iter()
                .any(|(m, _, spec)| m == "argocd-applicationset-controller" && *spec),
            "Argo's controller owns no spec field any more: {managers:?}"
        );
    }

    // A second reconcile (an annotation on the set) writes nothing to the Applications.
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .patch(
            "adopt",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app_writes(&log), first, "the next reconcile sends 0 writes");

    // appset now owns what Argo's controller owned: a label the template no longer renders is
    // removed by its apply (under Argo's Update ownership it would have stayed forever).
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .patch(
            "adopt",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"template": {"metadata": {"labels": null}}}})),
        )
        .await
        .unwrap();
    eventually(WAIT, || async {
        let mut gone = true;
        for c in ["a", "b"] {
            let app = apps.get(&format!("{c}-guestbook")).await.unwrap();
            gone &= !app.labels().contains_key("team");
        }
        gone
    })
    .await
    .expect("the label Argo's controller set is removed once appset stops rendering it");
}

/// A set whose template pins helm parameters and an annotation, with `ignoreApplicationDifferences`
/// on the `image.tag` parameter (jq) and the `team` annotation (JSON pointer outside `/spec`).
fn ignoring_appset(ns: &str, params: Value) -> ApplicationSet {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "ign", "namespace": ns},
        "spec": {
            "generators": [{"list": {"elements": [{"app": "demo"}]}}],
            "ignoreApplicationDifferences": [{
                "jqPathExpressions": [".spec.source.helm.parameters[] | select(.name == \"image.tag\") | .value"],
                "jsonPointers": ["/metadata/annotations/team"]
            }],
            "template": {
                "metadata": {"name": "{{app}}", "annotations": {"team": "gen"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://example.com/charts.git", "path": "chart", "helm": {"parameters": params}},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{app}}"}
                }
            }
        }
    }))
    .unwrap()
}

/// Issue 13, item 6: `ignoreApplicationDifferences` with a jq path expression and a JSON pointer
/// under `/metadata` keeps what someone changed live, writes nothing for it, and keeps it when
/// the template changes elsewhere (even when a parameter is inserted before the ignored one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_differences_by_jq_and_metadata_pointer_keep_live_edits() {
    let ns = "ctl-ignore";
    let client = setup(ns).await;
    let writes = Arc::new(AtomicU64::new(0));
    let _controller = start(counting_client(writes.clone()).await, ns, |_| {}).await;
    let two = json!([{"name": "replicas", "value": "2"}, {"name": "image.tag", "value": "v1"}]);
    create(&client, &ignoring_appset(ns, two)).await;
    wait_names(&client, ns, &["demo"]).await;
    wait_up_to_date(&client, ns, "ign").await;
    let apps = apps_api(&client, ns);
    apps.patch(
        "demo",
        &PatchParams::default(),
        &Patch::Merge(&json!({
            "metadata": {"annotations": {"team": "live"}},
            "spec": {"source": {"helm": {"parameters": [{"name": "replicas", "value": "2"}, {"name": "image.tag", "value": "v2"}]}}}
        })),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = writes.load(Ordering::SeqCst);
    Api::<ApplicationSet>::namespaced(client.clone(), ns)
        .patch(
            "ign",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {"poke": "1"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        writes.load(Ordering::SeqCst),
        settled,
        "an ignored difference is no write"
    );
    let tag_and_team = |app: &kube::api::DynamicObject| {
        let tag = app.data["spec"]["source"]["helm"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "image.tag"))
            .map(|p| p["value"].clone());
        (tag, app.annotations().get("team").cloned())
    };
    let app = apps.get("demo").await.unwrap();
    assert_eq!(tag_and_team(&app), (Some(json!("v2")), Some("live".into())));

    // The template changes elsewhere: a parameter inserted first. The live tag and team stay.
    let three = json!([{"name": "region", "value": "eu"}, {"name": "replicas", "value": "2"}, {"name": "image.tag", "value": "v1"}]);
    replace_spec(&client, ns, "ign", &ignoring_appset(ns, three)).await;
    eventually(WAIT, || async {
        apps.get("demo").await.is_ok_and(|a| {
            a.data["spec"]["source"]["helm"]["parameters"]
                .as_array()
                .is_some_and(|ps| ps.len() == 3)
        })
    })
    .await
    .expect("the new parameter is applied");
    let app = apps.get("demo").await.unwrap();
    assert_eq!(
        app.data["spec"]["source"]["helm"]["parameters"][0]["name"],
        json!("region")
    );
    assert_eq!(tag_and_team(&app), (Some(json!("v2")), Some("live".into())));
}

/// Issue 13, item 3: `--dry-run` generates, plans and reports (status and Events) but writes no
/// Application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reports_what_it_would_write_and_writes_no_application() {
    let ns = "ctl-dry";
    let client = setup(ns).await;
    let _controller = start(client.clone(), ns, |c| c.dry_run = true).await;
    create(&client, &list_appset(ns, "dry", &["a", "b"], json!({}))).await;
    wait_up_to_date(&client, ns, "dry").await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    eventually(WAIT, || async {
        events.list(&ListParams::default()).await.is_ok_and(|l| {
            l.items
                .iter()
                .any(|e| e.note.as_deref() == Some("Created Application \"a-guestbook\" (dry run)"))
        })
    })
    .await
    .expect("a dry-run Event");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(app_names(&client, ns).await.is_empty(), "nothing written");
}

/// Issue 13, item 3: the controller serves its own namespace, and others named by Argo CD's
/// `--applicationset-namespaces` forms (here a glob), and no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_serves_its_namespace_and_the_matching_ones_only() {
    let (own, team, other) = ("ctl-ns-own", "ctl-ns-team-a", "ctl-ns-other");
    let client = setup(own).await;
    for ns in [team, other] {
        harness::namespace(&client, ns).await;
    }
    let _controller = start(client.clone(), own, |c| {
        c.namespaces = vec!["ctl-ns-team-*".into()];
    })
    .await;
    // Argo CD's AppProjects, in the controller's namespace: `default` lets the team namespaces
    // use it (issue 13, item 5), `closed` does not.
    let projects: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), own, &controller::app_project_resource());
    for (name, source_namespaces) in [
        ("default", json!(["ctl-ns-team-*"])),
        ("closed", json!(["elsewhere"])),
    ] {
        let project = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": name, "namespace": own},
            "spec": {"sourceNamespaces": source_namespaces}
        }))
        .unwrap();
        projects.create(&PostParams::default(), &project).await.unwrap();
    }
    for ns in [own, team, other] {
        create(&client, &list_appset(ns, "s", &["x"], json!({}))).await;
    }
    wait_names(&client, own, &["x-guestbook"]).await;
    wait_names(&client, team, &["x-guestbook"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(app_names(&client, other).await.is_empty(), "not served");
    assert_eq!(condition(&client, other, "s", "ResourcesUpToDate").await, None);

    // A project that does not permit the namespace, and one that does not exist: a condition
    // that says so, and nothing written.
    for (set, project, message) in [
        (
            "closed",
            "closed",
            "application 'y-guestbook' in namespace 'ctl-ns-team-a' is not permitted to use project 'closed'",
        ),
        (
            "missing",
            "nope",
            "application references project nope which does not exist",
        ),
    ] {
        let mut s = list_appset(team, set, &["y"], json!({}));
        s.spec.template.spec.project = Some(project.into());
        create(&client, &s).await;
        eventually(WAIT, || async {
            condition(&client, team, set, "ErrorOccurred")
                .await
                .is_some_and(|c| c.0 == "True" && c.1 == "ApplicationValidationError" && c.2 == message)
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{set}: {:?}",
                futures::executor::block_on(condition(&client, team, set, "ErrorOccurred"))
            )
        });
        Api::<ApplicationSet>::namespaced(client.clone(), team)
            .delete(set, &DeleteParams::default())
            .await
            .unwrap();
    }
    assert_eq!(app_names(&client, team).await, ["x-guestbook"]);
}

/// How many times the controller reconciled the ApplicationSet `ns/name` (Argo CD's per-set
/// reconcile histogram's count; 0 before the first).
fn set_reconciles(metrics: &appset::metrics::Metrics, ns: &str, name: &str) -> u64 {
    let prefix = format!(r#"argocd_appset_reconcile_count{{namespace="{ns}",name="{name}"}} "#);
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// A clusterDecisionResource set reading Open Cluster Management's PlacementDecisions: its
/// Applications follow a decision's status at once (the controller watches the resource its
/// ConfigMap names, so the change does not wait for the 3-minute requeue), and only the set reading
/// it is reconciled; a decision that leaves the selector fails the set closed (nothing deleted);
/// a set whose ConfigMap names a resource the API server does not serve fails alone while the
/// controller goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_decisions_drive_their_set_through_a_watch_and_no_other_set() {
    use std::time::Instant;

    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let ns = "ctl-placement";
    let client = setup(ns).await;
    // Open Cluster Management's PlacementDecision CRD (a test fixture: OCM installs the real one).
    let crd = harness::apply_crd(&client, "tests/fixtures/placementdecision-crd.yaml").await;
    harness::wait_established(&client, &crd).await;

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for (name, api_version, kind) in [
        (
            "ocm-placement-generator",
            "cluster.open-cluster-management.io/v1beta1",
            "placementdecisions",
        ),
        ("ghost-generator", "widgets.example.com/v1", "widgets"),
    ] {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name},
            "data": {"apiVersion": api_version, "kind": kind, "statusListKey": "decisions", "matchKey": "clusterName"}
        }))
        .unwrap();
        config_maps.create(&PostParams::default(), &cm).await.unwrap();
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for name in ["east", "west", "south"] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "stringData": {"name": name, "server": format!("https://{name}.example.com")}
        }))
        .unwrap();
        secrets.create(&PostParams::default(), &secret).await.unwrap();
    }
    let decisions: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(
                "cluster.open-cluster-management.io",
                "v1beta1",
                "PlacementDecision",
            ),
            "placementdecisions",
        ),
    );
    let decision: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "PlacementDecision",
        "metadata": {"name": "guestbook-decision-1",
            "labels": {"cluster.open-cluster-management.io/placement": "guestbook"}},
    }))
    .unwrap();
    decisions.create(&PostParams::default(), &decision).await.unwrap();
    // The decisions are status: written through the status subresource, as OCM's controller does.
    let decide = |clusters: &[&str]| {
        let status = json!({"status": {"decisions": clusters.iter()
            .map(|c| json!({"clusterName": c, "reason": format!("picked {c}")})).collect::<Vec<_>>()}});
        let decisions = decisions.clone();
        async move {
            decisions
                .patch_status(
                    "guestbook-decision-1",
                    &PatchParams::default(),
                    &Patch::Merge(&status),
                )
                .await
                .expect("status patch");
        }
    };
    decide(&["east", "west"]).await;

    let metrics = Arc::new(appset::metrics::Metrics::default());
    let _controller = start_recording(client.clone(), ns, metrics.clone(), |_| {}).await;
    let placed_set = |name: &str, config_map: &str, select: Value| -> ApplicationSet {
        let mut generator = json!({"configMapRef": config_map, "requeueAfterSeconds": 180});
        generator
            .as_object_mut()
            .unwrap()
            .extend(select.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "generators": [{"clusterDecisionResource": generator}],
                "template": {
                    "metadata": {"name": "{{name}}-guestbook"},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "guestbook", "targetRevision": "HEAD"},
                        "destination": {"server": "{{server}}", "namespace": "guestbook"},
                        "info": [{"name": "reason", "value": "{{reason}}"}]
                    }
                }
            }
        }))
        .unwrap()
    };
    create(
        &client,
        &placed_set(
            "placed",
            "ocm-placement-generator",
            json!({"labelSelector": {"matchLabels": {"cluster.open-cluster-management.io/placement": "guestbook"}}}),
        ),
    )
    .await;
    create(&client, &list_appset(ns, "bystander", &["dev"], json!({}))).await;
    create(
        &client,
        &placed_set("ghost", "ghost-generator", json!({"name": "anything"})),
    )
    .await;
    wait_names(
        &client,
        ns,
        &["dev-guestbook", "east-guestbook", "west-guestbook"],
    )
    .await;
    let app = apps_api(&client, ns).get("west-guestbook").await.unwrap();
    assert_eq!(
        app.data["spec"]["destination"]["server"],
        "https://west.example.com"
    );
    assert_eq!(app.data["spec"]["info"][0]["value"], "picked west");
    // The set reading a resource the API server does not serve fails alone.
    eventually(WAIT, || async {
        condition(&client, ns, "ghost", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True" && c.2.contains("failed to get dynamic resources"))
    })
    .await
    .expect("ghost's error on its status");

    // The bystander settles: its count stays put for a second (bounded).
    wait_up_to_date(&client, ns, "bystander").await;
    let mut bystander = set_reconciles(&metrics, ns, "bystander");
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = set_reconciles(&metrics, ns, "bystander");
        if now == bystander {
            break;
        }
        bystander = now;
    }
    assert!(bystander >= 1, "the bystander was reconciled");

    // OCM moves the placement from east to south.
    let placed_before = set_reconciles(&metrics, ns, "placed");
    let changed = Instant::now();
    decide(&["west", "south"]).await;
    wait_names(
        &client,
        ns,
        &["dev-guestbook", "south-guestbook", "west-guestbook"],
    )
    .await;
    let followed = changed.elapsed();
    assert!(
        followed < Duration::from_secs(30),
        "the Applications followed in {followed:?}, well under the 180 s requeue"
    );
    assert!(set_reconciles(&metrics, ns, "placed") > placed_before);

    // A decision may name a cluster before Argo CD knows it: registering the cluster reconciles the
    // set (cluster Secret changes trigger clusterDecisionResource sets too), not the requeue.
    let placed_before = set_reconciles(&metrics, ns, "placed");
    decide(&["west", "south", "north"]).await;
    eventually(WAIT, || async {
        set_reconciles(&metrics, ns, "placed") > placed_before
    })
    .await
    .expect("the decision change reconciled the set");
    assert_eq!(
        app_names(&client, ns).await,
        ["dev-guestbook", "south-guestbook", "west-guestbook"],
        "north is no Argo CD cluster yet"
    );
    let north: Secret = serde_json::from_value(json!({
        "metadata": {"name": "north", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": "north", "server": "https://north.example.com"}
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &north).await.unwrap();
    wait_names(
        &client,
        ns,
        &[
            "dev-guestbook",
            "north-guestbook",
            "south-guestbook",
            "west-guestbook",
        ],
    )
    .await;

    // The decision leaves the selector: the set reads no decision resource any more, which is an
    // error (Argo CD's), not "no clusters": nothing is deleted.
    decisions
        .patch(
            "guestbook-decision-1",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"labels": {"cluster.open-cluster-management.io/placement": "billing"}}}),
            ),
        )
        .await
        .unwrap();
    eventually(WAIT, || async {
        condition(&client, ns, "placed", "ErrorOccurred")
            .await
            .is_some_and(|c| c.0 == "True" && c.2.contains("no clusterDecisionResources found"))
    })
    .await
    .expect("placed fails closed when its decision leaves the selector");
    assert_eq!(
        app_names(&client, ns).await,
        [
            "dev-guestbook",
            "north-guestbook",
            "south-guestbook",
            "west-guestbook"
        ]
    );

    // None of this concerned the bystander.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        set_reconciles(&metrics, ns, "bystander"),
        bystander,
        "a decision change reconciles only the sets that read it"
    );
    eprintln!("placement change followed in {followed:?}");
}
