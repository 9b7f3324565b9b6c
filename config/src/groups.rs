//! The rules across apps and groups (SPEC §4, §5), one function for the file and the
//! socket: the walk over an ecosystem file reports each broken rule at its position, the
//! daemon (`pmx-actors`' `validate_specs`) refuses a `start`/`up` whose groups break one,
//! so a raw socket client cannot build what a file may not declare.

use std::collections::HashMap;

use crate::values::suggest;

/// Where a broken rule is, by index into what [`check_groups`] was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The name of `apps[i]`.
    App(usize),
    /// The name of `groups[g]`.
    Group(usize),
    /// Member `m` of `groups[g]`.
    Member(usize, usize),
}

/// One broken rule across apps and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError {
    /// The name it is about.
    pub at: At,
    /// For a repeated app or group name: where it was first used (the file adds
    /// "first used on line N").
    pub first: Option<At>,
    /// What is wrong, lower-case (`group "g" names unknown app "wbe", did you mean "web"?`).
    pub message: String,
}

/// The rules across apps and groups, in order: app names are unique; group names are
/// unique and unlike any app's; every member is a known app, listed once in its group,
/// and in at most one group. `apps` are the apps' names,
/// `groups` each group's name and members. Returns every broken rule, in the order of
/// `apps` then `groups` (empty when all hold). Names themselves (`all`, digits, `/`) are
/// checked apart, by [`crate::validate_name`], and so is a group without members (the
/// file points at its empty list).
pub fn check_groups(apps: &[&str], groups: &[(&str, &[String])]) -> Vec<GroupError> {
    let mut errors = Vec::new();
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, a) in apps.iter().enumerate() {
        if let Some(&p) = first.get(a) {
            errors.push(GroupError {
                at: At::App(i),
                first: Some(At::App(p)),
                message: format!("duplicate app name \"{a}\""),
            });
        } else {
            first.insert(a, i);
        }
    }
    let mut group_first: HashMap<&str, usize> = HashMap::new();
    let mut member_of: HashMap<&str, &str> = HashMap::new();
    for (gi, (g, members)) in groups.iter().enumerate() {
        if first.contains_key(g) {
            errors.push(GroupError {
                at: At::Group(gi),
                first: None,
                message: format!("group \"{g}\" has the same name as an app"),
            });
        }
        if let Some(&p) = group_first.get(g) {
            errors.push(GroupError {
                at: At::Group(gi),
                first: Some(At::Group(p)),
                message: format!("duplicate group name \"{g}\""),
            });
        } else {
            group_first.insert(g, gi);
        }
        let mut here: Vec<&str> = Vec::new();
        for (mi, m) in members.iter().enumerate() {
            let m = m.as_str();
            let message = if !first.contains_key(m) {
                Some(match suggest(m, apps) {
                    Some(s) => {
                        format!("group \"{g}\" names unknown app \"{m}\", did you mean \"{s}\"?")
                    }
                    None => format!("group \"{g}\" names unknown app \"{m}\""),
                })
            } else if here.contains(&m) {
                Some(format!("app \"{m}\" is listed twice in group \"{g}\""))
            } else if let Some(other) = member_of.get(m) {
                Some(format!(
                    "app \"{m}\" is already in group \"{other}\" (an app is in at most one group)"
                ))
            } else {
                member_of.insert(m, g);
                None
            };
            if let Some(message) = message {
                errors.push(GroupError {
                    at: At::Member(gi, mi),
                    first: None,
                    message,
                });
            }
            here.push(m);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(apps: &[&str], groups: &[(&str, &[&str])]) -> Vec<(At, Option<At>, String)> {
        let owned: Vec<(&str, Vec<String>)> = groups
            .iter()
            .map(|(g, m)| (*g, m.iter().map(|s| s.to_string()).collect()))
            .collect();
        let groups: Vec<(&str, &[String])> =
            owned.iter().map(|(g, m)| (*g, m.as_slice())).collect();
        check_groups(apps, &groups)
            .into_iter()
            .map(|e| (e.at, e.first, e.message))
            .collect()
    }

    /// One case: the apps, the groups (name, members), the errors expected.
    type Case<'a> = (
        &'a [&'a str],
        Vec<(&'a str, &'a [&'a str])>,
        Vec<(At, Option<At>, String)>,
    );

    #[test]
    fn each_rule_across_apps_and_groups() {
        use At::*;
        let none: Vec<(At, Option<At>, String)> = vec![];
        let cases: Vec<Case> = vec![
            (&["a", "b"], vec![("g", &["a", "b"])], none.clone()),
            (&["a", "b"], vec![("g", &["a"]), ("h", &["b"])], none),
            (
                &["a", "a"],
                vec![],
                vec![(App(1), Some(App(0)), "duplicate app name \"a\"".into())],
            ),
            (
                &["a"],
                vec![("a", &["a"])],
                vec![(
                    Group(0),
                    None,
                    "group \"a\" has the same name as an app".into(),
                )],
            ),
            (
                &["a", "b"],
                vec![("g", &["a"]), ("g", &["b"])],
                vec![(
                    Group(1),
                    Some(Group(0)),
                    "duplicate group name \"g\"".into(),
                )],
            ),
            (
                &["web"],
                vec![("g", &["wbe", "zzzzzz"])],
                vec![
                    (
                        Member(0, 0),
                        None,
                        "group \"g\" names unknown app \"wbe\", did you mean \"web\"?".into(),
                    ),
                    (
                        Member(0, 1),
                        None,
                        "group \"g\" names unknown app \"zzzzzz\"".into(),
                    ),
                ],
            ),
            (
                &["a"],
                vec![("g", &["a", "a"])],
                vec![(
                    Member(0, 1),
                    None,
                    "app \"a\" is listed twice in group \"g\"".into(),
                )],
            ),
            (
                &["a"],
                vec![("g", &["a"]), ("h", &["a"])],
                vec![(
                    Member(1, 0),
                    None,
                    "app \"a\" is already in group \"g\" (an app is in at most one group)".into(),
                )],
            ),
        ];
        for (apps, groups, want) in cases {
            assert_eq!(check(apps, &groups), want, "{apps:?} {groups:?}");
        }
    }
}
