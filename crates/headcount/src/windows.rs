//! The windows a machine reports in (`[reporting] windows`): daily and monthly unless a vendor
//! adds the weekly one, whose totals join Fedora's countme data.

use std::fmt;

use headcount_report::Window;

/// A set of windows, iterated shortest first (the order of [`Window::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows([bool; Window::ALL.len()]);

fn index(window: Window) -> usize {
    Window::ALL
        .iter()
        .position(|w| *w == window)
        .unwrap_or_default()
}

impl Windows {
    /// No window.
    pub const NONE: Windows = Windows([false; Window::ALL.len()]);
    /// Every window.
    pub const ALL: Windows = Windows([true; Window::ALL.len()]);
    /// The windows reported when no fragment says otherwise: daily and monthly (in the order of
    /// [`Window::ALL`]; a test checks it).
    pub const DEFAULT: Windows = Windows([true, false, true]);

    /// The windows reported when no fragment says otherwise: daily and monthly.
    pub fn default_set() -> Windows {
        Windows::DEFAULT
    }

    /// Whether `window` is in the set.
    pub fn contains(self, window: Window) -> bool {
        self.0[index(window)]
    }

    /// Adds `window`; false when it was there already.
    pub fn insert(&mut self, window: Window) -> bool {
        !std::mem::replace(&mut self.0[index(window)], true)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self == Windows::NONE
    }

    /// The windows, shortest first.
    pub fn iter(self) -> impl Iterator<Item = Window> {
        Window::ALL.into_iter().filter(move |w| self.contains(*w))
    }
}

impl Default for Windows {
    fn default() -> Self {
        Windows::default_set()
    }
}

impl FromIterator<Window> for Windows {
    fn from_iter<I: IntoIterator<Item = Window>>(iter: I) -> Self {
        let mut set = Windows::NONE;
        for w in iter {
            set.insert(w);
        }
        set
    }
}

/// `daily, weekly and monthly`: the names as a sentence.
impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Window::as_str).collect();
        match names.as_slice() {
            [] => f.write_str("no"),
            [one] => f.write_str(one),
            [rest @ .., last] => write!(f, "{} and {last}", rest.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_iterates_shortest_first_and_reads_as_a_sentence() {
        let all: Windows = [Window::Monthly, Window::Weekly, Window::Daily]
            .into_iter()
            .collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), Window::ALL);
        assert_eq!(all, Windows::ALL);
        let default: Windows = [Window::Daily, Window::Monthly].into_iter().collect();
        assert_eq!(default, Windows::DEFAULT);
        assert_eq!(all.to_string(), "daily, weekly and monthly");
        assert_eq!(Windows::default().to_string(), "daily and monthly");
        assert!(!Windows::default().contains(Window::Weekly));
        let mut one = Windows::NONE;
        assert!(one.is_empty() && one.insert(Window::Weekly) && !one.insert(Window::Weekly));
        assert_eq!(one.to_string(), "weekly");
    }
}
