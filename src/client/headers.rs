//! Header lists: merging defaults with caller headers, case-insensitively.
//!
//! A hop's list is rebuilt for every request from the session's and the
//! request's lists, so its entries borrow from them (`Cow::Borrowed`) and
//! the first `INLINE` entries live inside the list itself: building the
//! headers of a typical request allocates nothing. Only values made for the
//! hop (a merged Cookie, a hook's edit) are owned.
use std::borrow::Cow;

use smallvec::SmallVec;

use crate::proto::list_has_token;

/// Entries kept without a heap allocation; a request rarely has more.
const INLINE: usize = 12;

type Entry<'a> = (Cow<'a, str>, Cow<'a, str>);

/// An ordered header list; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList<'a>(SmallVec<[Entry<'a>; INLINE]>);

impl<'a> HeaderList<'a> {
    /// Replaces every field named `name` with one `name: value`, keeping the
    /// position of the first one.
    pub fn set(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        let name = name.into();
        match self.position(&name) {
            Some(i) => {
                let mut j = i + 1;
                while j < self.0.len() {
                    if self.0[j].0.eq_ignore_ascii_case(&name) {
                        self.0.remove(j);
                    } else {
                        j += 1;
                    }
                }
                self.0[i] = (name, value.into());
            }
            None => self.0.push((name, value.into())),
        }
    }

    /// Appends without replacing (for fields that may repeat).
    pub fn add(&mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        self.0.push((name.into(), value.into()));
    }

    /// Adds a field a caller gave: repeats are kept, except Host. One Host
    /// on the wire, always (RFC 9112 §3.2: a server must answer two with
    /// 400, and intermediaries disagree on which wins), so a second Host
    /// replaces the first, as the first replaces the one the library makes.
    pub fn add_from_caller(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) {
        let name = name.into();
        if name.eq_ignore_ascii_case("host") {
            self.set(name, value);
        } else {
            self.add(name, value);
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    #[inline]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|i| &*self.0[i].1)
    }

    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case(name) && list_has_token(v.as_bytes(), token.as_bytes())
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_every_field_of_the_name_in_the_first_place() {
        let mut h = HeaderList::default();
        h.add("A", "1");
        h.add("b", "2");
        h.add("a", "3");
        h.set("a", String::from("4"));
        assert_eq!(h.iter().collect::<Vec<_>>(), [("a", "4"), ("b", "2")]);
        h.remove("B");
        assert!(h.get("b").is_none());
        h.add("Connection", "keep-alive, Upgrade");
        assert!(h.has_token("connection", "upgrade"));
    }

    #[test]
    fn a_typical_request_fits_inline() {
        let mut h = HeaderList::default();
        for i in 0..INLINE {
            h.add("X-Name", if i % 2 == 0 { "even" } else { "odd" });
        }
        assert!(!h.0.spilled());
    }
}
