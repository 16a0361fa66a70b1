//! The custom resources: `argoproj.io/v1alpha1` `ApplicationSet` and `Application`.
//!
//! Stage: data model (pure, no I/O). Every field of Argo CD's `ApplicationSet` parses, including
//! the providers that later issues implement (some forges of `scmProvider`, kept as raw JSON). Generator entries reject unknown keys (a typo such as `lsit:` is an
//! error, not a silently ignored generator). Application templates keep every field they carry:
//! the typed fields are the ones appset reads, and anything else is preserved in `extra` so a field
//! newer than this code is rendered and passed through, never dropped.
//!
//! `crds/` is generated from these types by `appset crds` (see [`crd_yaml`]).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The resources finalizer Argo CD's application controller honours: deleting an Application that
/// carries it first deletes the Application's cluster resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Label that marks a Secret as an Argo CD cluster Secret.
pub const CLUSTER_SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";

fn is_false(b: &bool) -> bool {
    !*b
}

/// `spec` of an `ApplicationSet`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "ApplicationSet",
    plural = "applicationsets",
    shortname = "appset",
    shortname = "appsets",
    namespaced,
    status = "ApplicationSetStatus",
    doc = "An ApplicationSet: generators produce parameter sets, the template renders one Argo CD Application per set."
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    /// Render templates with Go's text/template syntax (Argo CD's `goTemplate: true`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub go_template: bool,
    /// Options for Go templates, e.g. `missingkey=error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub go_template_options: Vec<String>,
    /// appset extension: the template engine. `jinja` renders with minijinja (nested parameters,
    /// strict undefined, fuel limit). Absent: `goTemplate` decides, as in Argo CD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_engine: Option<TemplateEngine>,
    /// appset extension: options of the `jinja` engine (delimiters, fuel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jinja_options: Option<JinjaOptions>,
    /// The generators; each produces parameter sets, one Application per set.
    pub generators: Vec<ApplicationSetGenerator>,
    /// The Application template.
    pub template: ApplicationSetTemplate,
    /// A YAML or JSON template rendered per parameter set and applied as a strategic merge patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_patch: Option<String>,
    /// Which writes the controller may make (create, update, delete) and deletion behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<ApplicationSetSyncPolicy>,
    /// Progressive sync strategy (`RollingSync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ApplicationSetStrategy>,
    /// Annotations and labels whose live values the controller keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved_fields: Option<ApplicationPreservedFields>,
    /// Differences between live and generated Applications that the controller ignores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_application_differences: Option<Vec<ApplicationSetResourceIgnoreDifferences>>,
    /// Deprecated and ignored by Argo CD: nested selectors are always applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_nested_selectors: Option<bool>,
}

/// appset extension: which engine renders the template.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TemplateEngine {
    /// Argo CD's default `{{param}}` substitution.
    Fasttemplate,
    /// Argo CD's `goTemplate: true` syntax.
    Gotemplate,
    /// minijinja.
    Jinja,
}

/// appset extension: options of the jinja engine.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JinjaOptions {
    /// Start of an expression, default `{{`. Change it (e.g. to `[[`) when the ApplicationSet
    /// ships inside a Helm chart, whose own `{{ }}` would otherwise clash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_start: Option<String>,
    /// End of an expression, default `}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_end: Option<String>,
    /// Start of a statement, default `{%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_start: Option<String>,
    /// End of a statement, default `%}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_end: Option<String>,
    /// Start of a comment, default `{#`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_start: Option<String>,
    /// End of a comment, default `#}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_end: Option<String>,
    /// Instruction budget for one template string (default 50 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// One entry of `spec.generators` (or of a matrix/merge's `generators`).
///
/// Exactly like Argo CD's `ApplicationSetGenerator`: a struct of optional generator kinds plus an
/// optional post-selector. Unknown keys are rejected.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSetGenerator {
    /// Fixed list of parameter sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Box<ListGenerator>>,
    /// One parameter set per Argo CD cluster Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<Box<ClusterGenerator>>,
    /// Directories, files or branches of a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<Box<GitGenerator>>,
    /// One parameter set per repository (and branch) of a forge's organization or group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scm_provider: Option<Box<ScmProviderGenerator>>,
    /// One parameter set per Argo CD cluster a decision resource's status lists (Argo CD's
    /// duck-typed generator, e.g. Open Cluster Management's PlacementDecisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_decision_resource: Option<Box<ClusterDecisionResourceGenerator>>,
    /// One parameter set per open pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Box<PullRequestGenerator>>,
    /// Cartesian product of two or more child generators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Box<MatrixGenerator>>,
    /// Join of two or more child generators on merge keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Box<MergeGenerator>>,
    /// Keeps only the parameter sets whose (flattened) parameters match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Parameter sets answered by a plugin service (Argo CD's plugin generator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Box<PluginGenerator>>,
}

