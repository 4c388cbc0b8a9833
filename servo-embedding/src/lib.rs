//! Embeds Servo for one WEFT app session.
//!
//! The Servo shell issue fills this crate in: it builds a Servo instance and a WebView for an
//! app's `ui/`, injects the `weft.channel` binding and bridges it to the session's endpoint.
//! Until then it only links Servo, so that the (long) Servo build is part of every build and
//! its cache stays warm.

/// The Servo version this crate embeds, as pinned in the workspace.
pub const SERVO_VERSION: &str = "0.7.0";

/// Returns the Servo build this crate was linked against (forces Servo to link).
pub fn servo_type_name() -> &'static str {
    std::any::type_name::<servo::Servo>()
}
