//! Map input pipeline.

mod cursor;
mod error;
mod path;
mod pattern;
mod value;

pub use error::ExprError;
pub use path::{item_get, path_get};
pub use value::canonical_json;
