//! The on-disk cache of compiled kernel modules, so that a second start on the same machine
//! skips NVRTC: one file per module, named by the SHA-256 of everything the machine code depends
//! on (the CUDA source, the target architecture and form, the NVRTC version), and holding a
//! checksum of its contents, so that a torn or altered file reads as a miss. Pure file handling;
//! compiling is left to the caller (`compile.rs`), which makes the cache testable without NVRTC.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a module is compiled to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// Machine code for one `sm_XX` (loaded as is, no JIT).
    Cubin,
    /// PTX for one `compute_XX`, JIT-compiled by the driver (the fallback).
    Ptx,
}

impl Form {
    fn extension(self) -> &'static str {
        match self {
            Form::Cubin => "cubin",
            Form::Ptx => "ptx",
        }
    }
}

/// Everything a compiled module depends on besides its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// The architecture as NVRTC numbers it: 90 for `sm_90`.
    pub arch: i32,
    pub form: Form,
    /// NVRTC's `(major, minor)`.
    pub nvrtc: (i32, i32),
}

impl Target {
    /// The NVRTC option that selects this target.
    pub fn option(&self) -> String {
        match self.form {
            Form::Cubin => format!("--gpu-architecture=sm_{}", self.arch),
            Form::Ptx => format!("--gpu-architecture=compute_{}", self.arch),
        }
    }
}

/// The file name of the module compiled from `source` for `target`: a SHA-256 over a format
/// tag, the target and the source.
pub(crate) fn key(source: &str, target: &Target) -> String {
    let mut h = Sha256::new();
    h.update(b"shatter-cuda-module-1\0");
    h.update(
        format!(
            "{}\0{}\0{}.{}\0",
            target.form.extension(),
            target.arch,
            target.nvrtc.0,
            target.nvrtc.1
        )
        .as_bytes(),
    );
    h.update(source.as_bytes());
    format!("{}.{}", hex::encode(h.finalize()), target.form.extension())
}

/// Leads every cache file, before the payload's SHA-256 and the payload.
const MAGIC: &[u8; 8] = b"SHCUMOD1";

/// A folder of compiled modules, or none (caching off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskCache {
    dir: Option<PathBuf>,
}

impl DiskCache {
    /// The cache in `dir` (created on the first store).
    pub fn at(dir: impl Into<PathBuf>) -> DiskCache {
        DiskCache {
            dir: Some(dir.into()),
        }
    }

    /// No caching: every lookup misses, every store is dropped.
    pub fn off() -> DiskCache {
        DiskCache { dir: None }
    }

    /// The cache the environment asks for: `SHATTER_CUDA_CACHE` (a folder, or `off`), else
    /// `$XDG_CACHE_HOME/shatter/cuda`, else `$HOME/.cache/shatter/cuda`, else none.
    pub fn from_env() -> DiskCache {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// [`DiskCache::from_env`] with the variables read through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> DiskCache {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        if let Some(v) = set("SHATTER_CUDA_CACHE") {
            if v == "off" || v == "0" {
                return DiskCache::off();
            }
            return DiskCache::at(v);
        }
        if let Some(v) = set("XDG_CACHE_HOME") {
            return DiskCache::at(Path::new(&v).join("shatter/cuda"));
        }
        match set("HOME") {
            Some(v) => DiskCache::at(Path::new(&v).join(".cache/shatter/cuda")),
            None => DiskCache::off(),
        }
    }

    /// The folder, if caching is on.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The module stored under `key`, or `None` when it is absent, unreadable or fails its
    /// checksum.
    pub fn lookup(&self, key: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.dir.as_ref()?.join(key)).ok()?;
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        if rest.len() < 32 {
            return None;
        }
        let (sum, payload) = rest.split_at(32);
        (Sha256::digest(payload).as_slice() == sum).then(|| payload.to_vec())
    }

    /// Stores `payload` under `key`, atomically (a temporary file in the folder, then a rename),
    /// so that a reader never sees half a module. Does nothing when caching is off.
    ///
    /// # Errors
    /// The I/O error when the folder cannot be created or written.
    pub fn store(&self, key: &str, payload: &[u8]) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(payload))?;
            f.write_all(payload)?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(key))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// Where a built module came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Cache,
    Compiled,
}