/// `plugin` generator: the parameter sets a plugin service answers to
/// `POST <baseUrl>/api/v1/getparams.execute`, its ConfigMap in Argo CD's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginGenerator {
    /// The ConfigMap (Argo CD's namespace) with the plugin's `baseUrl`, `token` and
    /// `requestTimeout`.
    pub config_map_ref: PluginConfigMapRef,
    /// What is sent to the plugin (and given back as `generator.input.parameters`).
    #[serde(default, skip_serializing_if = "PluginInput::is_empty")]
    pub input: PluginInput,
    /// Poll interval in seconds (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters, each rendered with the plugin's parameter set; not sent to the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
}

/// `plugin.configMapRef`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfigMapRef {
    /// Name of the ConfigMap.
    pub name: String,
}

/// `plugin.input`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginInput {
    /// Parameters for the plugin: a map whose values may be of any type.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub parameters: serde_json::Map<String, Value>,
}

impl PluginInput {
    fn is_empty(&self) -> bool {
        self.parameters.is_empty()
    }
}

/// `clusterDecisionResource` generator: the Argo CD clusters that the status of a duck-typed
/// resource (in Argo CD's namespace) lists, one parameter set each.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterDecisionResourceGenerator {
    /// The ConfigMap (Argo CD's namespace) that describes the resource: `apiVersion`
    /// (`group/version`), `kind` (its plural resource name, e.g. `placementdecisions`),
    /// `statusListKey` (default `clusters`) and `matchKey` (the key of a status entry that holds
    /// the Argo CD cluster name).
    pub config_map_ref: String,
    /// The resource's name (or `labelSelector`, not both).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Selects the resources by label (or `name`, not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Poll interval in seconds (default: the controller's `--requeue-after`, 3 minutes; 0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters, passed as they are written (not rendered, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
}

/// `list` generator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListGenerator {
    /// The parameter sets, one object each.
    #[serde(default)]
    #[schemars(schema_with = "crate::crd::any_list")]
    pub elements: Vec<Value>,
    /// A YAML list of objects (usually templated from a matrix's first child), appended after
    /// `elements`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements_yaml: Option<String>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `clusters` generator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterGenerator {
    /// Selects cluster Secrets by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters, each rendered with the cluster's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// Produce one parameter set `{clusters: [...]}` instead of one per cluster.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flat_list: bool,
}

/// `git` generator: `directories`, `files`, or (appset extension) `branches`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitGenerator {
    /// The repository URL (`https://`, `git://`, `file://`, or a local path).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag or commit; empty or `HEAD` means the default branch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// Directory patterns (Go `path.Match`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<GitDirectoryGeneratorItem>,
    /// File patterns (git pathspec globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GitFileGeneratorItem>,
    /// appset extension: branch globs; one parameter set per matching remote branch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<GitBranchPattern>,
    /// Prefix of the path parameters (`<prefix>.path...`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path_param_prefix: String,
    /// Extra parameters, each rendered with the generator's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// Poll interval in seconds (default 180).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// One `git.directories` item.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitDirectoryGeneratorItem {
    /// Go `path.Match` pattern relative to the repository root.
    pub path: String,
    /// Exclude matching directories (exclusion always wins).
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude: bool,
}

/// One `git.files` item.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitFileGeneratorItem {
    /// git pathspec glob (`*` matches across `/`).
    pub path: String,
    /// Remove matching files.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude: bool,
}

/// One `git.branches` item: a glob, or `{pattern, exclude}`.
#[derive(Deserialize, Serialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(untagged)]
#[schemars(schema_with = "crate::crd::any_value")]
pub enum GitBranchPattern {
    /// A branch glob (`*` within one `/` segment, `**` across segments).
    Glob(String),
    /// A glob that includes or excludes.
    Pattern {
        /// The branch glob.
        pattern: String,
        /// Exclude matching branches (exclusion always wins).
        #[serde(default)]
        exclude: bool,
    },
}

