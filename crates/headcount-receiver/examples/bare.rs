//! The benchmark's baseline: a bare axum endpoint that only parses the JSON body and answers
//! 202, with no validation, no counting and no storage. `bench/run.sh` measures it beside the
//! real receiver so the ratio says what durability and validation cost on this machine.
//!
//! Usage: `bare ADDR` (for example `bare 127.0.0.1:8081`).

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;

async fn report(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{addr}");
    let app = Router::new().route("/v1/report", post(report));
    axum::serve(listener, app).await
}
