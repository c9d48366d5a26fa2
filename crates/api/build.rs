//! Gathers the domain crate's source into one file that `case_views` hashes into the format
//! of the case views it renders: `case_to_pb` calls domain methods (`Case::etag`,
//! `Case::next_deadline_at`, `TaskState::of` and its texts), so a change there can change a
//! stored view without any change to the conversion itself.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let domain = manifest.join("../domain/src");
    println!("cargo:rerun-if-changed={}", domain.display());
    let mut files = Vec::new();
    collect_rust_files(&domain, &mut files);
    files.sort();
    let mut gathered = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&domain).expect("under the domain source");
        gathered.extend_from_slice(relative.to_string_lossy().as_bytes());
        gathered.push(0);
        gathered.extend(fs::read(file).expect("read a domain source file"));
        gathered.push(0);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    fs::write(out.join("domain-source"), gathered).expect("write the gathered domain source");
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read the domain source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}
