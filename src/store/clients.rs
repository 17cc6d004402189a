//! Client records and their repository. A UDAP client is also indexed by its registration
//! identity `(community, SAN URI)` (UDAP-20: the key of a registration is the community and `iss`,
//! never `iss` alone); record and index change together in one write transaction.

use serde::{Deserialize, Serialize};

use super::kv::JsonTable;
use super::{Store, StoreError};

pub(crate) const TABLE: JsonTable<ClientRecord> = JsonTable::new("clients");
pub(crate) const IDENTITIES: JsonTable<String> = JsonTable::new("client_identities");

/// Whether a client may obtain tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    Active,
    /// Turned off by an administrator; may be enabled again.
    Disabled,
    /// Cancelled by the client itself (UDAP-21: `grant_types: []`).
    Cancelled,
    /// Issue 12: registered by a developer and awaiting an administrator's approval (the
    /// server's approval policy); gets no tokens until approved.
    Pending,
}

/// How the client came to be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// UDAP dynamic client registration with a software statement.
    UdapRegistration,
    /// Added by an administrator with the CLI.
    Admin,
    /// Issue 12: registered by a developer (developer portal or RFC 7591). Authenticates like an
    /// administrator-added SMART app, but can never hold administrative scopes.
    SelfService,
}

/// Registration parameters (RFC 7591 names), as registered and echoed (UDAP-18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClientMetadata {
    pub client_name: String,
    #[serde(default)]
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    pub grant_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
}

/// Intended users and purposes declared by or for a client (HTI1-2); empty = not yet declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IntendedUse {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub purposes: Vec<String>,
}

impl IntendedUse {
    /// Both declared (HTI1-2).
    pub fn is_complete(&self) -> bool {
        !self.users.is_empty() && !self.purposes.is_empty()
    }
}

/// A registered client. Keyed by `client_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub status: ClientStatus,
    pub origin: ClientOrigin,
    /// The trust community of a UDAP client (UDAP-18: stored with the certificate).
    #[serde(default)]
    pub community: Option<String>,
    /// The SAN URI the registration is bound to (the statement's `iss`).
    #[serde(default)]
    pub san_uri: Option<String>,
    /// The leaf certificate last presented (base64 DER), replaced on certificate renewal.
    #[serde(default)]
    pub certificate_der_b64: Option<String>,
    #[serde(default)]
    pub certificate_not_after: Option<i64>,
    /// The last software statement accepted, verbatim.
    #[serde(default)]
    pub software_statement: Option<String>,
    pub metadata: ClientMetadata,
    #[serde(default)]
    pub intended_use: IntendedUse,
    /// SMART asymmetric clients: an inline JWK Set.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// SMART asymmetric clients: where their JWK Set lives.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// client_secret_basic: SHA-256 of the secret (hex); the secret itself is never stored.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// Issue 12: the owning developer's normalized e-mail (`developers::normalize_email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ClientRecord {
    /// A client registered by an administrator (SMART app, backend service, EHR, resource server):
    /// active, no certificate binding, no keys or secret yet.
    pub fn admin(
        client_id: &str,
        name: &str,
        auth_method: &str,
        grant_types: &[&str],
        scope: &str,
        now: i64,
    ) -> Self {
        ClientRecord {
            client_id: client_id.to_string(),
            status: ClientStatus::Active,
            origin: ClientOrigin::Admin,
            community: None,
            san_uri: None,
            certificate_der_b64: None,
            certificate_not_after: None,
            software_statement: None,
            metadata: ClientMetadata {
                client_name: name.to_string(),
                grant_types: grant_types.iter().map(|g| g.to_string()).collect(),
                token_endpoint_auth_method: auth_method.to_string(),
                scope: scope.to_string(),
                ..Default::default()
            },
            intended_use: IntendedUse::default(),
            jwks: None,
            jwks_uri: None,
            secret_hash: None,
            developer: None,
            created_at: now,
            updated_at: now,
        }
    }
}

fn identity_key(community: &str, san_uri: &str) -> Result<String, StoreError> {
    // A JSON array is unambiguous whatever characters the parts contain.
    serde_json::to_string(&(community, san_uri)).map_err(|source| StoreError::Encode {
        table: IDENTITIES.name(),
        source,
    })
}