impl GitBranchPattern {
    /// The glob and whether it excludes.
    pub fn parts(&self) -> (&str, bool) {
        match self {
            GitBranchPattern::Glob(g) => (g, false),
            GitBranchPattern::Pattern { pattern, exclude } => (pattern, *exclude),
        }
    }
}

/// `scmProvider` generator: the repositories of an organization (GitHub), group (GitLab), owner
/// (Gitea), project (Bitbucket Server), workspace (Bitbucket Cloud) or team project (Azure
/// DevOps), one parameter set per repository and branch (Argo CD's `SCMProviderGenerator`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderGenerator {
    /// The repositories of a GitHub (or GitHub Enterprise) organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<ScmProviderGithub>,
    /// The projects of a GitLab group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<ScmProviderGitlab>,
    /// The repositories of a Gitea (or Forgejo) organization or user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<ScmProviderGitea>,
    /// The repositories of a Bitbucket Cloud workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<ScmProviderBitbucket>,
    /// The repositories of a Bitbucket Server (Data Center) project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket_server: Option<ScmProviderBitbucketServer>,
    /// The repositories of an Azure DevOps team project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_dev_ops: Option<ScmProviderAzureDevOps>,
    /// AWS CodeCommit (parsed; not supported by appset: it needs AWS request signing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub aws_code_commit: Option<Value>,
    /// Filters: OR across entries, AND within an entry (Argo CD's order: repository-level
    /// filters before branches are listed, branch-level ones after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<ScmProviderFilter>,
    /// `ssh` (default) or `https`: which clone URL is the `url` parameter (Azure DevOps: ignored,
    /// `url` is the `remoteUrl`, as in Argo CD).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub clone_protocol: String,
    /// Poll interval in seconds (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
    /// Extra parameters, each rendered with the repository's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
}

/// `scmProvider.github`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderGithub {
    /// The organization to scan.
    pub organization: String,
    /// GitHub Enterprise API base URL; empty means `https://api.github.com`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// GitHub App repo-creds Secret name (Argo CD's namespace); wins over `tokenRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret_name: Option<String>,
    /// Every branch, not only the default one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
    /// Leave out archived repositories.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude_archived_repos: bool,
}

/// `scmProvider.gitlab`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderGitlab {
    /// The group to scan: its full path or numeric id.
    pub group: String,
    /// Also the projects of subgroups.
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_subgroups: bool,
    /// GitLab base URL (the API is under `/api/v4`); empty means `https://gitlab.com/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Every branch, not only the default one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// Also projects shared with the group (default true, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_shared_projects: Option<bool>,
    /// Only projects with this topic.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
    /// ConfigMap key (in the ApplicationSet's namespace) holding trusted CA certificates (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
    /// Also archived projects (GitLab leaves them out by default).
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_archived_repos: bool,
}

/// `scmProvider.gitea`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderGitea {
    /// The organization or user to scan.
    pub owner: String,
    /// Gitea base URL (the API is under `/api/v1`), e.g. `https://gitea.example.com/`.
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Every branch, not only the default one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// Leave out archived repositories.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exclude_archived_repos: bool,
}

/// `scmProvider.bitbucketServer` (Argo CD's `SCMProviderGeneratorBitbucketServer`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderBitbucketServer {
    /// Project key to scan.
    pub project: String,
    /// Bitbucket REST API URL, e.g. `https://bitbucket.example.com/rest` (`/rest` is added when
    /// missing, as in Argo CD).
    pub api: String,
    /// Basic auth: a user name and a password or personal access token from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BitbucketBasicAuth>,
    /// Bearer auth: an HTTP access token from a Secret (wins over `basicAuth`, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BitbucketBearerToken>,
    /// Every branch, not only the default one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
    /// ConfigMap key (in the ApplicationSet's namespace) holding trusted CA certificates (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
}

/// `scmProvider.bitbucket`: a Bitbucket Cloud workspace (Argo CD's
/// `SCMProviderGeneratorBitbucket`, plus appset's `api`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderBitbucket {
    /// Workspace to scan.
    pub owner: String,
    /// User name sent with the app password (basic auth); it should have the workspace's
    /// `member` role to read every repository and branch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Secret (in the ApplicationSet's namespace) holding the user's app password (or API
    /// token); absent: anonymous (public repositories only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_password_ref: Option<SecretRef>,
    /// Every branch, not only the main branch.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
    /// appset extension: Bitbucket Cloud API URL; empty means `https://api.bitbucket.org/2.0`
    /// (Argo CD always asks that one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
}

