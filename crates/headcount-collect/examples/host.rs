//! Prints this machine's full report: `cargo run -p headcount-collect --example host [ROOT]`.
fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "/".into());
    let r = headcount_collect::build_report(
        std::path::Path::new(&root),
        headcount_report::Level::Full,
        &[],
        headcount_report::Window::Daily,
        chrono::Utc::now(),
    );
    if let Some(r) = r {
        println!("{}", String::from_utf8_lossy(&r.to_body()));
        print!("{}", headcount_collect::render_text(&r));
    }
}
