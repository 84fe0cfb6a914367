//! Map input pipeline (filled in by a helper).