/// The modules for `sources`, in order: each one read from `cache` when it holds it, the rest
/// compiled by `compile` in parallel (one thread per module) and stored. A failed store is not
/// an error (the module is still returned); a failed compile is, the first in source order.
pub(crate) fn build<E: Send>(
    sources: &[&str],
    target: &Target,
    cache: &DiskCache,
    compile: impl Fn(&str) -> Result<Vec<u8>, E> + Sync,
) -> Result<Vec<(Vec<u8>, Origin)>, E> {
    let keys: Vec<String> = sources.iter().map(|s| key(s, target)).collect();
    let found: Vec<Option<Vec<u8>>> = keys.iter().map(|k| cache.lookup(k)).collect();
    let compiled: Vec<Option<Result<Vec<u8>, E>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .zip(&found)
            .map(|(src, hit)| {
                let compile = &compile;
                hit.is_none().then(|| scope.spawn(move || compile(src)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.map(|h| match h.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(sources.len());
    for ((k, hit), made) in keys.iter().zip(found).zip(compiled) {
        match (hit, made) {
            (Some(bytes), _) => out.push((bytes, Origin::Cache)),
            (None, Some(made)) => {
                let bytes = made?;
                // The cache only saves time: a read-only or full disk must not stop a run.
                let _ = cache.store(k, &bytes);
                out.push((bytes, Origin::Compiled));
            }
            (None, None) => unreachable!("every miss was compiled"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HOPPER: Target = Target {
        arch: 90,
        form: Form::Cubin,
        nvrtc: (13, 0),
    };

    #[test]
    fn keys_change_with_source_arch_form_and_nvrtc_version() {
        let k = key("a", &HOPPER);
        assert!(k.ends_with(".cubin") && k.len() == 64 + 6, "{k}");
        assert_eq!(k, key("a", &HOPPER));
        let others = [
            key("b", &HOPPER),
            key("a", &Target { arch: 89, ..HOPPER }),
            key(
                "a",
                &Target {
                    form: Form::Ptx,
                    ..HOPPER
                },
            ),
            key(
                "a",
                &Target {
                    nvrtc: (12, 9),
                    ..HOPPER
                },
            ),
        ];
        for o in &others {
            assert_ne!(*o, k);
        }
        assert_eq!(HOPPER.option(), "--gpu-architecture=sm_90");
        let ptx = Target {
            form: Form::Ptx,
            ..HOPPER
        };
        assert_eq!(ptx.option(), "--gpu-architecture=compute_90");
    }

    #[test]
    fn the_cache_serves_what_was_compiled_and_recompiles_what_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(tmp.path().join("nested/cuda"));
        let calls = AtomicUsize::new(0);
        let compile = |s: &str| -> Result<Vec<u8>, String> {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(format!("image of {s}").into_bytes())
        };
        let sources = ["one", "two", "three"];
        let first = build(&sources, &HOPPER, &cache, compile).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(first.iter().all(|(_, o)| *o == Origin::Compiled));
        assert_eq!(first[1].0, b"image of two");
        // A second start compiles nothing and gets the same bytes, in order.
        let second = build(&sources, &HOPPER, &cache, compile).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(second.iter().all(|(_, o)| *o == Origin::Cache));
        assert_eq!(
            first.iter().map(|x| &x.0).collect::<Vec<_>>(),
            second.iter().map(|x| &x.0).collect::<Vec<_>>()
        );
        // Another NVRTC version misses everything; a new source misses only itself.
        let newer = Target {
            nvrtc: (13, 1),
            ..HOPPER
        };
        build(&sources, &newer, &cache, compile).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 6);
        let mixed = build(&["one", "four"], &HOPPER, &cache, compile).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        assert_eq!((mixed[0].1, mixed[1].1), (Origin::Cache, Origin::Compiled));
        // A damaged file is a miss, recompiled and repaired.
        let path = tmp.path().join("nested/cuda").join(key("two", &HOPPER));
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.lookup(&key("two", &HOPPER)), None);
        std::fs::write(&path, b"SHCU").unwrap();
        assert_eq!(cache.lookup(&key("two", &HOPPER)), None);
        let again = build(&sources, &HOPPER, &cache, compile).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 8);
        assert_eq!(again[1], (b"image of two".to_vec(), Origin::Compiled));
        assert_eq!(
            cache.lookup(&key("two", &HOPPER)),
            Some(b"image of two".to_vec())
        );
        // No temporary files are left behind.
        let names: Vec<String> = std::fs::read_dir(tmp.path().join("nested/cuda"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert_eq!(names.len(), 7);
    }

    #[test]
    fn a_failed_compile_is_an_error_and_stores_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiskCache::at(tmp.path());
        let compile = |s: &str| -> Result<Vec<u8>, String> {
            if s == "bad" {
                Err("error: bad".into())
            } else {
                Ok(s.as_bytes().to_vec())
            }
        };
        let err = build(&["good", "bad"], &HOPPER, &cache, compile).unwrap_err();
        assert_eq!(err, "error: bad");
        assert_eq!(cache.lookup(&key("bad", &HOPPER)), None);
        assert_eq!(cache.lookup(&key("good", &HOPPER)), Some(b"good".to_vec()));
    }

    #[test]
    fn modules_compile_in_parallel() {
        // Three compiles that each wait for all three to have started finish only if they run
        // at the same time.
        let started = AtomicUsize::new(0);
        let compile = |s: &str| -> Result<Vec<u8>, String> {
            started.fetch_add(1, Ordering::SeqCst);
            let t0 = std::time::Instant::now();
            while started.load(Ordering::SeqCst) < 3 {
                if t0.elapsed() > std::time::Duration::from_secs(20) {
                    return Err("compiled one after another".into());
                }
                std::thread::yield_now();
            }
            Ok(s.as_bytes().to_vec())
        };
        let out = build(&["a", "b", "c"], &HOPPER, &DiskCache::off(), compile).unwrap();
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn off_caches_nothing_and_the_environment_chooses_the_folder() {
        let off = DiskCache::off();
        off.store("k", b"x").unwrap();
        assert_eq!(off.lookup("k"), None);
        fn vars(
            pairs: &'static [(&'static str, &'static str)],
        ) -> impl Fn(&str) -> Option<std::ffi::OsString> {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        }
        const HOME: &[(&str, &str)] = &[("HOME", "/h")];
        assert_eq!(
            DiskCache::from_vars(vars(HOME)).dir(),
            Some(Path::new("/h/.cache/shatter/cuda"))
        );
        const XDG: &[(&str, &str)] = &[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")];
        assert_eq!(
            DiskCache::from_vars(vars(XDG)).dir(),
            Some(Path::new("/x/shatter/cuda"))
        );
        const SET: &[(&str, &str)] = &[("HOME", "/h"), ("SHATTER_CUDA_CACHE", "/c")];
        assert_eq!(DiskCache::from_vars(vars(SET)).dir(), Some(Path::new("/c")));
        const OFF: &[(&str, &str)] = &[("HOME", "/h"), ("SHATTER_CUDA_CACHE", "off")];
        assert_eq!(DiskCache::from_vars(vars(OFF)).dir(), None);
        assert_eq!(DiskCache::from_vars(vars(&[])).dir(), None);
    }
}
