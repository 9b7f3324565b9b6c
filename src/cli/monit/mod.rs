//! `pmx monit`'s parts that are not the loop (src/cli/verbs/monit.rs): the pure model
//! (state, keys, formatting; table-tested) and the drawing.

pub mod draw;
pub mod model;