/// `scmProvider.azureDevOps`: an Azure DevOps team project (Argo CD's
/// `SCMProviderGeneratorAzureDevOps`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderAzureDevOps {
    /// Organization (Azure DevOps Server: collection).
    pub organization: String,
    /// Team project to scan.
    pub team_project: String,
    /// Azure DevOps base URL; empty means `https://dev.azure.com`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding a personal access token (required, as
    /// in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ref: Option<SecretRef>,
    /// Every branch, not only the default one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_branches: bool,
}

/// One `scmProvider` filter; all set fields must match (RE2-style regexes, unanchored).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScmProviderFilter {
    /// Regex on the repository name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_match: Option<String>,
    /// Paths (files or directories) that must all exist on the branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_exist: Option<Vec<String>>,
    /// Paths that must all be absent on the branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths_do_not_exist: Option<Vec<String>>,
    /// Regex that at least one label (topic) must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_match: Option<String>,
    /// Regex on the branch name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_match: Option<String>,
}

/// `pullRequest` generator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestGenerator {
    /// GitHub (or GitHub Enterprise) pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<PullRequestGithub>,
    /// GitLab merge requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<PullRequestGitlab>,
    /// Gitea (or Forgejo) pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<PullRequestGitea>,
    /// Bitbucket Server (Data Center) pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket_server: Option<PullRequestBitbucketServer>,
    /// Bitbucket Cloud pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitbucket: Option<PullRequestBitbucket>,
    /// Azure DevOps pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azuredevops: Option<PullRequestAzureDevOps>,
    /// Filters: OR across entries, AND within an entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<PullRequestFilter>,
    /// Poll interval in seconds (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Extra parameters, each rendered with the pull request's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// Return zero parameter sets instead of an error when the repository does not exist.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continue_on_repo_not_found_error: bool,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `pullRequest.github`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestGithub {
    /// Repository owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// GitHub Enterprise API base URL; empty means `https://api.github.com`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// GitHub App repo-creds Secret name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret_name: Option<String>,
    /// A pull request must carry all of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// appset extension: skip draft pull requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_draft: bool,
    /// appset extension: skip pull requests carrying any of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_labels: Vec<String>,
}

/// `pullRequest.gitlab`: the merge requests of a GitLab project (Argo CD's
/// `PullRequestGeneratorGitLab`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestGitlab {
    /// The project: its path (`group/subgroup/name`) or its numeric id.
    pub project: String,
    /// GitLab base URL (the API is under `/api/v4`); empty means `https://gitlab.com/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Only merge requests carrying all of these labels (GitLab's `labels=` filter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Only merge requests in this state (`opened`, `closed`, `merged`, `locked`); empty: all
    /// states, as in Argo CD.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pull_request_state: String,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// ConfigMap key (in the ApplicationSet's namespace) holding trusted CA certificates (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
}

/// `pullRequest.gitea`: the open pull requests of a Gitea (or Forgejo) repository (Argo CD's
/// `PullRequestGeneratorGitea`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestGitea {
    /// Repository owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Gitea base URL (the API is under `/api/v1`), e.g. `https://gitea.example.com/`.
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// A pull request must carry all of these labels (checked by appset, as by Argo CD).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// `pullRequest.bitbucketServer`: the open pull requests of a Bitbucket Server (Data Center)
/// repository (Argo CD's `PullRequestGeneratorBitbucketServer`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestBitbucketServer {
    /// Project key.
    pub project: String,
    /// Repository slug.
    pub repo: String,
    /// Bitbucket REST API URL, e.g. `https://bitbucket.example.com/rest` (`/rest` is added when
    /// missing, as in Argo CD).
    pub api: String,
    /// Basic auth: a user name and a password or personal access token from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BitbucketBasicAuth>,
    /// Bearer auth: an HTTP access token from a Secret (wins over `basicAuth`, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BitbucketBearerToken>,
    /// Skip verifying the server's TLS certificate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// ConfigMap key (in the ApplicationSet's namespace) holding trusted CA certificates (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<ConfigMapKeyRef>,
    /// appset extension: skip draft pull requests (Bitbucket Data Center 8.18 and later).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_draft: bool,
}

