//! Embeds the web client's built bundle (`webapp/dist/`, committed, so a machine without Node
//! builds the same binary) into the node: `$OUT_DIR/webapp_assets.rs` lists every file with its
//! bytes, its gzipped bytes when that is smaller, and its content type. `src/api/webapp.rs`
//! serves them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("webapp").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files);
    } else {
        println!("cargo:warning=webapp/dist is missing: the node will serve no web client (cd webapp && npm ci && npm run build)");
    }
    files.sort();
    let mut code = String::from("/// (path under webapp/dist, bytes, gzipped bytes or empty, content type)\npub static ASSETS: &[(&str, &[u8], &[u8], &str)] = &[\n");
    for rel in &files {
        let path = dist.join(rel);
        let bytes = std::fs::read(&path).expect("read a webapp/dist file");
        let gz_path = out_dir.join(format!("webapp-{}.gz", rel.replace('/', "__")));
        let gz = gzip(&bytes);
        let gz_lit = if gz.len() + 64 < bytes.len() && compressible(rel) {
            std::fs::write(&gz_path, &gz).expect("write a gzipped asset");
            format!("include_bytes!({:?})", gz_path.display().to_string())
        } else {
            "b\"\"".to_owned()
        };
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?}), {gz_lit}, {:?}),",
            path.display().to_string(),
            content_type(rel)
        );
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("webapp_assets.rs"), code).expect("write webapp_assets.rs");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read webapp/dist").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

fn compressible(rel: &str) -> bool {
    [".js", ".css", ".html", ".svg", ".json", ".txt", ".map"].iter().any(|ext| rel.ends_with(ext))
}

fn content_type(rel: &str) -> &'static str {
    match rel.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
