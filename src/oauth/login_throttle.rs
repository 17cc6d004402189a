//! Login throttling (issue 8 item 3): what keeps password guessing slow and a login flood from
//! exhausting memory.
//!
//! - **Hashing cap.** One argon2id check needs about 19 MiB for its duration. At most
//!   `max_concurrent_hashes` checks run at once (about the core count); an attempt that finds every
//!   slot taken is refused at once (429) rather than queued, so a flood costs a bounded amount of
//!   memory and the blocking pool stays free for everything else. Unknown usernames take a slot
//!   too: they run the dummy hash, so they cost the same as real ones.
//! - **Backoff.** Failures are counted per username (real or not, so a lockout tells nothing about
//!   which accounts exist) and per client address. From the `max_failures`-th failure on, the key
//!   is locked for `base_delay_secs`, doubling with each further failure, capped at
//!   `max_delay_secs`; attempts during a lockout are refused without hashing. Counts are forgotten
//!   after `window_secs` without a failure, measured from the end of any lockout, so a patient
//!   attacker stays at about one guess per `max_delay_secs`. A successful login clears the
//!   username's count (not the address's: one known account must not reset an address).
//! - **Bounded memory.** Each table holds at most `max_entries` keys; when full, forgotten
//!   entries are swept, then the oldest tenth is evicted.
//!
//! Plain data and functions with `now` passed in; `http::authorize` holds one `LoginThrottle`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use super::password::HashMemory;

/// The text every refused or failed attempt shows: it never says which check failed.
pub const TOO_MANY_ATTEMPTS: &str = "Too many sign-in attempts right now; try again in a moment.";
/// The text of a wrong username or a wrong password alike.
pub const LOGIN_FAILED: &str = "The username or password is incorrect.";

/// Limits of one backoff table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The failure that starts the first lockout.
    pub max_failures: u32,
    /// Quiet seconds (after any lockout ends) after which the count is forgotten.
    pub window_secs: i64,
    /// First lockout; each further failure doubles it.
    pub base_delay_secs: i64,
    pub max_delay_secs: i64,
    /// Most keys remembered at once.
    pub max_entries: usize,
}

impl BackoffPolicy {
    /// Per username: 5 failures, then 1 s doubling up to 15 minutes.
    pub const USERNAME: BackoffPolicy = BackoffPolicy {
        max_failures: 5,
        window_secs: 900,
        base_delay_secs: 1,
        max_delay_secs: 900,
        max_entries: 100_000,
    };
    /// Per client address: more room, since many people can share one address (a hospital's NAT).
    pub const ADDRESS: BackoffPolicy = BackoffPolicy {
        max_failures: 5 * ADDRESS_FACTOR,
        ..BackoffPolicy::USERNAME
    };

    /// The lockout after the `failures`-th failure (0 before `max_failures`).
    pub fn delay(&self, failures: u32) -> i64 {
        if failures < self.max_failures {
            return 0;
        }
        let doublings = (failures - self.max_failures).min(40);
        self.base_delay_secs
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    failures: u32,
    last_failure: i64,
    locked_until: i64,
}

/// Failure counts and lockouts per key (a username hash or an address).
#[derive(Debug)]
pub struct Backoff<K> {
    policy: BackoffPolicy,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Backoff<K> {
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            entries: HashMap::new(),
        }
    }

    fn forgotten(&self, e: &Entry, now: i64) -> bool {
        now >= e
            .last_failure
            .max(e.locked_until)
            .saturating_add(self.policy.window_secs)
    }

    /// Seconds until `key` may try again; 0 means now.
    pub fn wait(&self, key: &K, now: i64) -> i64 {
        self.entries
            .get(key)
            .map_or(0, |e| (e.locked_until - now).max(0))
    }

    /// Counts a failure; returns the lockout it starts (0 if none).
    pub fn record_failure(&mut self, key: K, now: i64) -> i64 {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.policy.max_entries {
            self.make_room(now);
        }
        let policy = self.policy;
        let fresh = Entry {
            failures: 0,
            last_failure: now,
            locked_until: 0,
        };
        let stale = self
            .entries
            .get(&key)
            .is_some_and(|e| self.forgotten(e, now));
        let e = self.entries.entry(key).or_insert(fresh);
        if stale {
            *e = fresh;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        let delay = policy.delay(e.failures);
        if delay > 0 {
            e.locked_until = now + delay;
        }
        delay
    }

    /// Forgets `key` (a successful login).
    pub fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn policy_ref(&self) -> &BackoffPolicy {
        &self.policy
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops forgotten entries; if that is not enough, the tenth with the oldest failures.
    fn make_room(&mut self, now: i64) {
        let window = self.policy.window_secs;
        self.entries
            .retain(|_, e| now < e.last_failure.max(e.locked_until).saturating_add(window));
        if self.entries.len() < self.policy.max_entries {
            return;
        }
        let evict = (self.policy.max_entries / 10).max(1);
        let mut ages: Vec<(i64, K)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.last_failure, k.clone()))
            .collect();
        ages.select_nth_unstable_by_key(evict - 1, |(t, _)| *t);
        for (_, k) in ages.into_iter().take(evict) {
            self.entries.remove(&k);
        }
    }
}

