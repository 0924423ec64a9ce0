// The console's built assets are embedded with include_dir, which cannot tell Cargo to watch them.
fn main() {
    println!("cargo:rerun-if-changed=../../console/dist");
}