/// `pullRequest.bitbucket`: the open pull requests of a Bitbucket Cloud repository (Argo CD's
/// `PullRequestGeneratorBitbucket`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestBitbucket {
    /// Workspace.
    pub owner: String,
    /// Repository slug.
    pub repo: String,
    /// Bitbucket Cloud API URL; empty means `https://api.bitbucket.org/2.0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Basic auth: a user name and an app password (or API token) from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BitbucketBasicAuth>,
    /// Bearer auth: an access token from a Secret (wins over `basicAuth`, as in Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BitbucketBearerToken>,
    /// appset extension: skip draft pull requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_draft: bool,
}

/// Bitbucket basic auth (Argo CD's `BasicAuthBitbucketServer`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BitbucketBasicAuth {
    /// User name.
    pub username: String,
    /// Secret (in the ApplicationSet's namespace) holding the password or token.
    pub password_ref: SecretRef,
}

/// Bitbucket bearer auth (Argo CD's `BearerTokenBitbucket`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BitbucketBearerToken {
    /// Secret (in the ApplicationSet's namespace) holding the token.
    pub token_ref: SecretRef,
}

/// `pullRequest.azuredevops`: the active pull requests of an Azure DevOps repository (Argo CD's
/// `PullRequestGeneratorAzureDevOps`, plus appset's `ignoreDraft` and `excludeLabels`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestAzureDevOps {
    /// Organization (Azure DevOps Server: collection).
    pub organization: String,
    /// Project name.
    pub project: String,
    /// Repository name.
    pub repo: String,
    /// Azure DevOps base URL; empty means `https://dev.azure.com`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api: String,
    /// Secret (in the ApplicationSet's namespace) holding a personal access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<SecretRef>,
    /// A pull request must carry all of these labels (checked by appset, as by Argo CD).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// appset extension: skip draft pull requests.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_draft: bool,
    /// appset extension: skip pull requests carrying any of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_labels: Vec<String>,
}

/// A reference to a key of a ConfigMap.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapKeyRef {
    /// ConfigMap name.
    pub config_map_name: String,
    /// Key in the ConfigMap's data.
    pub key: String,
}

/// A reference to a key of a Secret.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name.
    pub secret_name: String,
    /// Key in the Secret's data.
    pub key: String,
}

/// One pull-request filter; all set fields must match (RE2-style regexes, unanchored).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullRequestFilter {
    /// Regex on the source branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_match: Option<String>,
    /// Regex on the target branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_branch_match: Option<String>,
    /// Regex on the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_match: Option<String>,
}

/// `matrix` generator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatrixGenerator {
    /// Two or more children (appset: any number ≥ 2, nested to any depth).
    #[schemars(schema_with = "crate::crd::nested_generators")]
    pub generators: Vec<ApplicationSetGenerator>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// `merge` generator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MergeGenerator {
    /// Two or more children; the first is the base.
    #[schemars(schema_with = "crate::crd::nested_generators")]
    pub generators: Vec<ApplicationSetGenerator>,
    /// Parameters whose values join the children's sets.
    #[serde(default)]
    pub merge_keys: Vec<String>,
    /// Generator-level template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ApplicationSetTemplate>,
}

/// The Application template (`spec.template`, or a generator-level override).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetTemplate {
    /// Metadata of the generated Application.
    #[serde(default)]
    pub metadata: ApplicationSetTemplateMeta,
    /// Spec of the generated Application.
    #[serde(default)]
    pub spec: ApplicationSpec,
}

/// The metadata fields a template may set.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetTemplateMeta {
    /// Application name (required after rendering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Ignored: Applications always live in the ApplicationSet's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels (keys are rendered too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations (keys are rendered too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Finalizers; when none, the resources finalizer is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
}

/// An Argo CD `ApplicationSpec`. The fields appset reads are typed; every other field is kept in
/// `extra` and passed through.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApplicationSpec {
    /// The AppProject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Where the Application's resources go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<ApplicationDestination>,
    /// Single source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Multiple sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<ApplicationSource>>,
    /// Automated sync, sync options, retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Fields Argo CD ignores when comparing live and desired state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_list")]
    pub ignore_differences: Option<Vec<Value>>,
    /// Free-form information shown in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Vec<Info>>,
    /// How many sync histories to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Any other field, passed through unchanged (after rendering).
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, Value>,
}

/// Destination cluster and namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDestination {
    /// Cluster API URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Cluster name (alternative to `server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Target namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// An Application source.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApplicationSource {
    /// Repository URL (git or Helm).
    #[serde(rename = "repoURL", default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    /// Path in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Revision, tag, branch or chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// Helm chart name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub helm: Option<Value>,
    /// Kustomize options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub kustomize: Option<Value>,
    /// Plain directory options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub directory: Option<Value>,
    /// Config management plugin options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub plugin: Option<Value>,
    /// Reference name for multi-source Applications.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub ref_: Option<String>,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Any other field, passed through unchanged (after rendering).
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, Value>,
}

