//! SMART scopes, v1 and v2 grammar (SMART-31, SMART-32, SMART-34), and the rule that a client gets
//! at most what it registered: granted = requested ∩ registered.

use std::fmt;

/// Who the access is for: one patient, the user, or the client system (SMART-33).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScopeContext {
    Patient,
    User,
    System,
}

impl ScopeContext {
    fn as_str(self) -> &'static str {
        match self {
            ScopeContext::Patient => "patient",
            ScopeContext::User => "user",
            ScopeContext::System => "system",
        }
    }
}

/// Permission bits in SMART v2 order: c r u d s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Perms(u8);

impl Perms {
    const LETTERS: [(u8, char); 5] = [(1, 'c'), (2, 'r'), (4, 'u'), (8, 'd'), (16, 's')];
    pub const READ_V1: Perms = Perms(2 | 16);
    pub const WRITE_V1: Perms = Perms(1 | 4 | 8);
    pub const ALL: Perms = Perms(31);

    /// v2 permissions: a non-empty, ordered subset of `cruds` (SMART-31).
    fn parse_v2(s: &str) -> Option<Perms> {
        let mut bits = 0u8;
        let mut last = 0usize;
        for ch in s.chars() {
            let idx = Self::LETTERS.iter().position(|(_, c)| *c == ch)?;
            if bits != 0 && idx <= last {
                return None; // out of order or repeated
            }
            bits |= Self::LETTERS[idx].0;
            last = idx;
        }
        (bits != 0).then_some(Perms(bits))
    }

    pub fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn intersect(self, other: Perms) -> Perms {
        Perms(self.0 & other.0)
    }

