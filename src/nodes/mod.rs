//! The site's nodes over SSH: sessions with strict host keys ([`ssh`]),
//! directly or through a bastion ([`jump`]); a node's clock against this
//! host's ([`clock`]). Node facts and the time daemons build on them.

pub mod clock;
pub mod jump;
pub mod ssh;