/// Application sync policy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SyncPolicy {
    /// Automated sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// Sync options such as `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_options: Option<Vec<String>>,
    /// Retry strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub retry: Option<Value>,
    /// Metadata for a namespace created by `CreateNamespace=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub managed_namespace_metadata: Option<Value>,
    /// Any other field, passed through unchanged.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: BTreeMap<String, Value>,
}

/// Automated sync options.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    /// Delete resources no longer in git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Revert drift in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    /// Allow syncing to an empty set of resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    /// Whether automated sync is on (newer Argo CD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// One `spec.info` entry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
pub struct Info {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `spec.syncPolicy` of an ApplicationSet.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplicationSetSyncPolicy {
    /// Keep the Applications' cluster resources when an Application is deleted (no resources
    /// finalizer is added).
    #[serde(default, skip_serializing_if = "is_false")]
    pub preserve_resources_on_deletion: bool,
    /// Which writes are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications_sync: Option<ApplicationsSyncPolicy>,
}

/// `syncPolicy.applicationsSync`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq)]
pub enum ApplicationsSyncPolicy {
    /// Create only.
    #[serde(rename = "create-only")]
    CreateOnly,
    /// Create and update.
    #[serde(rename = "create-update")]
    CreateUpdate,
    /// Create and delete.
    #[serde(rename = "create-delete")]
    CreateDelete,
    /// Create, update and delete.
    #[serde(rename = "sync")]
    Sync,
}

/// `spec.strategy`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetStrategy {
    /// `AllAtOnce` or `RollingSync`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Steps of a rolling sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_sync: Option<ApplicationSetRolloutStrategy>,
    /// `AllAtOnce` or `Reverse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_order: Option<String>,
}

/// `strategy.rollingSync`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetRolloutStrategy {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<ApplicationSetRolloutStep>,
}

/// One rolling-sync step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetRolloutStep {
    /// Label requirements selecting the step's Applications.
    #[serde(default)]
    pub match_expressions: Vec<ApplicationMatchExpression>,
    /// Maximum Applications updated at once (integer or percentage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_update: Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
}

/// A label requirement of a rolling-sync step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
pub struct ApplicationMatchExpression {
    /// Label key.
    pub key: String,
    /// `In` or `NotIn`.
    pub operator: String,
    /// Label values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `spec.preservedFields`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
pub struct ApplicationPreservedFields {
    /// Annotation keys whose live values are kept.
    #[serde(default)]
    pub annotations: Vec<String>,
    /// Label keys whose live values are kept.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// One `spec.ignoreApplicationDifferences` rule.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetResourceIgnoreDifferences {
    /// Only for this Application name (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JSON pointers to ignore.
    #[serde(default)]
    pub json_pointers: Vec<String>,
    /// jq path expressions to ignore.
    #[serde(default)]
    pub jq_path_expressions: Vec<String>,
}

/// `status` of an ApplicationSet.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetStatus {
    /// Conditions (`ErrorOccurred`, `ParametersGenerated`, `ResourcesUpToDate`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationSetCondition>,
    /// Progressive sync status per Application (RollingSync), sorted by Application name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::crd::any_list")]
    pub application_status: Vec<ApplicationSetApplicationStatus>,
    /// The owned Applications (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Number of owned Applications (not bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_count: Option<i64>,
    /// Health derived from the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
}

/// One Application's progressive sync status (`status.applicationStatus[]`, Argo CD's
/// `ApplicationSetApplicationStatus`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetApplicationStatus {
    /// The Application's name.
    pub application: String,
    /// `Waiting`, `Pending`, `Progressing` or `Healthy`.
    #[serde(default)]
    pub status: String,
    /// Why the status is what it is (Argo CD's messages).
    #[serde(default)]
    pub message: String,
    /// The Application's step, 1-based; `-1` when no step selects it.
    #[serde(default)]
    pub step: String,
    /// The revisions the Application was last seen at (`status.sync.revisions`, or `revision`).
    /// Always written, even empty, as Argo CD's status migration expects.
    #[serde(default)]
    pub target_revisions: Vec<String>,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// An ApplicationSet condition.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetCondition {
    /// Condition type.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// PascalCase reason.
    #[serde(default)]
    pub reason: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// One owned Application in `status.resources`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// `argoproj.io`.
    #[serde(default)]
    pub group: String,
    /// `v1alpha1`.
    #[serde(default)]
    pub version: String,
    /// `Application`.
    #[serde(default)]
    pub kind: String,
    /// Application name.
    pub name: String,
    /// Application namespace.
    #[serde(default)]
    pub namespace: String,
    /// Sync status of the Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Health of the Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
}

