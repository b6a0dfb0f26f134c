//! Email addresses and phone numbers, normalised once at the edge so the
//! database compares like with like (its check constraints say the same).

use std::fmt;

/// A lower-cased email address with one `@` and a dotted domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && !s.chars().any(char::is_whitespace)
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|label| !label.is_empty())
            });
        if valid { Ok(Self(s)) } else { Err("is not a valid email address") }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: optional `+`, then 10–15 digits. Spaces, dashes, dots and
/// parentheses are accepted on input and dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        if (10..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(format!("{plus}{digits}")))
        } else {
            Err("must be 10 to 15 digits, optionally starting with +")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse(" Nurse@Example.ORG ").unwrap().as_str(), "nurse@example.org");
        for bad in ["", "a", "a@b", "a@@b.c", "a b@c.d", "@b.c", "a@.c", "a@b."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phones_keep_digits_and_plus() {
        assert_eq!(Phone::parse("+91 98765-43210").unwrap().as_str(), "+919876543210");
        assert_eq!(Phone::parse("(555) 123.4567").unwrap().as_str(), "5551234567");
        for bad in ["", "12345", "+1234567890123456", "98765abcde", "++9876543210"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?}");
        }
    }
}
