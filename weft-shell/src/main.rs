//! The WEFT desktop shell. Placeholder: the Servo shell issue builds the window and binding.

fn main() {
    eprintln!("weft-shell: not built yet (see the Servo shell issue); use the test UI peer");
    std::process::exit(2);
}
