//! Prints this machine's full report: `cargo run -p headcount-collect --example host [ROOT]`.
fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "/".into());
    // Files only: this example never asks a cloud metadata service.
    let c = headcount_collect::build_collection(
        std::path::Path::new(&root),
        headcount_report::Level::Full,
        &[],
        &headcount_report::Rules::default(),
        headcount_report::Window::Daily,
        chrono::Utc::now(),
        None,
    );
    if let Some(c) = c {
        println!("{}", String::from_utf8_lossy(&c.report.to_body()));
        print!("{}", headcount_collect::render_text(&c));
    }
}
