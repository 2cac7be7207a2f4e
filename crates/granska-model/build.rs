//! Finds ONNX Runtime's shared library in the onnxruntime wheel at build time, so a plain
//! `cargo build` after `scripts/setup.sh` runs without ORT_DYLIB_PATH. Looks in the
//! workspace's `.venv` first, then asks `$GRANSKA_PYTHON` or `python3` where onnxruntime lives.
//! Finding nothing is not an error here: the engine then reports how to install it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GRANSKA_PYTHON");
    println!("cargo:rerun-if-env-changed=GRANSKA_ORT_BUILD_PATH");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = std::env::var("GRANSKA_ORT_BUILD_PATH").ok().map(PathBuf::from).or_else(|| {
        let venv_python = root.join(".venv/bin/python");
        let python = std::env::var("GRANSKA_PYTHON")
            .ok()
            .map(PathBuf::from)
            .unwrap_or_else(|| if venv_python.exists() { venv_python } else { PathBuf::from("python3") });
        let out = Command::new(&python)
            .args(["-c", "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))"])
            .output()
            .ok()?;
        let capi = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        let mut libs: Vec<PathBuf> = std::fs::read_dir(&capi)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
            .collect();
        libs.sort();
        libs.pop()
    });
    if let Some(p) = found {
        println!("cargo:rerun-if-changed={}", p.display());
        println!("cargo:rustc-env=GRANSKA_ORT_BUILD_PATH={}", p.display());
    } else {
        println!("cargo:warning=onnxruntime not found at build time; set ORT_DYLIB_PATH at run time (see README)");
    }
}
