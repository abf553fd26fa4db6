//! Builds the web UI (`ui/` at the repository root) with npm and Vite into `$OUT_DIR/ui`,
//! which `src/lib.rs` embeds. Runs again only when the UI's sources or lock file change.
//! Needs Node.js 20+ and npm (the README's requirements); packages come from the npm
//! registry into `ui/node_modules`, at the versions `package-lock.json` pins.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

type BuildResult = Result<(), Box<dyn std::error::Error>>;

fn main() -> BuildResult {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(env::var("OUT_DIR")?).join("ui");
    for input in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    if needs_install(&ui) {
        // `npm install`, not `npm ci`: the registry these machines reach serves no other
        // platform's optional packages (rollup's native binaries), so the lock file lists
        // only this platform's, and `npm ci` refuses such a lock as out of sync. With the lock
        // present, `npm install` installs exactly the locked versions and leaves it unchanged.
        npm(
            &ui,
            &["install", "--no-audit", "--no-fund", "--loglevel=error"],
        )?;
    }
    let out_arg = out.to_string_lossy().into_owned();
    npm(
        &ui,
        &[
            "run",
            "build",
            "--",
            "--outDir",
            &out_arg,
            "--emptyOutDir",
            "--logLevel",
            "warn",
        ],
    )?;
    if !out.join("index.html").is_file() {
        return Err(format!("the UI build wrote no index.html into {}", out.display()).into());
    }
    Ok(())
}

/// Whether `node_modules` is missing or older than the lock file (npm writes its own copy
/// of the lock into `node_modules/.package-lock.json` on every install).
fn needs_install(ui: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&ui.join("package-lock.json")),
        modified(&ui.join("node_modules/.package-lock.json")),
    ) {
        (Some(lock), Some(installed)) => installed < lock,
        _ => true,
    }
}

fn npm(dir: &Path, args: &[&str]) -> BuildResult {
    match Command::new("npm").args(args).current_dir(dir).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "`npm {}` in {} failed ({s}); see its output above",
            args.join(" "),
            dir.display()
        )
        .into()),
        Err(e) => Err(format!(
            "building the web UI needs Node.js 20+ and npm on the PATH (README.md): running npm failed: {e}"
        )
        .into()),
    }
}
