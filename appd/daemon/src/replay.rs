//! Replays a recording against a fresh core.
