//! JSON Web Keys (RFC 7517/7518): reading clients' public JWKs, writing ours, RFC 7638
//! thumbprints for `kid`, and the JWKS document.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{json, Map, Value};

use super::error::{echo, JoseError};
use super::keys::{check_ec_point, check_rsa_components, Curve, KeyKind, VerifyingKey};
use super::policy::alg_name;
use super::sign::Signer;

/// Members that only private (or symmetric) JWKs carry (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl VerifyingKey {
    /// UDAP-2, UDAP-52: a verification key from one public JWK (e.g. from a client's `jwks`).
    ///
    /// Accepts `kty` RSA (≥ 2048 bits) and EC on P-256/P-384 with full-length coordinates on the
    /// curve. Refuses symmetric keys, JWKs carrying private members (a leaked key is not a key we
    /// want to trust), `use` other than `sig`, `key_ops` without `verify`, and an `alg` outside the
    /// UDAP table or unfit for the key. A valid `alg` pins the key to that algorithm.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JoseError> {
        let obj = jwk.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let kty = required_str(obj, "kty")?;
        if kty == "oct" {
            return Err(JoseError::UnsupportedKey(
                "symmetric (kty \"oct\") keys are never accepted".into(),
            ));
        }
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(bad(&format!("contains private key member \"{m}\"")));
        }
        if let Some(u) = obj.get("use") {
            if u.as_str() != Some("sig") {
                return Err(bad("\"use\" is not \"sig\""));
            }
        }
        if let Some(ops) = obj.get("key_ops") {
            let has_verify = ops
                .as_array()
                .is_some_and(|a| a.iter().any(|op| op.as_str() == Some("verify")));
            if !has_verify {
                return Err(bad("\"key_ops\" does not include \"verify\""));
            }
        }
        let kid = optional_str(obj, "kid")?.map(str::to_owned);
        let (kind, key) = match kty {
            "RSA" => rsa_key(obj)?,
            "EC" => ec_key(obj)?,
            other => {
                return Err(JoseError::UnsupportedKey(format!(
                    "kty \"{}\"",
                    echo(other)
                )))
            }
        };
        let pinned_alg = match optional_str(obj, "alg")? {
            None => None,
            Some(name) => {
                let alg = name
                    .parse::<Algorithm>()
                    .ok()
                    .filter(|a| alg_name(*a).is_ok())
                    .ok_or_else(|| JoseError::AlgUnsupported { alg: echo(name) })?;
                kind.check_fit(alg)?;
                Some(alg)
            }
        };
        Ok(Self {
            kind,
            key,
            kid,
            pinned_alg,
        })
    }
}

fn rsa_key(obj: &Map<String, Value>) -> Result<(KeyKind, DecodingKey), JoseError> {
    let n = b64_member(obj, "n")?;
    let e = b64_member(obj, "e")?;
    let bits = check_rsa_components(&n, &e)?;
    Ok((
        KeyKind::Rsa { bits },
        DecodingKey::from_rsa_raw_components(&n, &e),
    ))
}

fn ec_key(obj: &Map<String, Value>) -> Result<(KeyKind, DecodingKey), JoseError> {
    let curve = match required_str(obj, "crv")? {
        "P-256" => Curve::P256,
        "P-384" => Curve::P384,
        other => {
            return Err(JoseError::UnsupportedKey(format!(
                "EC curve \"{}\"",
                echo(other)
            )))
        }
    };
    let x = b64_member(obj, "x")?;
    let y = b64_member(obj, "y")?;
    // RFC 7518 §6.2.1.2/3: coordinates are full length, so a short one is an error, not padding.
    let len = curve.coordinate_len();
    if x.len() != len || y.len() != len {
        return Err(bad(&format!(
            "\"x\" and \"y\" must be {len} bytes for {}",
            curve.jwk_name()
        )));
    }
    let mut point = Vec::with_capacity(curve.point_len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    check_ec_point(curve, &point)?;
    check_on_curve(curve, &point)?;
    Ok((KeyKind::Ec(curve), DecodingKey::from_ec_der(&point)))
}

/// Reject points off the curve when the JWK is read (registration time), rather than as a
/// `BadSignature` on every later token.
fn check_on_curve(curve: Curve, point: &[u8]) -> Result<(), JoseError> {
    use openssl::bn::BigNumContext;
    use openssl::ec::{EcGroup, EcPoint};
    use openssl::nid::Nid;
    let nid = match curve {
        Curve::P256 => Nid::X9_62_PRIME256V1,
        Curve::P384 => Nid::SECP384R1,
    };
    let group =
        EcGroup::from_curve_name(nid).map_err(|e| JoseError::UnsupportedKey(e.to_string()))?;
    let mut ctx = BigNumContext::new().map_err(|e| JoseError::UnsupportedKey(e.to_string()))?;
    // EC_POINT_oct2point refuses points that are not on the curve.
    EcPoint::from_bytes(&group, point, &mut ctx)
        .map(|_| ())
        .map_err(|_| bad("EC point is not on the curve"))
}

fn bad(msg: &str) -> JoseError {
    JoseError::BadJwk(msg.to_owned())
}

fn required_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, JoseError> {
    optional_str(obj, name)?.ok_or_else(|| bad(&format!("\"{name}\" is missing")))
}

fn optional_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JoseError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(&format!("\"{name}\" is not a string"))),
    }
}

