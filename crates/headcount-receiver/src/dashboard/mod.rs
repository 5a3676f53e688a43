//! The dashboard: a static page at `/` that charts the released tables in the browser
//! (docs/usage/receiver.md#dashboard).
//!
//! Every file is compiled into the binary; nothing is read from disk and nothing here touches a
//! counter. The page's script reads `/v1/counts` and `/v1/series` with relative URLs, so it shows
//! exactly what the public views serve: released periods only. The charting library is uPlot,
//! vendored from npm by `vendor/refresh.sh` (version and hashes in `vendor/SOURCE`).
//!
//! Every answer carries a Content-Security-Policy that lets the page load and fetch from its own
//! origin only: no other host is ever asked for anything, even if a value in the data were
//! crafted to look like markup (the script also only ever inserts text).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The dashboard's page.
pub const INDEX_PATH: &str = "/";
/// Where its scripts, styles and the charting library's licence are served.
pub const ASSETS_PREFIX: &str = "/dashboard/";
/// Same origin only; no inline script or style; not framed; no `<base>` to redirect relative URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
/// Revalidated on every load (a 304 while the binary is the same), so an upgraded receiver
/// never serves a page with last version's script.
const CACHE_CONTROL: &str = "no-cache";

/// One file of the dashboard.
#[derive(Debug)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, compiled in.
    pub body: &'static [u8],
    /// Its strong validator, computed at compile time from the bytes.
    etag: &'static str,
}

/// FNV-1a, 64 bits: a validator for `ETag`, not a security hash (the bytes are our own).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `"` + 16 hex digits + `"`.
const fn etag_bytes(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($path:expr, $content_type:expr, $file:expr) => {{
        const BODY: &[u8] = include_bytes!($file);
        const ETAG: [u8; 18] = etag_bytes(BODY);
        Asset {
            path: $path,
            content_type: $content_type,
            body: BODY,
            etag: match std::str::from_utf8(&ETAG) {
                Ok(s) => s,
                Err(_) => panic!("an ETag is ASCII"),
            },
        }
    }};
}

/// Every file the dashboard serves, the page first.
pub const ASSETS: &[Asset] = &[
    asset!(INDEX_PATH, "text/html; charset=utf-8", "index.html"),
    asset!(
        "/dashboard/app.js",
        "text/javascript; charset=utf-8",
        "app.js"
    ),
    asset!(
        "/dashboard/style.css",
        "text/css; charset=utf-8",
        "style.css"
    ),
    asset!("/dashboard/icon.svg", "image/svg+xml", "icon.svg"),
    asset!(
        "/dashboard/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        "vendor/uPlot.iife.min.js"
    ),
    asset!(
        "/dashboard/uPlot.min.css",
        "text/css; charset=utf-8",
        "vendor/uPlot.min.css"
    ),
    asset!(
        "/dashboard/uPlot.LICENSE",
        "text/plain; charset=utf-8",
        "vendor/uPlot.LICENSE"
    ),
];

/// The dashboard's routes (GET, and HEAD with the same headers), ready to merge into the
/// receiver's router.
pub fn routes() -> Router {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move |headers: HeaderMap| serve(asset, headers)),
        )
    })
}

async fn serve(asset: &'static Asset, request: HeaderMap) -> Response {
    let unchanged = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == asset.etag
        });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, asset.etag),
        (header::CACHE_CONTROL, CACHE_CONTROL),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower_service::Service;

    async fn answer(
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = routes()
            .call(request.body(Body::empty()).expect("a request"))
            .await
            .expect("the router never fails");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a body");
        (parts.status, parts.headers, bytes.to_vec())
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_validator_and_policy() {
        for a in ASSETS {
            let (status, headers, body) = answer(Method::GET, a.path, &[]).await;
            assert_eq!(status, StatusCode::OK, "{}", a.path);
            assert_eq!(body, a.body, "{}", a.path);
            assert_eq!(headers[header::CONTENT_TYPE], a.content_type);
            assert_eq!(headers[header::ETAG], a.etag);
            assert_eq!(headers[header::CACHE_CONTROL], CACHE_CONTROL);
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        // The page, with a query string (the view chosen on it), is the same page.
        let (status, _, body) = answer(Method::GET, "/?window=monthly&last=12", &[]).await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, ASSETS[0].body));
    }

    #[tokio::test]
    async fn a_known_validator_is_answered_304_and_head_has_no_body() {
        let app = &ASSETS[1];
        for tag in [
            app.etag,
            "\"0000000000000000\", *",
            &format!("W/{}", app.etag),
        ] {
            let (status, headers, body) =
                answer(Method::GET, app.path, &[("If-None-Match", tag)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{tag}");
            assert!(body.is_empty());
            assert_eq!(headers[header::ETAG], app.etag);
        }
        let (status, _, body) = answer(
            Method::GET,
            app.path,
            &[("If-None-Match", "\"0000000000000000\"")],
        )
        .await;
        assert_eq!((status, body.len()), (StatusCode::OK, app.body.len()));
        let (status, headers, body) = answer(Method::HEAD, "/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn nothing_else_is_served() {
        for path in [
            "/dashboard/",
            "/dashboard/app.js.map",
            "/index.html",
            "/dashboard/../app.js",
        ] {
            let (status, _, _) = answer(Method::GET, path, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, headers, _) = answer(Method::POST, "/", &[]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(headers.contains_key(header::ALLOW));
    }

    #[test]
    fn etags_differ_by_content_and_are_quoted_hex() {
        let tags: std::collections::BTreeSet<&str> = ASSETS.iter().map(|a| a.etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
        for a in ASSETS {
            assert_eq!(a.etag.len(), 18, "{}", a.path);
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        // The FNV-1a test vector: "a" -> af63dc4c8601ec8c.
        assert_eq!(&etag_bytes(b"a"), b"\"af63dc4c8601ec8c\"");
    }

    #[test]
    fn every_asset_is_under_the_prefix_and_loaded_by_a_relative_url() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap_or_default();
        for a in &ASSETS[1..] {
            assert!(a.path.starts_with(ASSETS_PREFIX), "{}", a.path);
            let relative = format!("\"{}\"", a.path.trim_start_matches('/'));
            assert!(
                page.contains(&relative),
                "index.html does not name {relative}"
            );
        }
    }

    #[test]
    fn our_files_name_no_absolute_or_root_relative_url() {
        // The vendored library is checked by its hashes (vendor/SOURCE): its one URL is in a
        // comment. The icon's only `://` is the SVG namespace, a name that is never fetched.
        for a in ASSETS
            .iter()
            .filter(|a| !a.path.contains("uPlot") && !a.path.ends_with(".svg"))
        {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            assert!(!text.is_empty(), "{}", a.path);
            assert!(!text.contains("://"), "{} names an absolute URL", a.path);
            for root in ["\"/", "'/", "`/", "url(/"] {
                assert!(
                    !text.contains(root),
                    "{} has a root-relative URL ({root})",
                    a.path
                );
            }
        }
    }
}
