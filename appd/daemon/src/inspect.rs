//! Follows a live session.