/// A counting semaphore taken with `try_enter` only (no queue), whose slots each own the working
/// memory of one password check, kept and reused: memory for hashing never exceeds
/// `max` x ~19 MiB, however many threads the blocking pool runs.
#[derive(Debug, Clone)]
pub struct HashGate {
    slots: Arc<Mutex<Vec<HashMemory>>>,
    max: usize,
}

/// One slot of a `HashGate` with its memory, given back on drop. Owned, so it can move to the
/// blocking pool.
#[derive(Debug)]
pub struct HashPermit {
    memory: Option<HashMemory>,
    slots: Arc<Mutex<Vec<HashMemory>>>,
}

impl HashPermit {
    /// The slot's argon2 working memory (`password::verify_password_in`).
    pub fn memory(&mut self) -> &mut HashMemory {
        self.memory.get_or_insert_with(HashMemory::new)
    }
}

impl Drop for HashPermit {
    fn drop(&mut self) {
        if let Some(m) = self.memory.take() {
            self.slots.lock().push(m);
        }
    }
}

impl HashGate {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        HashGate {
            slots: Arc::new(Mutex::new((0..max).map(|_| HashMemory::new()).collect())),
            max,
        }
    }

    /// A slot if one is free, else `None` at once.
    pub fn try_enter(&self) -> Option<HashPermit> {
        let memory = self.slots.lock().pop()?;
        Some(HashPermit {
            memory: Some(memory),
            slots: Arc::clone(&self.slots),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// Concurrent password checks allowed: the core count, at least 1, at most 4 (each needs ~19 MiB).
pub fn default_max_concurrent_hashes() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 (one subscriber's network;
/// counting single IPv6 addresses would let one host rotate through billions of keys).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
        v4 => v4,
    }
}

fn username_key(username: &str) -> [u8; 32] {
    // Fixed-size keys whatever length of username an attacker sends.
    openssl::sha::sha256(username.as_bytes())
}

/// The operator's settings (`server.login_*`, see README "Security"); `Default` is what the server
/// uses when none are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Password checks at once (`login_max_concurrent_hashes`).
    pub max_concurrent_hashes: usize,
    /// Failures per username that start a lockout (`login_lockout_after`); per address, four times
    /// as many.
    pub lockout_after: u32,
    /// First lockout, doubled per further failure (`login_lockout_base_secs`).
    pub lockout_base_secs: i64,
    /// Longest lockout (`login_lockout_max_secs`).
    pub lockout_max_secs: i64,
}

/// Failures allowed per address for each one allowed per username.
pub const ADDRESS_FACTOR: u32 = 4;

impl Default for ThrottleSettings {
    fn default() -> Self {
        let u = BackoffPolicy::USERNAME;
        ThrottleSettings {
            max_concurrent_hashes: default_max_concurrent_hashes(),
            lockout_after: u.max_failures,
            lockout_base_secs: u.base_delay_secs,
            lockout_max_secs: u.max_delay_secs,
        }
    }
}

/// Whether a login attempt may check a password now.
#[derive(Debug)]
pub enum Admission {
    /// Check the password while holding the permit; then report with `failed` or `succeeded`.
    Proceed(HashPermit),
    /// Every hashing slot is busy: refuse (429, retry in a second).
    Busy,
    /// The username or the address is locked out for this many more seconds: refuse (429).
    LockedOut { retry_after: i64 },
}

/// The server's login throttle: the hashing cap and both backoff tables.
#[derive(Debug)]
pub struct LoginThrottle {
    gate: HashGate,
    users: Mutex<Backoff<[u8; 32]>>,
    addresses: Mutex<Backoff<IpAddr>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::from_settings(&ThrottleSettings::default())
    }
}

