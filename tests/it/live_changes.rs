//! Changes to the stored communities reach a running server without a restart (issue 9 item 4:
//! another instance or an admin command changed the database).

use serde_json::{json, Value};

use crate::common::{eventually, TestCommunity, TestServer};

const SAN: &str = "https://client.example.org/b2b";

#[test]
fn a_community_added_to_the_store_while_serving_is_trusted_without_a_restart() {
    let s = TestServer::start();
    let newcomer = TestCommunity::new("urn:example:newcomer");
    let id = newcomer.client(SAN);
    let register = || {
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": s.statement(&id, json!({})), "udap": "1"}),
        )
    };
    assert_eq!(
        register().status().as_u16(),
        400,
        "not trusted before the change"
    );
    s.store
        .communities()
        .put(newcomer.record(&s.base, false))
        .unwrap();
    assert!(
        eventually(|| register().status().as_u16() == 201),
        "the new community's members can register"
    );
    let m: Value = s
        .get("/.well-known/udap?community=urn:example:newcomer")
        .json()
        .unwrap();
    assert_eq!(m["udap_versions_supported"], json!(["1"]));
    // Removing it ends trust the same way.
    s.store
        .communities()
        .remove("urn:example:newcomer")
        .unwrap();
    let other = newcomer.client("https://client.example.org/second");
    assert!(eventually(|| {
        let st = s.statement(&other, json!({}));
        s.post_json(
            &s.ep.registration,
            &json!({"software_statement": st, "udap": "1"}),
        )
        .status()
        .as_u16()
            == 400
    }));
}