/// A health status and message.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
pub struct HealthStatus {
    /// `Healthy`, `Degraded`, `Progressing`, `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `spec` of an Argo CD `Application` (the CRD for clusters without Argo CD; tests, demos).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Application",
    plural = "applications",
    shortname = "app",
    shortname = "apps",
    namespaced,
    status = "ApplicationStatus",
    doc = "An Argo CD Application (schema subset; unknown fields are preserved)."
)]
#[serde(transparent)]
pub struct ApplicationCrdSpec(pub ApplicationSpec);

/// `status` of an Application: written by Argo CD's application controller, never by appset.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema, PartialEq)]
#[serde(transparent)]
#[schemars(schema_with = "crate::crd::any_object")]
pub struct ApplicationStatus(pub Value);

// ---- schema helpers (used by `#[schemars(schema_with)]`) --------------------------------------

/// An object whose fields are not pruned by the API server.
pub(crate) fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Any JSON value (string, number, object, ...), kept as is.
pub(crate) fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A list of arbitrary objects.
pub(crate) fn any_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}

/// The children of matrix/merge: generator entries, kept as opaque objects in the schema so the
/// recursive type has a finite schema (validated by appset when parsed).
pub(crate) fn nested_generators(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}

// ---- CRD generation -------------------------------------------------------------------------------

/// The two CustomResourceDefinitions, with structural schemas the API server accepts.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube::CustomResourceExt;
    let mut out = Vec::new();
    for mut crd in [ApplicationSet::crd(), Application::crd()] {
        if crd.spec.names.kind == "Application" {
            shape_like_argo_cd_application(&mut crd);
        }
        for v in &mut crd.spec.versions {
            if let Some(schema) = v.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
                let mut json = serde_json::to_value(&*schema).unwrap_or_default();
                make_structural(&mut json);
                if crd.spec.names.kind == "Application" {
                    // Argo CD's Application has a top-level `operation` field besides spec/status.
                    if let Some(props) = json.get_mut("properties").and_then(Value::as_object_mut) {
                        props.insert(
                            "operation".into(),
                            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                        );
                    }
                }
                if let Ok(s) = serde_json::from_value(json) {
                    *schema = s;
                }
            }
        }
        out.push(crd);
    }
    out
}

/// Argo CD's Application CRD has no status subresource: its application controller writes
/// `.status` through the main resource, which a status subresource would make the API server drop.
/// It also has Argo CD's printer columns. appset's Application CRD matches both, so installing it
/// beside (or instead of) Argo CD's changes nothing for Argo CD.
fn shape_like_argo_cd_application(
    crd: &mut k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceColumnDefinition, CustomResourceSubresources,
    };
    crd.spec.names.list_kind = Some("ApplicationList".into());
    let column = |name: &str, path: &str, priority: Option<i32>| CustomResourceColumnDefinition {
        name: name.into(),
        json_path: path.into(),
        type_: "string".into(),
        priority,
        ..Default::default()
    };
    for v in &mut crd.spec.versions {
        v.subresources = Some(CustomResourceSubresources::default());
        v.additional_printer_columns = Some(vec![
            column("Sync Status", ".status.sync.status", None),
            column("Health Status", ".status.health.status", None),
            column("Revision", ".status.sync.revision", Some(10)),
            column("Project", ".spec.project", Some(10)),
        ]);
    }
}

/// The CRDs as YAML documents (what `appset crds` prints and `crds/` holds), keyed by file name.
pub fn crd_yaml() -> Vec<(&'static str, String)> {
    crds()
        .into_iter()
        .map(|crd| {
            let file = if crd.spec.names.kind == "ApplicationSet" {
                "applicationset.yaml"
            } else {
                "application.yaml"
            };
            let yaml = serde_saphyr::to_string(&crd).unwrap_or_default();
            (
                file,
                format!("# GENERATED by `appset crds`; do not edit.\n{yaml}"),
            )
        })
        .collect()
}