impl LoginThrottle {
    pub fn from_settings(s: &ThrottleSettings) -> Self {
        let users = BackoffPolicy {
            max_failures: s.lockout_after.max(1),
            base_delay_secs: s.lockout_base_secs.max(1),
            max_delay_secs: s.lockout_max_secs.max(s.lockout_base_secs).max(1),
            ..BackoffPolicy::USERNAME
        };
        let addresses = BackoffPolicy {
            max_failures: users.max_failures.saturating_mul(ADDRESS_FACTOR),
            ..users
        };
        LoginThrottle::new(s.max_concurrent_hashes, users, addresses)
    }

    pub fn new(
        max_concurrent_hashes: usize,
        users: BackoffPolicy,
        addresses: BackoffPolicy,
    ) -> Self {
        LoginThrottle {
            gate: HashGate::new(max_concurrent_hashes),
            users: Mutex::new(Backoff::new(users)),
            addresses: Mutex::new(Backoff::new(addresses)),
        }
    }

    /// Lockouts first (no slot is taken for a refused attempt), then a hashing slot.
    pub fn admit(&self, username: &str, addr: Option<IpAddr>, now: i64) -> Admission {
        let user_wait = self.users.lock().wait(&username_key(username), now);
        let addr_wait = addr.map_or(0, |a| self.addresses.lock().wait(&address_key(a), now));
        let retry_after = user_wait.max(addr_wait);
        if retry_after > 0 {
            return Admission::LockedOut { retry_after };
        }
        match self.gate.try_enter() {
            Some(p) => Admission::Proceed(p),
            None => Admission::Busy,
        }
    }

    /// A wrong password or an unknown username; returns the lockout it starts (0: none).
    pub fn failed(&self, username: &str, addr: Option<IpAddr>, now: i64) -> i64 {
        let user = self
            .users
            .lock()
            .record_failure(username_key(username), now);
        let address = addr.map_or(0, |a| {
            self.addresses.lock().record_failure(address_key(a), now)
        });
        user.max(address)
    }

    /// A correct password: the username starts afresh.
    pub fn succeeded(&self, username: &str) {
        self.users.lock().clear(&username_key(username));
    }

