//! Tests of the idle connection stack.
