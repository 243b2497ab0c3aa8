//! Unit tests of the CLI: rendering, config resolution, error messages and follow.