    pub fn max_concurrent_hashes(&self) -> usize {
        self.gate.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    #[test]
    fn delay_doubles_from_the_fifth_failure_and_is_capped() {
        let p = BackoffPolicy::USERNAME;
        let table: &[(u32, i64)] = &[
            (1, 0),
            (4, 0),
            (5, 1),
            (6, 2),
            (7, 4),
            (10, 32),
            (14, 512),
            (15, 900),
            (1000, 900),
            (u32::MAX, 900),
        ];
        for &(failures, delay) in table {
            assert_eq!(p.delay(failures), delay, "after {failures} failures");
        }
        assert_eq!(BackoffPolicy::ADDRESS.delay(19), 0);
        assert_eq!(BackoffPolicy::ADDRESS.delay(20), 1);
    }

    #[test]
    fn backoff_locks_counts_and_forgets() {
        // (seconds after T0, action, expected wait afterwards at that time)
        enum Do {
            Fail,
            Clear,
            Look,
        }
        let table: &[(i64, Do, i64)] = &[
            (0, Do::Fail, 0),
            (1, Do::Fail, 0),
            (2, Do::Fail, 0),
            (3, Do::Fail, 0),
            (4, Do::Fail, 1), // 5th failure in the window: locked 1 s
            (4, Do::Look, 1),
            (5, Do::Look, 0), // lock over
            (5, Do::Fail, 2), // 6th: 2 s
            (7, Do::Fail, 4), // 7th: 4 s
            (8, Do::Look, 3),
            // 15 quiet minutes after the lock ended (at 11): forgotten, counting starts again.
            (11 + 900, Do::Fail, 0),
            (11 + 901, Do::Fail, 0),
            (11 + 902, Do::Clear, 0), // successful login
            (11 + 903, Do::Fail, 0),
        ];
        let mut b = Backoff::new(BackoffPolicy::USERNAME);
        for (i, (at, action, expected)) in table.iter().enumerate() {
            let now = T0 + at;
            match action {
                Do::Fail => {
                    b.record_failure("alice", now);
                }
                Do::Clear => b.clear(&"alice"),
                Do::Look => {}
            }
            assert_eq!(b.wait(&"alice", now), *expected, "row {i}");
            assert_eq!(
                b.wait(&"bob", now),
                0,
                "other keys are not affected (row {i})"
            );
        }
    }

    #[test]
    fn a_persistent_attacker_stays_at_the_cap() {
        // Guessing whenever the lock allows: never forgotten, each lock 15 minutes once capped.
        let mut b = Backoff::new(BackoffPolicy::USERNAME);
        let mut now = T0;
        let mut last = 0;
        for _ in 0..40 {
            assert_eq!(b.wait(&"victim", now), 0);
            last = b.record_failure("victim", now);
            now += last;
        }
        assert_eq!(last, 900);
    }

    #[test]
    fn memory_is_bounded() {
        let policy = BackoffPolicy {
            max_entries: 100,
            ..BackoffPolicy::USERNAME
        };
        let mut b = Backoff::new(policy);
        for n in 0..1000 {
            b.record_failure(n, T0 + n as i64);
            assert!(b.len() <= 100);
        }
        // The newest survive eviction; the oldest went first.
        assert_eq!(b.wait(&999, T0 + 999), 0);
        assert!(b.entries.contains_key(&999) && !b.entries.contains_key(&0));
        // Forgotten entries are swept before anything live is evicted.
        let mut b = Backoff::new(BackoffPolicy {
            max_entries: 3,
            ..BackoffPolicy::USERNAME
        });
        b.record_failure(1, T0);
        b.record_failure(2, T0);
        for _ in 0..5 {
            b.record_failure(3, T0 + 1000);
        }
        b.record_failure(4, T0 + 1000);
        assert!(
            b.entries.contains_key(&3) && b.entries.contains_key(&4) && !b.entries.contains_key(&1)
        );
        assert!(b.wait(&3, T0 + 1000) > 0);
    }

    #[test]
    fn gate_refuses_instead_of_queueing() {
        let gate = HashGate::new(2);
        let a = gate.try_enter().expect("first");
        let _b = gate.try_enter().expect("second");
        assert!(gate.try_enter().is_none(), "third refused at once");
        drop(a);
        let mut again = gate.try_enter().expect("a slot came back");
        // Its memory travels with it and comes back too.
        assert_eq!(again.memory().kib(), 0);
        assert_eq!(HashGate::new(0).max(), 1);
        let n = default_max_concurrent_hashes();
        assert!((1..=4).contains(&n));
    }

    #[test]
    fn throttle_admission() {
        let th = LoginThrottle::new(
            1,
            BackoffPolicy::USERNAME,
            BackoffPolicy {
                max_failures: 3,
                ..BackoffPolicy::USERNAME
            },
        );
        let here: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        let there: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
        let permit = match th.admit("alice", here, T0) {
            Admission::Proceed(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(
            matches!(th.admit("bob", there, T0), Admission::Busy),
            "the only slot is taken"
        );
        drop(permit);
        // Username lock: 5 failures from different addresses; the 5th starts a 1 s lockout.
        for i in 0..5u8 {
            let started = th.failed("alice", Some(IpAddr::from([203, 0, 113, i])), T0);
            assert_eq!(started, if i == 4 { 1 } else { 0 });
        }
        assert!(matches!(
            th.admit("alice", there, T0),
            Admission::LockedOut { retry_after: 1 }
        ));
        assert!(matches!(
            th.admit("alice", there, T0 + 1),
            Admission::Proceed(_)
        ));
        // Address lock: 3 failures for different (unknown) usernames from one address.
        for u in ["u1", "u2", "u3"] {
            th.failed(u, here, T0);
        }
        assert!(matches!(
            th.admit("carol", here, T0),
            Admission::LockedOut { retry_after: 1 }
        ));
        assert!(matches!(
            th.admit("carol", there, T0),
            Admission::Proceed(_)
        ));
        // Success clears the username, not the address.
        for _ in 0..5 {
            th.failed("dave", there, T0 + 10);
        }
        th.succeeded("dave");
        assert!(matches!(
            th.admit("dave", None, T0 + 10),
            Admission::Proceed(_)
        ));
    }

    #[test]
    fn settings_make_the_policies() {
        let th = LoginThrottle::default();
        assert_eq!(*th.users.lock().policy_ref(), BackoffPolicy::USERNAME);
        assert_eq!(*th.addresses.lock().policy_ref(), BackoffPolicy::ADDRESS);
        let th = LoginThrottle::from_settings(&ThrottleSettings {
            max_concurrent_hashes: 3,
            lockout_after: 2,
            lockout_base_secs: 60,
            lockout_max_secs: 10,
        });
        assert_eq!(th.max_concurrent_hashes(), 3);
        let u = *th.users.lock().policy_ref();
        assert_eq!(
            (u.max_failures, u.base_delay_secs, u.max_delay_secs),
            (2, 60, 60),
            "max is at least base"
        );
        assert_eq!(th.addresses.lock().policy_ref().max_failures, 8);
    }

    #[test]
    fn ipv6_is_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
