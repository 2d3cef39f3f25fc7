//! Child processes of tests start without the settings a developer's shell may hold
//! (`source env.sh` exports a real bucket and service URL), so a test never reaches past
//! loopback by accident.

/// Variables removed from every process a test starts.
pub const CONFIG_VARS: &[&str] = &[
    "PROJECT_NAME",
    "PROJECT_BUCKET",
    "PROJECT_URL",
    "PROJECT_DOMAIN",
    "AUTH",
    "AWS_EXEC_DATA_DIR",
    "AWS_EXEC_PROFILE",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_LAMBDA_RUNTIME_API",
];

/// A command with the configuration variables removed and `vars` set.
pub fn clean_command(
    program: impl AsRef<std::ffi::OsStr>,
    vars: &[(&str, String)],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    for var in CONFIG_VARS {
        cmd.env_remove(var);
    }
    // No instance metadata service here; without this the SDK waits on it.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}
