// `sqlx::migrate!` embeds the migrations at compile time; without this, a migration
// added without a change to the Rust sources would not be built in.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
