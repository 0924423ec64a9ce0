// The content packs are embedded with include_dir, which cannot tell Cargo to watch them.
fn main() {
    println!("cargo:rerun-if-changed=../../content");
}