fn b64_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(required_str(obj, name)?)
        .map_err(|_| bad(&format!("\"{name}\" is not base64url")))
}

/// The public parameters of one of our keys, in JWK form.
#[derive(Debug, Clone)]
pub(crate) enum PublicParams {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Affine coordinates, each exactly `curve.coordinate_len()` bytes.
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
}

impl PublicParams {
    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace,
    /// base64url. The member values are base64url or fixed curve names, so no JSON escaping
    /// can arise and `format!` yields the canonical form.
    pub(crate) fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicParams::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64u(e), b64u(n))
            }
            PublicParams::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.jwk_name(),
                b64u(x),
                b64u(y)
            ),
        };
        b64u(&openssl::sha::sha256(canonical.as_bytes()))
    }

    /// The public JWK with `kid`, `alg` and `use: "sig"` (RFC 7517 §4).
    pub(crate) fn to_jwk(&self, kid: &str, alg: &str) -> Value {
        match self {
            PublicParams::Rsa { n, e } => json!({
                "kty": "RSA", "n": b64u(n), "e": b64u(e), "kid": kid, "alg": alg, "use": "sig",
            }),
            PublicParams::Ec { curve, x, y } => json!({
                "kty": "EC", "crv": curve.jwk_name(), "x": b64u(x), "y": b64u(y),
                "kid": kid, "alg": alg, "use": "sig",
            }),
        }
    }
}

fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWKS document `{"keys": [...]}` for our signing keys, e.g. current and next during
/// rotation (served at `/jwks`; `kid` in every token header selects the key).
pub fn jwks(signers: &[&Signer]) -> Value {
    json!({ "keys": signers.iter().map(|s| s.public_jwk()).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::testutil::{Fixture, P256, P384, RSA1024, RSA2048};

    // RFC 7638 §3.1 example key and thumbprint.
    #[test]
    fn rfc7638_example_thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.kid(), Some("2011-04-29"));
        let params = PublicParams::Rsa {
            n: URL_SAFE_NO_PAD.decode(n).unwrap(),
            e: URL_SAFE_NO_PAD.decode("AQAB").unwrap(),
        };
        assert_eq!(
            params.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    fn rsa_jwk() -> Value {
        let rsa = RSA2048.pkey.rsa().unwrap();
        json!({"kty": "RSA", "n": b64u(&rsa.n().to_vec()), "e": b64u(&rsa.e().to_vec())})
    }

    fn ec_jwk(fx: &Fixture, crv: &str, len: i32) -> Value {
        let ec = fx.pkey.ec_key().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let mut x = openssl::bn::BigNum::new().unwrap();
        let mut y = openssl::bn::BigNum::new().unwrap();
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .unwrap();
        json!({"kty": "EC", "crv": crv,
               "x": b64u(&x.to_vec_padded(len).unwrap()), "y": b64u(&y.to_vec_padded(len).unwrap())})
    }

    fn with(mut v: Value, k: &str, val: Value) -> Value {
        v.as_object_mut().unwrap().insert(k.into(), val);
        v
    }

    fn without(mut v: Value, k: &str) -> Value {
        v.as_object_mut().unwrap().remove(k);
        v
    }

    // UDAP-2, UDAP-52: JWK acceptance table.
    #[test]
    fn from_jwk_table() {
        let p256 = ec_jwk(&P256, "P-256", 32);
        let p384 = ec_jwk(&P384, "P-384", 48);
        let mut off_curve = p256.clone();
        off_curve["y"] = json!(b64u(&[7u8; 32]));
        let weak = {
            let r = RSA1024.pkey.rsa().unwrap();
            json!({"kty": "RSA", "n": b64u(&r.n().to_vec()), "e": "AQAB"})
        };
        type Want = Result<KeyKind, fn(&JoseError) -> bool>;
        let ok_rsa: Want = Ok(KeyKind::Rsa { bits: 2048 });
        let cases: Vec<(&str, Value, Want)> = vec![
            ("rsa", rsa_jwk(), ok_rsa),
            (
                "rsa pinned RS384",
                with(rsa_jwk(), "alg", json!("RS384")),
                ok_rsa,
            ),
            ("rsa use sig", with(rsa_jwk(), "use", json!("sig")), ok_rsa),
            (
                "rsa key_ops",
                with(rsa_jwk(), "key_ops", json!(["verify"])),
                ok_rsa,
            ),
            ("p256", p256.clone(), Ok(KeyKind::Ec(Curve::P256))),
            ("p384", p384.clone(), Ok(KeyKind::Ec(Curve::P384))),
            (
                "weak",
                weak,
                Err(|e| *e == JoseError::WeakKey { bits: 1024 }),
            ),
            (
                "not object",
                json!("x"),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "no kty",
                without(rsa_jwk(), "kty"),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "no n",
                without(rsa_jwk(), "n"),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "bad n",
                with(rsa_jwk(), "n", json!("a+b/")),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "private",
                with(rsa_jwk(), "d", json!("AQAB")),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "use enc",
                with(rsa_jwk(), "use", json!("enc")),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "key_ops",
                with(rsa_jwk(), "key_ops", json!(["sign"])),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "kid type",
                with(rsa_jwk(), "kid", json!(1)),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "oct",
                json!({"kty": "oct", "k": "c2VjcmV0"}),
                Err(|e| matches!(e, JoseError::UnsupportedKey(_))),
            ),
            (
                "oct no k",
                json!({"kty": "oct"}),
                Err(|e| matches!(e, JoseError::UnsupportedKey(_))),
            ),
            (
                "okp",
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
                Err(|e| matches!(e, JoseError::UnsupportedKey(_))),
            ),
            (
                "p521",
                with(p256.clone(), "crv", json!("P-521")),
                Err(|e| matches!(e, JoseError::UnsupportedKey(_))),
            ),
            (
                "short x",
                with(p256.clone(), "x", json!(b64u(&[1u8; 31]))),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "crv mismatch",
                with(p256.clone(), "crv", json!("P-384")),
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "off curve",
                off_curve,
                Err(|e| matches!(e, JoseError::BadJwk(_))),
            ),
            (
                "alg HS256",
                with(rsa_jwk(), "alg", json!("HS256")),
                Err(|e| matches!(e, JoseError::AlgUnsupported { .. })),
            ),
            (
                "alg PS256",
                with(rsa_jwk(), "alg", json!("PS256")),
                Err(|e| matches!(e, JoseError::AlgUnsupported { .. })),
            ),
            (
                "alg ES384 on P-256",
                with(p256, "alg", json!("ES384")),
                Err(|e| {
                    *e == JoseError::AlgKeyMismatch {
                        alg: "ES384",
                        key: KeyKind::Ec(Curve::P256),
                    }
                }),
            ),
            (
                "alg RS256 on P-384",
                with(p384, "alg", json!("RS256")),
                Err(|e| {
                    *e == JoseError::AlgKeyMismatch {
                        alg: "RS256",
                        key: KeyKind::Ec(Curve::P384),
                    }
                }),
            ),
        ];
        for (name, jwk, want) in cases {
            match (VerifyingKey::from_jwk(&jwk), want) {
                (Ok(k), Ok(kind)) => assert_eq!(k.kind(), kind, "{name}"),
                (Err(e), Err(pred)) => assert!(pred(&e), "{name}: unexpected {e:?}"),
                (got, _) => panic!("{name}: unexpected {got:?}"),
            }
        }
    }
}
