//! Which children a supervisor restarts when one fails: OTP's restart strategies.
//!
//! Children are numbered by start order (a group's declared `apps`, an app's instances).
//! [`Strategy::affected`] returns the indices to restart; the shell then restarts them as
//! OTP does: it **stops** the affected children in **reverse** start order
//! (`range.rev()`), each after the previous has exited, then **starts** them in start
//! order (`range`), each spawned before the next. The failed child is in the range but
//! has already exited, so stopping it is a no-op.

use std::ops::Range;

/// A supervisor's restart strategy (ecosystem `strategy:`, OTP `strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the failed child (OTP `one_for_one`, the default).
    #[default]
    OneForOne,
    /// Restart every child (OTP `one_for_all`).
    OneForAll,
    /// Restart the failed child and every child started after it (OTP `rest_for_one`).
    RestForOne,
}

impl Strategy {
    /// The indices, in start order, of the children to restart when child `failed` of
    /// `children_in_start_order` children has failed.
    ///
    /// `OneForOne`: `failed..failed + 1`; `OneForAll`: `0..n`; `RestForOne`: `failed..n`.
    /// An index `failed >= n` names no child, so the range is empty (a late exit of a
    /// child the supervisor no longer holds restarts nothing).
    pub fn affected(&self, children_in_start_order: usize, failed: usize) -> Range<usize> {
        let n = children_in_start_order;
        if failed >= n {
            return n..n;
        }
        match self {
            Strategy::OneForOne => failed..failed + 1,
            Strategy::OneForAll => 0..n,
            Strategy::RestForOne => failed..n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Strategy::*;

    #[test]
    fn affected_children_by_strategy() {
        // (strategy, children, failed, affected)
        let cases = [
            (OneForOne, 1, 0, 0..1),
            (OneForOne, 4, 2, 2..3),
            (OneForAll, 1, 0, 0..1),
            (OneForAll, 4, 2, 0..4),
            (OneForAll, 4, 0, 0..4),
            (RestForOne, 4, 0, 0..4),
            (RestForOne, 4, 2, 2..4),
            (RestForOne, 4, 3, 3..4),
            // An index outside the children restarts nothing.
            (OneForOne, 4, 4, 4..4),
            (OneForAll, 4, 9, 4..4),
            (RestForOne, 0, 0, 0..0),
        ];
        for (strategy, n, failed, expected) in cases {
            assert_eq!(
                strategy.affected(n, failed),
                expected,
                "{strategy:?} n={n} failed={failed}"
            );
        }
    }

    #[test]
    fn default_is_one_for_one() {
        assert_eq!(Strategy::default(), OneForOne);
    }

    #[test]
    fn restarts_stop_in_reverse_and_start_in_order() {
        let affected = RestForOne.affected(5, 1);
        let stop: Vec<usize> = affected.clone().rev().collect();
        let start: Vec<usize> = affected.collect();
        assert_eq!(stop, [4, 3, 2, 1]);
        assert_eq!(start, [1, 2, 3, 4]);
    }
}
