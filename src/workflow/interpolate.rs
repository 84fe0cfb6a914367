//! Interpolation of `${...}` variables (filled in by a helper).