/// Rewrite a JSON schema into a Kubernetes structural schema: no `additionalProperties` beside
/// `properties`, no `$ref`/`anyOf` that lacks types, nullable options as `nullable: true`.
fn make_structural(v: &mut Value) {
    let Value::Object(m) = v else { return };
    if m.contains_key("properties") {
        m.remove("additionalProperties");
    }
    if m.get("additionalProperties") == Some(&Value::Bool(false)) {
        m.remove("additionalProperties");
    }
    m.remove("$schema");
    m.remove("default");
    for (_, child) in m.iter_mut() {
        match child {
            Value::Object(_) => make_structural(child),
            Value::Array(a) => a.iter_mut().for_each(make_structural),
            _ => {}
        }
    }
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        for (_, p) in props.iter_mut() {
            make_structural(p);
        }
    }
}

// ---- parsing ------------------------------------------------------------------------------------

/// An ApplicationSet document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}{field}: {message}", .name.as_ref().map(|n| format!("ApplicationSet {n:?}: ")).unwrap_or_default())]
pub struct ParseError {
    /// The ApplicationSet's name, when it could be read.
    pub name: Option<String>,
    /// Field path (`spec.generators[0]`), or `<document>`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Fields of an ApplicationSet document that appset does not know and ignores (a typo such as
/// `templatePach`, or a field of a newer Argo CD), as field paths. Generator entries and template
/// specs never appear here: the former reject unknown fields, the latter keep them.
pub fn ignored_fields(doc: &Value) -> Vec<String> {
    let mut ignored = Vec::new();
    let _ = serde_ignored::deserialize(doc.clone(), |path| ignored.push(path.to_string()))
        .map(|_: ApplicationSet| ());
    // apiVersion and kind are checked by `parse_application_set`, not deserialized into the type.
    ignored.retain(|p| p != "apiVersion" && p != "kind");
    ignored
}

/// Parse an ApplicationSet from a JSON/YAML document, with field paths in errors, and check the
/// fields Argo CD's CRD requires (`metadata.name`, `spec.generators`, `spec.template.metadata`,
/// `spec.template.spec`, its `project` and `destination`).
pub fn parse_application_set(doc: Value) -> Result<ApplicationSet, ParseError> {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let err = |field: &str, message: String| ParseError {
        name: name.clone(),
        field: field.to_string(),
        message,
    };
    let Value::Object(top) = &doc else {
        return Err(err(
            "<document>",
            "an ApplicationSet must be a YAML/JSON object".into(),
        ));
    };
    match top.get("kind").and_then(Value::as_str) {
        Some("ApplicationSet") => {}
        Some(other) => return Err(err("kind", format!("expected ApplicationSet, found {other:?}"))),
        None => return Err(err("kind", "Required value (kind: ApplicationSet)".into())),
    }
    match top.get("apiVersion").and_then(Value::as_str) {
        Some("argoproj.io/v1alpha1") => {}
        other => {
            return Err(err(
                "apiVersion",
                format!("expected argoproj.io/v1alpha1, found {:?}", other.unwrap_or("")),
            ));
        }
    }
    if name.as_deref().is_none_or(str::is_empty) {
        return Err(err("metadata.name", "Required value".into()));
    }
    for (pointer, field) in [
        ("/spec", "spec"),
        ("/spec/generators", "spec.generators"),
        ("/spec/template", "spec.template"),
        ("/spec/template/metadata", "spec.template.metadata"),
        ("/spec/template/spec", "spec.template.spec"),
        ("/spec/template/spec/project", "spec.template.spec.project"),
        (
            "/spec/template/spec/destination",
            "spec.template.spec.destination",
        ),
    ] {
        if doc.pointer(pointer).is_none() {
            return Err(err(field, "Required value".into()));
        }
    }
    serde_path_to_error::deserialize::<_, ApplicationSet>(doc.clone()).map_err(|e| {
        let path = e.path().to_string();
        err(
            if path == "." { "<document>" } else { &path },
            e.into_inner().to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generator_takes_the_memory_of_the_one_kind_it_holds() {
        // A generator holds one kind of nine (and a selector), each boxed. Inline, the eight
        // others made each generator 9.8 KB: 10 MB of a controller's 26 MB of live heap with
        // 1,000 cached sets (heaptrack, BENCHMARKS.md), every replica paying it for every set.
        let size = std::mem::size_of::<ApplicationSetGenerator>();
        assert!(size <= 256, "ApplicationSetGenerator is {size} bytes");
    }
}