    pub fn union(self, other: Perms) -> Perms {
        Perms(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in Self::LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A resource scope such as `system/Observation.rs?category=laboratory` or `patient/*.read`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: ScopeContext,
    /// A FHIR resource type, or `*`.
    pub resource: String,
    pub perms: Perms,
    /// Granular restriction (`?param=value`, SMART-34), kept verbatim.
    pub query: Option<String>,
    /// Written in v1 form (`.read`, `.write`, `.*`), so it is returned in v1 form (SMART-32).
    pub v1: bool,
}

impl ResourceScope {
    /// True when `self` (a registered scope) allows at least part of `req`.
    fn overlap(&self, req: &ResourceScope) -> Perms {
        let resource_ok = self.resource == "*" || self.resource == req.resource;
        let query_ok = self.query.is_none() || self.query == req.query;
        if self.context == req.context && resource_ok && query_ok {
            self.perms.intersect(req.perms)
        } else {
            Perms::default()
        }
    }

    fn render(&self, perms: Perms) -> String {
        let v1 = match perms {
            _ if !self.v1 => None,
            Perms::READ_V1 => Some("read"),
            Perms::WRITE_V1 => Some("write"),
            Perms::ALL => Some("*"),
            _ => None,
        };
        let perms = v1.map(String::from).unwrap_or_else(|| perms.to_string());
        match &self.query {
            Some(q) => format!(
                "{}/{}.{}?{}",
                self.context.as_str(),
                self.resource,
                perms,
                q
            ),
            None => format!("{}/{}.{}", self.context.as_str(), self.resource, perms),
        }
    }
}

/// One scope token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Resource(ResourceScope),
    /// Anything else (`openid`, `fhirUser`, `launch/patient`, `offline_access`, ...), matched exactly.
    Other(String),
}

/// Parses one scope token. Tokens that look like resource scopes but break the grammar are `None`
/// (they can never be granted).
pub fn parse(token: &str) -> Option<Scope> {
    let Some((ctx, rest)) = token.split_once('/') else {
        return Some(Scope::Other(token.to_string()));
    };
    let context = match ctx {
        "patient" => ScopeContext::Patient,
        "user" => ScopeContext::User,
        "system" => ScopeContext::System,
        _ => return Some(Scope::Other(token.to_string())),
    };
    let (body, query) = match rest.split_once('?') {
        Some((b, q)) if !q.is_empty() => (b, Some(q.to_string())),
        Some(_) => return None,
        None => (rest, None),
    };
    let (resource, perm_text) = body.split_once('.')?;
    let resource_ok = resource == "*"
        || (resource
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
            && resource.chars().all(|c| c.is_ascii_alphanumeric()));
    if !resource_ok {
        return None;
    }
    let (perms, v1) = match perm_text {
        "read" => (Perms::READ_V1, true),
        "write" => (Perms::WRITE_V1, true),
        "*" => (Perms::ALL, true),
        other => (Perms::parse_v2(other)?, false),
    };
    Some(Scope::Resource(ResourceScope {
        context,
        resource: resource.to_string(),
        perms,
        query,
        v1,
    }))
}

/// Parses a space-separated scope string, dropping tokens that cannot be parsed.
pub fn parse_all(scope: &str) -> Vec<Scope> {
    scope.split_ascii_whitespace().filter_map(parse).collect()
}

/// Most scope tokens considered in a request, and accepted in a registration. Granting compares
/// every requested scope with every registered one; without a bound a 64 KiB request against a
/// 64 KiB registration costs seconds of CPU (found by the `scope` fuzz target's speed).
pub const MAX_SCOPES: usize = 256;

/// Grants each requested scope as far as the registered scopes allow; `keep` filters which kinds
/// may be granted at all (e.g. only `system/` scopes for client_credentials). Returns the granted
/// scope tokens in request order, without duplicates. Only the first [`MAX_SCOPES`] tokens of
/// each list count: the rest are not granted (RFC 6749 §3.3 lets the server grant less than
/// requested; the response names what was granted).
pub fn grant(requested: &str, registered: &str, keep: impl Fn(&Scope) -> bool) -> Vec<String> {
    let registered: Vec<Scope> = registered
        .split_ascii_whitespace()
        .take(MAX_SCOPES)
        .filter_map(parse)
        .collect();
    let mut out: Vec<String> = Vec::new();
    for req in requested
        .split_ascii_whitespace()
        .take(MAX_SCOPES)
        .filter_map(parse)
        .filter(|s| keep(s))
    {
        let granted = match &req {
            Scope::Resource(r) => {
                let perms = registered
                    .iter()
                    .fold(Perms::default(), |acc, reg| match reg {
                        Scope::Resource(reg) => acc.union(reg.overlap(r)),
                        Scope::Other(_) => acc,
                    });
                (!perms.is_empty()).then(|| r.render(perms))
            }
            Scope::Other(name) => registered.contains(&req).then(|| name.clone()),
        };
        if let Some(g) = granted {
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out
}

/// True for `system/...` resource scopes (SMART backend services, UDAP B2B client credentials).
pub fn is_system(scope: &Scope) -> bool {
    matches!(scope, Scope::Resource(r) if r.context == ScopeContext::System)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_v2_and_v1() {
        // SMART-31: ordered non-empty subset of cruds, optional granular query.
        let s = parse("patient/Observation.rs?category=laboratory").unwrap();
        assert!(
            matches!(s, Scope::Resource(ref r) if r.perms == Perms::READ_V1 && r.query.as_deref() == Some("category=laboratory") && !r.v1)
        );
        // SMART-32: v1 read/write/*.
        assert!(
            matches!(parse("user/*.read").unwrap(), Scope::Resource(ref r) if r.v1 && r.perms == Perms::READ_V1)
        );
        assert!(
            matches!(parse("system/Patient.*").unwrap(), Scope::Resource(ref r) if r.perms == Perms::ALL)
        );
        for bad in [
            "patient/Observation.sr",
            "patient/Observation.rr",
            "patient/Observation.x",
            "patient/Observation.",
            "patient/observation.rs",
            "patient/Observation.rs?",
            "system/Patient",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse("openid"), Some(Scope::Other("openid".into())));
        assert_eq!(
            parse("launch/patient"),
            Some(Scope::Other("launch/patient".into()))
        );
    }

    #[test]
    fn granted_is_requested_intersected_with_registered() {
        let reg = "system/Patient.rs system/Observation.r system/Encounter.rs?status=finished";
        let all = |_: &Scope| true;
        assert_eq!(
            grant("system/Patient.rs", reg, all),
            vec!["system/Patient.rs"]
        );
        // Narrowed to what was registered.
        assert_eq!(
            grant("system/Patient.cruds", reg, all),
            vec!["system/Patient.rs"]
        );
        assert_eq!(
            grant("system/Observation.rs", reg, all),
            vec!["system/Observation.r"]
        );
        // Not registered at all.
        assert!(grant("system/Condition.rs", reg, all).is_empty());
        // Granular: registered restriction must match.
        assert!(grant("system/Encounter.rs", reg, all).is_empty());
        assert_eq!(
            grant("system/Encounter.rs?status=finished", reg, all),
            vec!["system/Encounter.rs?status=finished"]
        );
        // Wildcard registration covers a type; v1 request answered in v1 form (SMART-32).
        assert_eq!(
            grant("system/Patient.read", "system/*.read", all),
            vec!["system/Patient.read"]
        );
        assert_eq!(
            grant("system/Patient.read", "system/*.r", all),
            vec!["system/Patient.r"]
        );
        // Context must match.
        assert!(grant("patient/Patient.rs", "system/*.rs", all).is_empty());
        // Filter: only system scopes for client_credentials.
        assert_eq!(
            grant("openid system/Patient.rs", "openid system/*.rs", is_system),
            vec!["system/Patient.rs"]
        );
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn only_the_first_max_scopes_tokens_of_each_list_count() {
        // Bounds the requested × registered comparison (a CPU cost an attacker controls).
        let many: Vec<String> = (0..MAX_SCOPES + 10)
            .map(|i| format!("system/R{i}.rs"))
            .collect();
        let all = many.join(" ");
        let granted = grant(&all, &all, is_system);
        assert_eq!(granted.len(), MAX_SCOPES);
        assert_eq!(
            granted.last().map(String::as_str),
            Some(&*format!("system/R{}.rs", MAX_SCOPES - 1))
        );
    }
}
