//! Plugin bundles: a `.tar.gz` with a `plugin.json` manifest, at its top or in its one top-level
//! directory (Mattermost's layout). Unpacking is where an upload is checked, so it refuses
//! anything that could reach outside the plugin's directory or fill the disk:
//! - entries with absolute paths or `..`, links of any kind (symbolic or hard), devices and fifos;
//! - more than [`MAX_ENTRIES`] entries or more than [`MAX_UNPACKED_BYTES`] unpacked;
//! - a manifest that is missing, not JSON, with an invalid id, or naming an executable outside
//!   the bundle (or missing from it).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest bundle accepted (Mattermost's `MaximumPluginFileSize`).
pub const MAX_BUNDLE_BYTES: usize = 50 << 20;
/// The most a bundle may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 200 << 20;
/// The most entries a bundle may have.
pub const MAX_ENTRIES: usize = 10_000;

/// Why a bundle was refused: said to the admin who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError(pub String);

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError(why.into()))
}

/// The server part of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestServer {
    /// By `<os>-<arch>` (`linux-amd64`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub executables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub executable: String,
    /// `python` runs the executable with a Python interpreter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
}

/// The webapp part of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestWebapp {
    #[serde(default)]
    pub bundle_path: String,
}

/// `plugin.json` (Mattermost's `Manifest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub homepage_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub support_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_notes_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_path: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_server_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ManifestServer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webapp: Option<ManifestWebapp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Value>,
}

/// How to start a plugin's server part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// Inside the plugin's directory.
    pub path: PathBuf,
    /// Run with a Python interpreter.
    pub python: bool,
}

impl Manifest {
    /// Parse and check a manifest; the id is lower-cased (as Mattermost reads it).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, BundleError> {
        let mut m: Manifest = match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => return refuse(format!("plugin.json is not a valid manifest: {e}")),
        };
        m.id = m.id.to_lowercase();
        if !crate::extensions::valid_id(&m.id) {
            return refuse("the manifest's id must be 3 to 190 characters: letters, digits, '-', '_' and '.' only");
        }
        if m.server.is_none() && m.webapp.is_none() {
            return refuse("the manifest has neither a server nor a webapp part");
        }
        if let Some(s) = &m.server {
            if s.executable.is_empty() && s.executables.is_empty() {
                return refuse("the manifest's server part names no executable");
            }
        }
        Ok(m)
    }

    /// The executable for this machine, checked to stay inside the bundle.
    pub fn executable(&self) -> Result<Option<Executable>, BundleError> {
        let Some(s) = &self.server else { return Ok(None) };
        let key = format!("{}-{}", std::env::consts::OS, go_arch());
        let path = s.executables.get(&key).filter(|p| !p.is_empty()).unwrap_or(&s.executable);
        if path.is_empty() {
            return refuse(format!("the manifest has no server executable for {key}"));
        }
        let path = clean_relative(path).ok_or_else(|| {
            BundleError(format!("the server executable {path:?} must be a relative path inside the bundle"))
        })?;
        let python = s.runtime == "python" || path.extension().is_some_and(|e| e == "py");
        Ok(Some(Executable { path, python }))
    }

    /// The manifest clients see (`GET /plugins/webapp`): no server part, no settings.
    pub fn client(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "version": self.version,
            "min_server_version": self.min_server_version,
            "webapp": self.webapp.as_ref().map(|w| serde_json::json!({"bundle_path": w.bundle_path})),
        })
    }
}

