//! Embeds the bundled examples (every `.yaml` under `generators/` and `templates/`) for the
//! playground's Examples menu (`src/playground.rs`): writes `$OUT_DIR/examples.rs`, a list of
//! `(path, include_str!(file))`. A build script rather than the `include_dir` crate because cargo
//! then rebuilds when an example is added, removed or edited (include_dir tracks none of that on
//! a stable compiler).

use std::{fs, io, path::Path};

fn yaml_files(dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml") {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    let mut files = Vec::new();
    for dir in ["generators", "templates"] {
        println!("cargo::rerun-if-changed={dir}");
        yaml_files(&root.join(dir), &mut files)?;
    }
    let mut code = String::from("&[\n");
    for file in &files {
        let name = Path::new(file)
            .strip_prefix(root)
            .map_or(file.as_str(), |p| p.to_str().unwrap_or(file));
        code.push_str(&format!("    ({name:?}, include_str!({file:?})),\n"));
    }
    code.push_str("]\n");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out).join("examples.rs"), code)
}
