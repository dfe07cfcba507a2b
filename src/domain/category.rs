use super::ParseError;
use std::fmt;

/// A problem category a report can name (`login`, `website`, ...).
///
/// Same alphabet as a slug but with `_` allowed, at most 32 characters.
/// Whether a category is valid *for a service* is checked against that
/// service's [`CategoryList`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Category(s.to_owned()))
        } else {
            Err(ParseError::new(
                "invalid_category",
                format!(
                    "a category is 1 to {} characters of a-z, 0-9, '-' and '_'",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The categories one service accepts: non-empty, without repeats, in the
/// order the operator gave them (the dashboard shows them in that order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CategoryList(Vec<Category>);

impl CategoryList {
    /// The most a service may have; a report button with more is unusable.
    pub const MAX: usize = 32;

    /// What a service gets when its operator names none.
    pub fn default_list() -> Self {
        CategoryList(
            ["login", "website", "app", "api", "other"]
                .iter()
                .map(|c| Category((*c).to_owned()))
                .collect(),
        )
    }

    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, ParseError> {
        if items.is_empty() {
            return Ok(Self::default_list());
        }
        if items.len() > Self::MAX {
            return Err(ParseError::new(
                "too_many_categories",
                format!("a service has at most {} categories", Self::MAX),
            ));
        }
        let mut out: Vec<Category> = Vec::with_capacity(items.len());
        for item in items {
            let c = Category::parse(item.as_ref())?;
            if out.contains(&c) {
                return Err(ParseError::new(
                    "duplicate_category",
                    format!("the category '{c}' is listed twice"),
                ));
            }
            out.push(c);
        }
        Ok(CategoryList(out))
    }

    /// Finds the category a client named, if this service accepts it.
    pub fn find(&self, name: &str) -> Option<&Category> {
        self.0.iter().find(|c| c.as_str() == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_gives_the_defaults() {
        let l = CategoryList::parse::<&str>(&[]).unwrap();
        let names: Vec<_> = l.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["login", "website", "app", "api", "other"]);
    }

    #[test]
    fn refuses_repeats_and_bad_names() {
        assert_eq!(
            CategoryList::parse(&["a", "a"]).unwrap_err().code,
            "duplicate_category"
        );
        assert_eq!(
            CategoryList::parse(&["Bad Name"]).unwrap_err().code,
            "invalid_category"
        );
    }

    #[test]
    fn finds_members_only() {
        let l = CategoryList::parse(&["login", "api"]).unwrap();
        assert!(l.find("api").is_some());
        assert!(l.find("website").is_none());
    }
}
