//! The map and the territory: the layering of `src/` and the docs that describe it.
//!
//! - No import cycle between top-level modules: each stage depends only on the stages before it
//!   (`render` never reaches back into `generators`, and so on).
//! - ARCHITECTURE.md and the crate doc in `src/lib.rs` name every top-level module, and name no
//!   module that does not exist.
//! - One module-file layout: a module with submodules is `name/mod.rs`, never `name.rs` beside a
//!   `name/` folder.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules of the library (files and folders of `src/` but `lib.rs`, `main.rs`).
fn top_level_modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let name = name.strip_suffix(".rs").map(str::to_string).unwrap_or(name);
            (name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

/// Code without comments and without its `#[cfg(test)] mod tests` (tests may use anything). A
/// comment starts at `//` at the start of a line or after a space (so `"https://..."` stays).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines()
        .map(|l| {
            let comment = l
                .match_indices("//")
                .map(|(i, _)| i)
                .find(|&i| i == 0 || l[..i].ends_with(char::is_whitespace));
            match comment {
                Some(i) => &l[..i],
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::` paths, grouped imports
/// (`use crate::{a::b, c}`) included.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let start = from + i + "crate::".len();
        from = start;
        if bytes.get(start) == Some(&b'{') {
            // The top-level names of the group: those at brace depth 1.
            let (mut depth, mut item, mut j) = (1, String::new(), start + 1);
            while j < bytes.len() && depth > 0 {
                let c = bytes[j] as char;
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 1 && c == ',' {
                    push_ident(&item, &mut out);
                    item.clear();
                } else if depth == 1 && c != '{' {
                    item.push(c);
                }
                j += 1;
            }
            push_ident(&item, &mut out);
        } else {
            push_ident(&code[start..], &mut out);
        }
    }
    out
}

fn push_ident(s: &str, out: &mut BTreeSet<String>) {
    let ident: String = s
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() {
        out.insert(ident);
    }
}

/// Module → the other top-level modules it uses.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let modules = top_level_modules();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut deps: BTreeMap<String, BTreeSet<String>> =
        modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in files {
        let relative = file.strip_prefix(src()).unwrap();
        let first = relative.iter().next().unwrap().to_str().unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_string();
        let Some(used) = deps.get_mut(&module) else {
            continue; // lib.rs, main.rs
        };
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        used.extend(
            crate_references(&code)
                .into_iter()
                .filter(|m| modules.contains(m) && *m != module),
        );
    }
    deps
}

/// A path from `from` back to `to` through `deps`, if any.
fn path_between(deps: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap().clone();
        if last == to {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in deps.get(&last).into_iter().flatten() {
            let mut p = path.clone();
            p.push(next.clone());
            stack.push(p);
        }
    }
    None
}

#[test]
fn the_reference_scanner_sees_plain_and_grouped_imports() {
    let code = code_of(
        "use crate::{\n    crd::{A, B},\n    params::Params,\n    text,\n};\nfn f() { crate::render::x(); } // crate::lease\n// crate::plan in a comment\nconst U: &str = \"https://x\"; fn g() { crate::sources::y(); }\n",
    );
    let found: Vec<String> = crate_references(&code).into_iter().collect();
    assert_eq!(found, ["crd", "params", "render", "sources", "text"]);
}

#[test]
fn top_level_modules_form_no_import_cycle() {
    let deps = dependencies();
    assert!(deps.len() > 10, "modules found: {:?}", deps.keys());
    let mut cycles = Vec::new();
    for (module, used) in &deps {
        for other in used {
            if let Some(back) = path_between(&deps, other, module) {
                cycles.push(format!("{module} -> {}", back.join(" -> ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules: {cycles:#?}"
    );
    // The cut this test exists for: the template engine does not reach back into generators.
    assert!(!deps["render"].contains("generators"));
    assert!(deps["generators"].contains("render"), "generators use the engine");
}

#[test]
fn architecture_and_crate_docs_name_every_module_and_only_those() {
    let modules = top_level_modules();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    for module in &modules {
        let file = if src().join(module).is_dir() {
            format!("`{module}/`")
        } else {
            format!("`{module}.rs`")
        };
        assert!(
            architecture.contains(&file),
            "ARCHITECTURE.md does not describe {file}"
        );
        assert!(
            lib.contains(&format!("[`{module}`]")) || lib.contains(&format!("[`{module}`](")),
            "the crate doc in src/lib.rs does not name {module}"
        );
        assert!(
            lib.contains(&format!("pub mod {module};")),
            "src/lib.rs does not declare {module}"
        );
    }
    // Every `src/...` file or folder that ARCHITECTURE.md names exists.
    for (i, _) in architecture.match_indices("`src/") {
        let rest = &architecture[i + 1..];
        let path = &rest[..rest.find('`').unwrap()];
        assert!(
            root.join(path).exists(),
            "ARCHITECTURE.md names {path}, which does not exist"
        );
    }
}

/// The modules of ARCHITECTURE.md's module table, in its order (rows starting `| \`name.rs\``
/// or `| \`name/\``).
fn architecture_table_order() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    architecture
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter_map(|name| name.strip_suffix(".rs").or_else(|| name.strip_suffix('/')))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_module_table_is_in_import_order() {
    let deps = dependencies();
    let order = architecture_table_order();
    let listed: BTreeSet<&String> = order.iter().collect();
    let modules: BTreeSet<String> = top_level_modules();
    assert_eq!(
        listed,
        modules.iter().collect(),
        "the table lists every module once"
    );
    assert_eq!(order.len(), modules.len(), "no module listed twice");
    for (i, module) in order.iter().enumerate() {
        for used in &deps[module] {
            let at = order.iter().position(|m| m == used).unwrap();
            assert!(
                at < i,
                "ARCHITECTURE.md lists {module} above {used}, which it imports: move {used} up"
            );
        }
    }
}

#[test]
fn modules_with_submodules_use_mod_rs() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut mixed = Vec::new();
    for file in files {
        let dir = file.with_extension("");
        if dir.is_dir() {
            mixed.push(file.strip_prefix(src()).unwrap().display().to_string());
        }
    }
    assert!(mixed.is_empty(), "use name/mod.rs instead of: {mixed:?}");
}
