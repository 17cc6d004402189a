//! The algorithm allow-list (UDAP-2).
//!
//! The algorithm used to verify a token is decided here, from the token's `alg` string checked
//! against an explicit allow-list, before any key is touched. Only the four algorithms of the
//! UDAP IG §1.2.2 table can ever be allowed; `none` and HMAC are rejected with their own errors so
//! that logs show an attack rather than a misconfiguration.

use jsonwebtoken::Algorithm;

use super::error::{echo, JoseError};

/// Every algorithm this module implements, in the order discovery metadata lists them
/// (RS256 first: it is the one UDAP makes mandatory).
const SUPPORTED: [(Algorithm, &str); 4] = [
    (Algorithm::RS256, "RS256"),
    (Algorithm::RS384, "RS384"),
    (Algorithm::ES256, "ES256"),
    (Algorithm::ES384, "ES384"),
];

/// UDAP-2: an explicit allow-list of JWS algorithms.
///
/// Held as a bit set over [`SUPPORTED`], so membership tests on the hot path are a shift and a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgPolicy {
    mask: u8,
}

impl Default for AlgPolicy {
    /// UDAP-2: RS256, RS384, ES256 and ES384.
    fn default() -> Self {
        Self {
            mask: (1 << SUPPORTED.len()) - 1,
        }
    }
}

impl AlgPolicy {
    /// UDAP-2: build a policy from configured names such as `["RS256", "ES256"]`.
    ///
    /// Names are case-sensitive (RFC 7515 §4.1.1); surrounding whitespace is ignored. `none`, any
    /// `HS*`, names outside the UDAP table and an empty list are refused with an error that says
    /// what to configure instead. Duplicates are harmless.
    pub fn from_names(names: &[String]) -> Result<Self, JoseError> {
        let mut mask = 0u8;
        for raw in names {
            let name = raw.trim();
            check_not_forbidden(name)?;
            let bit = SUPPORTED
                .iter()
                .position(|(_, n)| *n == name)
                .ok_or_else(|| JoseError::AlgUnsupported { alg: echo(name) })?;
            mask |= 1 << bit;
        }
        if mask == 0 {
            return Err(JoseError::EmptyPolicy);
        }
        Ok(Self { mask })
    }

    /// UDAP-2: the allowed names, RS256 first, for discovery metadata
    /// (`token_endpoint_auth_signing_alg_values_supported`, …).
    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(|(_, n)| n).collect()
    }

    /// UDAP-2: whether `alg` is on the allow-list.
    pub fn contains(&self, alg: Algorithm) -> bool {
        self.iter().any(|(a, _)| a == alg)
    }

    /// UDAP-2: decide the verification algorithm from a token's `alg` header value.
    ///
    /// Order matters for diagnosis: `none` and HMAC are named as such even when the policy would
    /// also reject them as "not allowed".
    pub fn check(&self, alg: &str) -> Result<Algorithm, JoseError> {
        check_not_forbidden(alg)?;
        self.iter()
            .find(|(_, n)| *n == alg)
            .map(|(a, _)| a)
            .ok_or_else(|| JoseError::AlgNotAllowed { alg: echo(alg) })
    }

    fn iter(&self) -> impl Iterator<Item = (Algorithm, &'static str)> + '_ {
        SUPPORTED
            .iter()
            .enumerate()
            .filter(|(i, _)| self.mask & (1 << i) != 0)
            .map(|(_, pair)| *pair)
    }
}

/// The JOSE name of an algorithm this module supports (UDAP-2).
pub(crate) fn alg_name(alg: Algorithm) -> Result<&'static str, JoseError> {
    SUPPORTED
        .iter()
        .find(|(a, _)| *a == alg)
        .map(|(_, n)| *n)
        .ok_or_else(|| JoseError::AlgUnsupported {
            alg: format!("{alg:?}"),
        })
}

