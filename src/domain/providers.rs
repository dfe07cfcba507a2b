use super::{ParseError, ServiceSlug};

/// The providers a service declares it depends on (`depends_on`): the slugs
/// of other services, without repeats, in the order given. A provider need
/// not exist yet: a service may name `aws` before `aws` is added, and the
/// declaration counts from the moment it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ProviderList(Vec<ServiceSlug>);

impl ProviderList {
    /// The most one service may name. A service that depends on more than
    /// this many others has no useful upstream to blame.
    pub const MAX: usize = 16;

    /// Parses what an operator sent for `service`: valid slugs, at most
    /// [`ProviderList::MAX`], none twice, and not the service itself.
    pub fn parse<S: AsRef<str>>(service: &ServiceSlug, items: &[S]) -> Result<Self, ParseError> {
        if items.len() > Self::MAX {
            return Err(ParseError::new(
                "too_many_providers",
                format!("a service depends on at most {} providers", Self::MAX),
            ));
        }
        let mut out: Vec<ServiceSlug> = Vec::with_capacity(items.len());
        for item in items {
            let p = ServiceSlug::parse(item.as_ref())?;
            if &p == service {
                return Err(ParseError::new(
                    "depends_on_itself",
                    format!("the service '{service}' cannot depend on itself"),
                ));
            }
            if out.contains(&p) {
                return Err(ParseError::new(
                    "duplicate_provider",
                    format!("the provider '{p}' is listed twice"),
                ));
            }
            out.push(p);
        }
        Ok(ProviderList(out))
    }

    pub fn iter(&self) -> impl Iterator<Item = &ServiceSlug> {
        self.0.iter()
    }

    pub fn contains(&self, slug: &ServiceSlug) -> bool {
        self.0.contains(slug)
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

    fn slug(s: &str) -> ServiceSlug {
        ServiceSlug::parse(s).unwrap()
    }

    #[test]
    fn keeps_the_order_given() {
        let l = ProviderList::parse(&slug("slack"), &["cloudflare", "aws"]).unwrap();
        let names: Vec<_> = l.iter().map(ServiceSlug::as_str).collect();
        assert_eq!(names, ["cloudflare", "aws"]);
        assert!(l.contains(&slug("aws")) && !l.contains(&slug("gcp")));
        assert!(ProviderList::parse::<&str>(&slug("slack"), &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn refuses_itself_repeats_bad_slugs_and_too_many() {
        let code = |items: &[&str]| ProviderList::parse(&slug("slack"), items).unwrap_err().code;
        assert_eq!(code(&["slack"]), "depends_on_itself");
        assert_eq!(code(&["aws", "aws"]), "duplicate_provider");
        assert_eq!(code(&["AWS"]), "invalid_slug");
        let many: Vec<String> = (0..=ProviderList::MAX).map(|i| format!("p{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(code(&many), "too_many_providers");
        assert_eq!(
            ProviderList::parse(&slug("slack"), &many[..ProviderList::MAX])
                .unwrap()
                .len(),
            ProviderList::MAX
        );
    }
}