/// Go's name for this machine's architecture.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `path` as plain components (no root, no `..`, no `.`), or None.
fn clean_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Unpack `bundle` into `dest` (which must not exist yet) and read its manifest. Answers the
/// manifest and the plugin's root: `dest`, or its one top-level directory.
pub fn unpack(bundle: &[u8], dest: &Path) -> Result<(Manifest, PathBuf), BundleError> {
    if bundle.len() > MAX_BUNDLE_BYTES {
        return refuse(format!("the bundle is over {} MiB", MAX_BUNDLE_BYTES >> 20));
    }
    if std::fs::create_dir(dest).is_err() {
        return refuse("the plugin directory could not be made");
    }
    let result = unpack_entries(bundle, dest).and_then(|()| read_manifest(dest));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

fn unpack_entries(bundle: &[u8], dest: &Path) -> Result<(), BundleError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(_) => return refuse("the bundle is not a .tar.gz file"),
    };
    let (mut count, mut total) = (0usize, 0u64);
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(_) => return refuse("the bundle is not a valid .tar.gz file"),
        };
        count += 1;
        if count > MAX_ENTRIES {
            return refuse(format!("the bundle has more than {MAX_ENTRIES} entries"));
        }
        let raw = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => return refuse("the bundle has an entry whose name is not valid"),
        };
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            continue; // metadata the reader applies itself
        }
        let Some(rel) = clean_relative(&raw) else {
            if raw.trim_matches('/').is_empty() || raw == "." || raw == "./" {
                continue; // the archive's own root
            }
            return refuse(format!("the bundle's entry {raw:?} points outside the plugin's directory"));
        };
        let target = dest.join(&rel);
        if kind.is_dir() {
            make_dir(dest, &rel)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                make_dir(dest, parent)?;
            }
            let size = entry.header().size().unwrap_or(u64::MAX);
            total = total.saturating_add(size);
            if total > MAX_UNPACKED_BYTES {
                return refuse(format!("the bundle unpacks to more than {} MiB", MAX_UNPACKED_BYTES >> 20));
            }
            let executable = entry.header().mode().map(|m| m & 0o111 != 0).unwrap_or(false);
            write_file(&mut entry, &target, size, executable)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            return refuse(format!("the bundle's entry {raw:?} is a link; links are not allowed in plugin bundles"));
        } else {
            return refuse(format!("the bundle's entry {raw:?} is not a file or a directory"));
        }
    }
    if count == 0 {
        return refuse("the bundle is empty");
    }
    Ok(())
}

/// Make `rel` under `root`, refusing to go through anything that is not a plain directory.
fn make_dir(root: &Path, rel: &Path) -> Result<(), BundleError> {
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return refuse(format!("the bundle uses {:?} as both a file and a directory", rel)),
            Err(_) => {
                if std::fs::create_dir(&at).is_err() {
                    return refuse("the plugin could not be unpacked");
                }
            }
        }
    }
    Ok(())
}

fn write_file(entry: &mut impl Read, target: &Path, size: u64, executable: bool) -> Result<(), BundleError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    // create_new: an entry repeated (or a path made earlier) is refused rather than overwritten.
    let mut f = match std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(target) {
        Ok(f) => f,
        Err(_) => return refuse(format!("the bundle has {:?} twice", target.file_name().unwrap_or_default())),
    };
    let mut limited = entry.take(size.min(MAX_UNPACKED_BYTES));
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => return refuse("the bundle is not a valid .tar.gz file (truncated?)"),
        };
        if f.write_all(&buf[..n]).is_err() {
            return refuse("the plugin could not be unpacked");
        }
    }
    Ok(())
}

