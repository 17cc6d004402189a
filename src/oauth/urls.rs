//! This server's endpoint URLs, derived once from the configured base URL, and URL comparison.

/// Absolute URLs of every endpoint, all under the FHIR base URL (UDAP-7: `{baseURL}/.well-known/udap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The base URL exactly as configured: issuer and FHIR base (UDAP-10 compares it byte for byte).
    pub base: String,
    pub udap_metadata: String,
    pub smart_configuration: String,
    pub registration: String,
    pub token: String,
    pub authorization: String,
    pub jwks: String,
    pub introspection: String,
    pub revocation: String,
    /// The path prefix under which routes are mounted ("" or "/fhir").
    pub path_prefix: String,
}

impl Endpoints {
    pub fn new(base_url: &str) -> Self {
        let root = base_url.trim_end_matches('/');
        let at = |p: &str| format!("{root}{p}");
        let path_prefix = url::Url::parse(base_url)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Endpoints {
            base: base_url.to_string(),
            udap_metadata: at("/.well-known/udap"),
            smart_configuration: at("/.well-known/smart-configuration"),
            registration: at("/register"),
            token: at("/token"),
            authorization: at("/authorize"),
            jwks: at("/jwks"),
            introspection: at("/introspect"),
            revocation: at("/revoke"),
            path_prefix,
        }
    }
}

/// Compares two URLs after normalisation (scheme and host case, default ports, an empty path and
/// a lone trailing slash), as the IG suggests for `aud` (UDAP-15, UDAP-33).
pub fn same_url(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(x), Ok(y)) => {
            x.scheme() == y.scheme()
                && x.host_str() == y.host_str()
                && x.port_or_known_default() == y.port_or_known_default()
                && x.path().trim_end_matches('/') == y.path().trim_end_matches('/')
                && x.query() == y.query()
                && x.username() == y.username()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_live_under_the_base_path() {
        let e = Endpoints::new("https://as.example.org/fhir/");
        assert_eq!(e.token, "https://as.example.org/fhir/token");
        assert_eq!(
            e.udap_metadata,
            "https://as.example.org/fhir/.well-known/udap"
        );
        assert_eq!(e.path_prefix, "/fhir");
        assert_eq!(e.base, "https://as.example.org/fhir/");
        assert_eq!(Endpoints::new("http://127.0.0.1:8080").path_prefix, "");
    }

    #[test]
    fn url_comparison_normalises_only_harmless_differences() {
        assert!(same_url(
            "https://AS.example.org:443/fhir/register",
            "https://as.example.org/fhir/register"
        ));
        assert!(same_url(
            "https://as.example.org/fhir/register/",
            "https://as.example.org/fhir/register"
        ));
        assert!(!same_url(
            "http://as.example.org/fhir/register",
            "https://as.example.org/fhir/register"
        ));
        assert!(!same_url(
            "https://as.example.org/register",
            "https://as.example.org/fhir/register"
        ));
        assert!(!same_url(
            "https://evil.example/fhir/register",
            "https://as.example.org/fhir/register"
        ));
        assert!(!same_url("not a url", "https://as.example.org/"));
    }
}