/// The clients repository, from `Store::clients()`.
pub struct Clients<'s> {
    store: &'s Store,
}

impl<'s> Clients<'s> {
    pub(super) fn new(store: &'s Store) -> Self {
        Clients { store }
    }

    pub fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.store.read(|txn| TABLE.get(txn, client_id))
    }

    /// The UDAP client registered for `(community, san_uri)`, in any status (UDAP-20).
    pub fn find_by_identity(
        &self,
        community: &str,
        san_uri: &str,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let key = identity_key(community, san_uri)?;
        self.store.read(|txn| match IDENTITIES.get(txn, &key)? {
            Some(id) => TABLE.get(txn, &id),
            None => Ok(None),
        })
    }

    /// Inserts or replaces a client and its identity index entry, in one transaction.
    pub fn put(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let identity = match (&client.community, &client.san_uri) {
            (Some(c), Some(s)) => Some(identity_key(c, s)?),
            _ => None,
        };
        self.store.write(|txn| {
            TABLE.put(txn, &client.client_id, client)?;
            if let Some(key) = &identity {
                IDENTITIES.put(txn, key, &client.client_id)?;
            }
            Ok(())
        })
    }

    /// Read-modify-write of the UDAP client registered for `(community, san_uri)` in one write
    /// transaction (UDAP-20, UDAP-21): concurrent registrations of one identity can neither create
    /// two clients nor lose an update. `decide` gets the current record (any status) and returns
    /// the record to store (or `None` to store nothing) with a value for the caller; its error
    /// aborts the transaction, so nothing is written.
    pub fn update_identity<T, E: From<StoreError>>(
        &self,
        community: &str,
        san_uri: &str,
        decide: impl FnOnce(Option<ClientRecord>) -> Result<(Option<ClientRecord>, T), E>,
    ) -> Result<T, E> {
        let key = identity_key(community, san_uri)?;
        let mut refused: Option<E> = None;
        let result = self.store.write(|txn| {
            let current = match IDENTITIES.get(txn, &key)? {
                Some(id) => TABLE.get(txn, &id)?,
                None => None,
            };
            match decide(current) {
                Ok((Some(client), out)) => {
                    TABLE.put(txn, &client.client_id, &client)?;
                    IDENTITIES.put(txn, &key, &client.client_id)?;
                    Ok(Some(out))
                }
                Ok((None, out)) => Ok(Some(out)),
                Err(e) => {
                    refused = Some(e);
                    // Dropping the transaction uncommitted writes nothing.
                    Err(StoreError::Aborted)
                }
            }
        });
        match (result, refused) {
            (_, Some(e)) => Err(e),
            (Ok(Some(out)), None) => Ok(out),
            (Ok(None), None) => Err(StoreError::Aborted.into()),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Changes one client in one write transaction: `change` edits the current record and says
    /// whether to store it. Returns the record as stored (or as found), `None` if unknown. Used
    /// where a request updates part of a record (certificate renewal) while an administrator may
    /// change another part.
    pub fn modify(
        &self,
        client_id: &str,
        change: impl FnOnce(&mut ClientRecord) -> bool,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.store.write(|txn| {
            let Some(mut client) = TABLE.get(txn, client_id)? else {
                return Ok(None);
            };
            if change(&mut client) {
                TABLE.put(txn, client_id, &client)?;
            }
            Ok(Some(client))
        })
    }

    pub fn list(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.store
            .read(|txn| Ok(TABLE.list(txn)?.into_iter().map(|(_, c)| c).collect()))
    }

    /// Deletes a client and its identity entry; true if it existed.
    pub fn remove(&self, client_id: &str) -> Result<bool, StoreError> {
        self.store.write(|txn| {
            let Some(client) = TABLE.get(txn, client_id)? else {
                return Ok(false);
            };
            remove_in(txn, &client)
        })
    }
}

/// Deletes a client and its identity entry inside the caller's write transaction.
pub(super) fn remove_in(txn: &super::WriteTxn, client: &ClientRecord) -> Result<bool, StoreError> {
    if let (Some(c), Some(s)) = (&client.community, &client.san_uri) {
        IDENTITIES.remove(txn, &identity_key(c, s)?)?;
    }
    TABLE.remove(txn, &client.client_id)
}
