//! The session helper: builds and enters session namespaces for a tokio
//! process that must not do so itself. All logic is in the library.

fn main() {
    colony_ns::session::helper_main()
}
