//! The session helper for the session benchmark (benches can only find
//! binaries of their own package). All logic is in colony-ns.

fn main() {
    colony_ns::session::helper_main()
}
