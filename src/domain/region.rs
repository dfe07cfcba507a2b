use super::ParseError;

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted, so a lookup is a
/// binary search. (Public standard data, 249 codes.)
const ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Where a reporter is: an ISO 3166-1 alpha-2 country code, stored upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    /// Accepts an assigned alpha-2 code in either case (`gb`, `GB`).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let upper = s.to_ascii_uppercase();
        if ALPHA2.binary_search(&upper.as_str()).is_ok() {
            let b = upper.as_bytes();
            Ok(Region([b[0], b[1]]))
        } else {
            Err(ParseError::new(
                "invalid_region",
                "region must be an ISO 3166-1 alpha-2 country code such as GB or US",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes come from ALPHA2, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_complete() {
        assert_eq!(ALPHA2.len(), 249);
        assert!(ALPHA2.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parses_assigned_codes_in_any_case() {
        assert_eq!(Region::parse("gb").unwrap().as_str(), "GB");
        assert_eq!(Region::parse("US").unwrap().as_str(), "US");
    }

    #[test]
    fn refuses_unassigned_and_malformed() {
        for s in ["UK", "XX", "G", "GBR", "", "ÄÄ"] {
            assert_eq!(Region::parse(s).unwrap_err().code, "invalid_region", "{s}");
        }
    }
}