/// Find the manifest at the top, or in the one top-level directory.
fn read_manifest(dest: &Path) -> Result<(Manifest, PathBuf), BundleError> {
    let mut root = dest.to_path_buf();
    if !root.join("plugin.json").is_file() {
        let tops: Vec<PathBuf> =
            std::fs::read_dir(dest).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        if let [only] = tops.as_slice() {
            if only.is_dir() {
                root = only.clone();
            }
        }
    }
    let manifest_path = root.join("plugin.json");
    if !manifest_path.is_file() {
        if root.join("plugin.yaml").is_file() || root.join("plugin.yml").is_file() {
            return refuse("YAML manifests are not supported: the bundle needs a plugin.json");
        }
        return refuse("the bundle has no plugin.json manifest");
    }
    let bytes = std::fs::read(&manifest_path).map_err(|_| BundleError("plugin.json could not be read".into()))?;
    let manifest = Manifest::parse(&bytes)?;
    if let Some(exe) = manifest.executable()? {
        match std::fs::symlink_metadata(root.join(&exe.path)) {
            Ok(m) if m.is_file() => {}
            _ => return refuse(format!("the server executable {:?} is not in the bundle", exe.path)),
        }
    }
    Ok((manifest, root))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `.tar.gz` of `entries`: (path, kind, contents); kind is `f`ile, `x` (executable), `d`ir,
    /// `l`ink (to contents), `h`ard link.
    pub fn targz(entries: &[(&str, char, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, kind, body) in entries {
            let mut h = tar::Header::new_gnu();
            // Written raw, so paths the builder would refuse ("../x", "/etc/x") can be tested.
            let name = path.as_bytes();
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name);
            match kind {
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                }
                'l' | 'h' => {
                    h.set_entry_type(if *kind == 'l' { tar::EntryType::Symlink } else { tar::EntryType::Link });
                    h.set_link_name(body).unwrap();
                    h.set_size(0);
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(if *kind == 'x' { 0o755 } else { 0o644 });
                    h.set_size(body.len() as u64);
                }
            }
            h.set_cksum();
            let data: &[u8] = if matches!(kind, 'f' | 'x') { body.as_bytes() } else { &[] };
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    const MANIFEST: &str =
        r#"{"id":"Com.Example.Demo","name":"Demo","version":"1.0.0","server":{"executable":"server/run.py"}}"#;

    fn dest(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("starling-bundle-{tag}-{}", starling_protocol::new_id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_bundle_in_one_top_directory_unpacks_with_its_manifest() {
        let b =
            targz(&[("demo/", 'd', ""), ("demo/plugin.json", 'f', MANIFEST), ("demo/server/run.py", 'x', "print()")]);
        let d = dest("ok");
        let (m, root) = unpack(&b, &d).unwrap();
        assert_eq!(m.id, "com.example.demo");
        assert_eq!(root, d.join("demo"));
        let exe = m.executable().unwrap().unwrap();
        assert!(exe.python);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(&exe.path)).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "the executable bit survives");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hostile_bundles_are_refused_and_leave_nothing_behind() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (targz(&[("plugin.json", 'f', MANIFEST), ("../escape", 'f', "x")]), "outside"),
            (targz(&[("plugin.json", 'f', MANIFEST), ("/etc/evil", 'f', "x")]), "outside"),
            (targz(&[("plugin.json", 'f', MANIFEST), ("a/../../b", 'f', "x")]), "outside"),
            (targz(&[("plugin.json", 'f', MANIFEST), ("server", 'l', "/etc")]), "link"),
            (targz(&[("plugin.json", 'f', MANIFEST), ("x", 'h', "/etc/passwd")]), "link"),
            (targz(&[("server/run.py", 'x', "")]), "no plugin.json"),
            (targz(&[("plugin.json", 'f', "{not json"), ("server/run.py", 'x', "")]), "not a valid manifest"),
            (targz(&[("plugin.json", 'f', r#"{"id":"../../x","server":{"executable":"a"}}"#)]), "id"),
            (targz(&[("plugin.json", 'f', r#"{"id":"good.id"}"#)]), "neither"),
            (
                targz(&[("plugin.json", 'f', r#"{"id":"good.id","server":{"executable":"../../bin/sh"}}"#)]),
                "relative path inside",
            ),
            (
                targz(&[("plugin.json", 'f', r#"{"id":"good.id","server":{"executable":"missing"}}"#)]),
                "not in the bundle",
            ),
            (targz(&[("plugin.json", 'f', MANIFEST), ("plugin.json", 'f', MANIFEST)]), "twice"),
            (b"this is not gzip at all".to_vec(), ".tar.gz"),
            (vec![0u8; MAX_BUNDLE_BYTES + 1], "over 50 MiB"),
        ];
        for (i, (bundle, why)) in cases.iter().enumerate() {
            let d = dest("bad");
            let err = unpack(bundle, &d).expect_err(why);
            assert!(err.0.contains(why), "case {i}: {err:?} should say {why:?}");
            assert!(!d.exists(), "case {i}: a refused bundle leaves no directory");
            assert!(!d.parent().unwrap().join("escape").exists());
        }
    }

    #[test]
    fn a_bundle_that_unpacks_too_large_is_refused() {
        // Highly compressible: small as a bundle, over the limit unpacked (declared sizes count).
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut h = tar::Header::new_gnu();
        h.set_path("plugin.json").unwrap();
        h.set_size(MANIFEST.len() as u64);
        h.set_cksum();
        b.append(&h, MANIFEST.as_bytes()).unwrap();
        let big = MAX_UNPACKED_BYTES + 1;
        let mut h = tar::Header::new_gnu();
        h.set_path("server/zeros").unwrap();
        h.set_size(big);
        h.set_cksum();
        b.append(&h, std::io::repeat(0).take(big)).unwrap();
        let bundle = b.into_inner().unwrap().finish().unwrap();
        assert!(bundle.len() < MAX_BUNDLE_BYTES);
        let d = dest("big");
        let err = unpack(&bundle, &d).unwrap_err();
        assert!(err.0.contains("more than 200 MiB"), "{err:?}");
        assert!(!d.exists());
    }
}
