//! Clew's web UI: the assets Vite built from `ui/` (see `build.rs`), embedded in the binary,
//! and [`serve`], the handler that answers every path the APIs do not.
//!
//! Owns: file lookup, content types, caching headers, and the single-page-app rule (any
//! other page path gets `index.html`, so `/trace/{id}` works on reload). Must not touch:
//! APIs or their data; the UI reaches Clew only through the public HTTP APIs.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

static ASSETS: Dir<'static> = include_dir!("$OUT_DIR/ui");

/// Answers a request no API route took: a built asset, `index.html` for page paths, and a
/// plain 404 for unknown `/api/…` paths (an API client must not get a web page).
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response();
    }
    if path == "/api" || path.starts_with("/api/") || path.starts_with("/tempo/") {
        return (StatusCode::NOT_FOUND, format!("no API route {path}\n")).into_response();
    }
    let name = path.trim_start_matches('/');
    if !name.is_empty()
        && let Some(file) = ASSETS.get_file(name)
    {
        // Vite puts a content hash in every name under assets/: those never change.
        let cache = if name.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return asset(file.contents(), content_type(name), cache);
    }
    if name.starts_with("assets/") || name.contains('.') {
        return (StatusCode::NOT_FOUND, format!("no file {path}\n")).into_response();
    }
    match ASSETS.get_file("index.html") {
        Some(index) => asset(index.contents(), "text/html; charset=utf-8", "no-cache"),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the UI was built without index.html\n",
        )
            .into_response(),
    }
}

fn asset(bytes: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(path: &str) -> (StatusCode, String, String, String) {
        let app = Router::new().fallback(serve);
        let res = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let header = |h| {
            res.headers()
                .get(h)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (ct, cache) = (header(header::CONTENT_TYPE), header(header::CACHE_CONTROL));
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            ct,
            cache,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn pages_get_index_html_and_assets_their_type() {
        for page in [
            "/",
            "/search?service=a",
            "/trace/0af7651916cd43dd8448eb211c80319c",
        ] {
            let (status, ct, cache, body) = get(page).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert!(ct.starts_with("text/html"), "{page}: {ct}");
            assert_eq!(cache, "no-cache");
            assert!(body.contains("<div id=\"app\">"), "{page}");
        }
        let (_, _, _, index) = get("/").await;
        let script = index
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("index.html loads a script");
        assert!(script.starts_with("/assets/"), "{script}");
        let (status, ct, cache, _) = get(script).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/javascript"));
        assert!(cache.contains("immutable"));
    }

    #[tokio::test]
    async fn unknown_api_paths_and_files_are_404_not_the_page() {
        for path in [
            "/api/nope",
            "/api",
            "/tempo/x",
            "/assets/missing.js",
            "/favicon.ico",
        ] {
            let (status, ct, _, _) = get(path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(!ct.starts_with("text/html"), "{path}");
        }
    }

    #[test]
    fn the_build_embedded_no_foreign_urls() {
        // The UI must work without network access beyond Clew itself.
        fn files<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
            out.extend(dir.files());
            for d in dir.dirs() {
                files(d, out);
            }
        }
        let mut all = Vec::new();
        files(&ASSETS, &mut all);
        assert!(all.len() >= 3, "index.html, a script and a style sheet");
        for file in all {
            let text = String::from_utf8_lossy(file.contents());
            for foreign in [
                "https://fonts.",
                "//cdn.",
                "googleapis.com",
                "unpkg.com",
                "jsdelivr",
            ] {
                assert!(
                    !text.contains(foreign),
                    "{} mentions {foreign}",
                    file.path().display()
                );
            }
        }
    }
}
