//! Test fixtures: keys and self-signed certificates generated with openssl once per test run.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

pub(crate) struct Fixture {
    pub pkey: PKey<Private>,
    /// PKCS#8 "BEGIN PRIVATE KEY".
    pub pkcs8_pem: String,
    /// PKCS#1 "BEGIN RSA PRIVATE KEY" or SEC1 "BEGIN EC PRIVATE KEY".
    pub traditional_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

fn self_signed(pkey: &PKey<Private>, md: MessageDigest) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "jose test").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.set_pubkey(pkey).unwrap();
    b.sign(pkey, md).unwrap();
    b.build()
}

fn fixture(pkey: PKey<Private>) -> Fixture {
    let cert = self_signed(&pkey, MessageDigest::sha256());
    let traditional_pem = match pkey.rsa() {
        Ok(rsa) => rsa.private_key_to_pem().unwrap(),
        Err(_) => pkey.ec_key().unwrap().private_key_to_pem().unwrap(),
    };
    Fixture {
        pkcs8_pem: String::from_utf8(pkey.private_key_to_pem_pkcs8().unwrap()).unwrap(),
        traditional_pem: String::from_utf8(traditional_pem).unwrap(),
        cert_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        cert_der: cert.to_der().unwrap(),
        pkey,
    }
}

fn rsa(bits: u32) -> Fixture {
    fixture(PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap())
}

fn ec(nid: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(nid).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

pub(crate) static RSA2048: LazyLock<Fixture> = LazyLock::new(|| rsa(2048));
pub(crate) static RSA1024: LazyLock<Fixture> = LazyLock::new(|| rsa(1024));
pub(crate) static P256: LazyLock<Fixture> = LazyLock::new(|| fixture(ec(Nid::X9_62_PRIME256V1)));
pub(crate) static P384: LazyLock<Fixture> = LazyLock::new(|| fixture(ec(Nid::SECP384R1)));
pub(crate) static P521_CERT_DER: LazyLock<Vec<u8>> = LazyLock::new(|| {
    self_signed(&ec(Nid::SECP521R1), MessageDigest::sha512())
        .to_der()
        .unwrap()
});
pub(crate) static ED25519_CERT_DER: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let k = PKey::generate_ed25519().unwrap();
    self_signed(&k, MessageDigest::null()).to_der().unwrap()
});

pub(crate) fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS built by hand from raw header/payload JSON and raw signature bytes.
pub(crate) fn compact(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64u(header.as_bytes()),
        b64u(payload.as_bytes()),
        b64u(sig)
    )
}