/// UDAP-2: `none` and HMAC are refused whatever the policy says.
///
/// `none` is matched case-insensitively because some libraries once accepted `None`/`NONE`; HMAC
/// likewise, since a public key used as a MAC secret is the classic key-confusion attack.
fn check_not_forbidden(alg: &str) -> Result<(), JoseError> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(JoseError::AlgNone);
    }
    if alg.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("HS")) {
        return Err(JoseError::HmacForbidden { alg: echo(alg) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    // UDAP-2: default allow-list, RS256 listed first for discovery.
    #[test]
    fn default_lists_the_four_udap_algs() {
        assert_eq!(
            AlgPolicy::default().names(),
            vec!["RS256", "RS384", "ES256", "ES384"]
        );
    }

    // UDAP-2: configuration errors are specific and say what to do.
    #[test]
    fn from_names_table() {
        type Case<'a> = (&'a [&'a str], Result<Vec<&'a str>, JoseError>);
        let cases: &[Case] = &[
            (&["RS256"], Ok(vec!["RS256"])),
            (&["ES256", " RS256 ", "ES256"], Ok(vec!["RS256", "ES256"])),
            (&["none"], Err(JoseError::AlgNone)),
            (&["NONE"], Err(JoseError::AlgNone)),
            (
                &["RS256", "HS256"],
                Err(JoseError::HmacForbidden {
                    alg: "HS256".into(),
                }),
            ),
            (
                &["PS256"],
                Err(JoseError::AlgUnsupported {
                    alg: "PS256".into(),
                }),
            ),
            (
                &["EdDSA"],
                Err(JoseError::AlgUnsupported {
                    alg: "EdDSA".into(),
                }),
            ),
            (
                &["rs256"],
                Err(JoseError::AlgUnsupported {
                    alg: "rs256".into(),
                }),
            ),
            (
                &["RSA256"],
                Err(JoseError::AlgUnsupported {
                    alg: "RSA256".into(),
                }),
            ),
            (&[], Err(JoseError::EmptyPolicy)),
        ];
        for (input, want) in cases {
            let got = AlgPolicy::from_names(&names(input)).map(|p| p.names());
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    // UDAP-2: messages an administrator can act on.
    #[test]
    fn config_errors_name_the_fix() {
        let e = AlgPolicy::from_names(&names(&["HS256"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("HS256") && e.contains("RS256"), "{e}");
        let e = AlgPolicy::from_names(&names(&["FOO"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("FOO") && e.contains("RS256, RS384, ES256 and ES384"),
            "{e}"
        );
        let e = AlgPolicy::from_names(&[]).unwrap_err().to_string();
        assert!(e.contains("RS256"), "{e}");
    }

    // UDAP-2: header alg decisions, before any key is used.
    #[test]
    fn check_table() {
        let narrow = AlgPolicy::from_names(&names(&["RS256"])).unwrap();
        let cases: &[(&str, Result<Algorithm, JoseError>)] = &[
            ("RS256", Ok(Algorithm::RS256)),
            ("none", Err(JoseError::AlgNone)),
            ("None", Err(JoseError::AlgNone)),
            (
                "HS256",
                Err(JoseError::HmacForbidden {
                    alg: "HS256".into(),
                }),
            ),
            (
                "hs512",
                Err(JoseError::HmacForbidden {
                    alg: "hs512".into(),
                }),
            ),
            (
                "ES256",
                Err(JoseError::AlgNotAllowed {
                    alg: "ES256".into(),
                }),
            ),
            (
                "PS256",
                Err(JoseError::AlgNotAllowed {
                    alg: "PS256".into(),
                }),
            ),
            ("", Err(JoseError::AlgNotAllowed { alg: "".into() })),
        ];
        for (alg, want) in cases {
            assert_eq!(&narrow.check(alg), want, "alg {alg:?}");
        }
        assert!(narrow.contains(Algorithm::RS256));
        assert!(!narrow.contains(Algorithm::ES256));
    }
}
