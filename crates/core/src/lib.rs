//! What the aws-exec service keeps and sends, below a job's life: the [`store`] (a data
//! directory or S3), [`secrets`], where a job's log goes ([`log_sink`]), a job's records,
//! notifications of its end, keys of work due later, bounded walks over what a job made and
//! the deadline of every network call. The backend decides what to write; this crate writes.

pub mod deadlines;
pub mod due;
pub mod job_events;
pub mod log_objects;
pub mod log_sink;
#[doc(hidden)]
pub mod made_ahead;
pub mod notify;
#[cfg(feature = "aws")]
pub mod on_first_call;
pub mod push_guard;
pub mod records;
pub mod rpc;
pub mod secrets;
pub mod store;
#[doc(hidden)]
pub mod time;
pub mod tree;
pub mod usage;

pub use rpc::{Registry, Rpc, RpcContext};
pub use store::{Store, StoreError};
