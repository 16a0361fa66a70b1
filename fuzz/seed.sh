#!/usr/bin/env bash
# Rebuild the seed corpora under fuzz/corpus/ from the golden cases (generators/, templates/)
# and the webhook fixtures (tests/fixtures/webhooks/). Seeds are named by content (sha1), so
# running it again adds nothing twice. Needs python3 only: it splits documents and picks strings with regular expressions.
set -euo pipefail
cd "$(dirname "$0")"
exec python3 - <<'PY'
import hashlib, json, os, pathlib, re

root = pathlib.Path("..")
goldens = sorted(list(root.glob("generators/**/*.yaml")) + list(root.glob("templates/**/*.yaml")))

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = pathlib.Path("corpus") / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)

def docs(text):
    return re.split(r"(?m)^---\s*$", text)

strings = {"fast": set(), "go": set(), "jinja": set()}
patches, selectors, patterns, clusters = set(), set(), set(), set()
for path in goldens:
    text = path.read_text()
    put("file_parse", text)
    put("recorded", text)
    put("service", b"\x00" + text.encode())    # /v1/render, YAML in and out
    put("service", b"\x01" + text.encode())    # /v1/render?params=true&steps=true
    parts = docs(text)
    kind = "go" if "goTemplate: true" in text else "jinja" if "templateEngine: jinja" in text else "fast"
    for m in re.finditer(r"'([^'\n]*\{\{[^'\n]*)'|\"([^\"\n]*\{\{[^\"\n]*)\"", text):
        strings[kind].add(m.group(1) or m.group(2))
    m = re.search(r"(?ms)^  templatePatch: \|\n((?:    .*\n|\s*\n)+)", text)
    if m:
        patches.add(("\x00" if kind == "go" else "\x02") + re.sub(r"(?m)^    ", "", m.group(1)))
    for m in re.finditer(r"(?m)^(\s*)selector:\s*\n((?:\1  .*\n)+)", text):
        indent = len(m.group(1)) + 2
        body = "\n".join(l[indent:] for l in m.group(2).splitlines())
        selectors.add("selector:\n" + "\n".join("  " + l for l in body.splitlines())
                      + "\nlabels: {env: prod, tier: a, region: eu-west-1}\n")
    for m in re.finditer(r"(?m)^\s*-? ?(?:path|pattern|branch(?:Match)?|include|exclude): ?['\"]?([^'\"\n{}]+)['\"]?\s*$", text):
        for name in ("apps/guestbook", "cluster-config/prod/config.json", "release/1.0", "main", ".hidden/x"):
            patterns.add(m.group(1).strip() + "\n" + name)
    if len(parts) > 1 and "clusters:" in parts[-1]:
        clusters.add(parts[-1].replace("clusters:\n", "items:\n", 1))

for kind, target in (("fast", "fasttemplate"), ("go", "gotemplate"), ("jinja", "jinja")):
    for s in strings[kind]:
        put(target, ("\x00" + s) if target == "gotemplate" else s)
for p in patches:
    put("template_patch", p)
put("template_patch", "\x00metadata: {labels: {a: b}}\n---\nmetadata: {labels: {c: d}}\nspec: {$patch: replace}\n")
for s in selectors:
    put("selector", s)
for p in patterns:
    put("patterns", p)
for p in ("*\nx", "a/**/b\na/x/y/b", "[a-\\]]*\nb", "release-*\nrelease-1", "**/*.json\na/b.json", "[!a]?\nbb"):
    put("patterns", p)
for c in clusters:
    put("cluster_secrets", c)

forges = {"github": 0, "gitlab": 1, "gitea": 2, "bitbucket-server": 3, "bitbucket-cloud": 4, "azuredevops": 5}
events = {
    "push.json": {0: 0, 1: 0, 2: 0}, "tag_push.json": {1: 1}, "merge_request.json": {1: 2},
    "system_merge_request_approved.json": {1: 3}, "pull_request_opened.json": {2: 1},
    "refs_changed.json": {3: 0}, "pr_opened.json": {3: 1}, "pr_from_ref_updated.json": {3: 2},
    "pr_merged.json": {3: 3}, "repo_push.json": {4: 0}, "pullrequest_created.json": {4: 1},
    "pullrequest_fulfilled.json": {4: 3}, "git.push.json": {5: 0},
    "git.pullrequest.created.json": {5: 1}, "git.pullrequest.merged.json": {5: 3},
}
for f in sorted(root.glob("tests/fixtures/webhooks/*/*.json")):
    forge = forges[f.parent.name]
    event = events.get(f.name, {}).get(forge, 0)
    put("webhook", bytes([forge, event]) + f.read_bytes())
    if forge == 2:  # Gitea's push is GitHub's shape
        put("webhook", bytes([0, 0]) + f.read_bytes())
for seed in (bytes(64), bytes(range(256)), bytes(range(255, -1, -1))):
    put("render_agree", seed)
PY
