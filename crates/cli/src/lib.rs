//! The `aws-exec` command as a library: the CLI definition, the built-in operations, and the
//! service's own commands (`commands`), which tests and other binaries can register too.

pub mod builtin;
pub mod cli;
pub mod commands;
