//! The site's nodes over SSH: sessions with strict host keys ([`ssh`]),
//! directly or through a bastion ([`jump`]). Node facts and time sync
//! build on them.

pub mod jump;
pub mod ssh;
