//! The site's nodes over SSH: sessions with strict host keys ([`ssh`]).
//! Node facts, the jump through a bastion and time sync build on it.

pub mod ssh;
