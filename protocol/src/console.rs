//! How app lines are labelled on a terminal, shared by `pmx logs` and the foreground
//! runtimes (`pmx run`, `pmx dev`): `id|name |` with names padded to the widest (SPEC §3),
//! coloured per app in order of first appearance.

use std::collections::BTreeMap;

/// The ANSI colours apps get, in order of first appearance (then again from the first).
pub const COLOURS: [&str; 6] = ["36", "32", "35", "33", "34", "31"];

/// `id|name |`, the name padded to `width` characters.
pub fn prefix(id: u64, app: &str, width: usize) -> String {
    format!("{id}|{app:<width$} |")
}

/// Each app's colour, given at its first line.
#[derive(Debug, Default)]
pub struct Palette(BTreeMap<String, usize>);

impl Palette {
    /// `label` in `app`'s colour (an ANSI escape around it).
    pub fn paint(&mut self, app: &str, label: &str) -> String {
        let k = self.0.len();
        let c = *self.0.entry(app.to_string()).or_insert(k % COLOURS.len());
        format!("\x1b[{}m{label}\x1b[0m", COLOURS[c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_padded_and_each_app_keeps_its_colour() {
        assert_eq!(prefix(3, "api", 6), "3|api    |");
        let mut p = Palette::default();
        assert_eq!(p.paint("a", "L"), "\x1b[36mL\x1b[0m");
        assert_eq!(p.paint("b", "L"), "\x1b[32mL\x1b[0m");
        assert_eq!(p.paint("a", "M"), "\x1b[36mM\x1b[0m");
    }
}
