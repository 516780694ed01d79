//! The site's nodes over SSH: sessions with strict host keys ([`ssh`]),
//! directly or through a bastion ([`jump`], [`tunnel`]); a node's clock against this
//! host's ([`clock`]); what a node is and how it does ([`facts`]).

pub mod accept;
pub mod access;
pub mod clock;
pub mod cluster_nodes;
pub mod exec;
pub mod facts;
pub mod jump;
pub mod pool;
pub mod sntp;
pub mod ssh;
pub mod survey;
pub mod time;
pub mod timesync;
pub mod tunnel;
