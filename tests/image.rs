//! The container image (issue 14). The Containerfile's base images come from docker.io, which
//! these machines cannot reach, so this test builds the image's final stage with buildah (from
//! Debian) around the binary this test run built: the Containerfile's path, user and entrypoint,
//! the binary's shared libraries, nothing else. It then runs `appset --version` in it as that
//! non-root user (chroot isolation: no cgroups or user namespaces needed).
//!
//! `.ci/run` installs buildah; the test fails, rather than skips, when it is missing.

use std::{path::Path, process::Command};

/// The value of the Containerfile's last `INSTR` line.
fn containerfile(instruction: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Containerfile")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{instruction} ")))
        .next_back()
        .unwrap_or_else(|| panic!("no {instruction} in the Containerfile"))
        .trim()
        .to_string()
}

#[test]
fn the_image_runs_appset_as_its_non_root_user() {
    let store = tempfile::tempdir().unwrap();
    let buildah = |args: &[&str]| {
        let out = Command::new("buildah")
            .arg("--root")
            .arg(store.path().join("root"))
            .arg("--runroot")
            .arg(store.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("buildah (installed by .ci/run): {e}"));
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let user = containerfile("USER");
    let entrypoint: Vec<String> = serde_json::from_str(&containerfile("ENTRYPOINT")).unwrap();
    assert_ne!(user.split(':').next(), Some("0"), "the image runs as non-root");

    let ctr = buildah(&["from", "scratch"]);
    let root = buildah(&["mount", &ctr]);
    let binary = Path::new(env!("CARGO_BIN_EXE_appset"));
    let place = |from: &Path, to: &str| {
        let dest = Path::new(&root).join(to.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from, &dest).unwrap();
    };
    place(binary, &entrypoint[0]);
    let ldd = Command::new("ldd").arg(binary).output().unwrap();
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        place(&std::fs::canonicalize(lib).unwrap(), lib);
    }
    buildah(&[
        "config",
        "--user",
        &user,
        "--entrypoint",
        &containerfile("ENTRYPOINT"),
        &ctr,
    ]);
    let mut run = vec!["run", "--isolation", "chroot", "--user", &user, &ctr, "--"];
    run.extend(entrypoint.iter().map(String::as_str));
    run.push("--version");
    let version = buildah(&run);
    assert_eq!(version, format!("appset {}", env!("CARGO_PKG_VERSION")));
    buildah(&["rm", &ctr]);
}
