//! The authorization-code flow over HTTP (SMART-1..46, UDAP-23..25, HTI1-1, HTI1-4..6): a
//! cookie-keeping client walks login → (patient picker) → consent → redirect, then exchanges the code.

mod authorize_errors;
mod discovery;
mod exchange;
pub mod flow;
mod launch;
mod refresh;
mod udap_consumer;
// Issue 8 items 1, 3, 8: login limits, logout and sessions, one code per consent, launch patients.
mod consent_once;
mod launch_patient;
mod login_limits;
mod session_end;
