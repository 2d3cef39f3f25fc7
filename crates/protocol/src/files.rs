//! Files in and out of a job: inputs uploaded before it runs and placed in its directory,
//! and artifacts it leaves under `$AWS_EXEC_ARTIFACTS`, kept beside its log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_INPUTS, MAX_PATH_BYTES};
use crate::wire::RequestError;

/// The variable naming the directory whose files are kept after the job.
pub const ARTIFACTS_ENV: &str = "AWS_EXEC_ARTIFACTS";

/// Whether `path` may name a file inside a job's directory: relative, `/`-separated, with
/// no empty, `.` or `..` part, none over 255 bytes, no NUL or backslash, at most
/// [`MAX_PATH_BYTES`].
pub fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH_BYTES
        && !path.contains(['\0', '\\'])
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && part.len() <= 255)
}

/// The directories the service makes in a job's directory (`state` for the runs of a
/// definition that carries state); an input cannot take their place.
pub const RESERVED_DIRS: [&str; 3] = ["tmp", "artifacts", "state"];

/// The variable naming the directory a stateful definition's run finds its state in, and
/// leaves it for the next run.
pub const STATE_ENV: &str = "AWS_EXEC_STATE";

/// `"inputs"` of a request: the path in the job's directory of each uploaded file, and the
/// key `POST /api/inputs` gave for it. Paths are checked when made and when deserialized;
/// that a key is the caller's is checked by the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct JobInputs(BTreeMap<String, String>);

impl TryFrom<BTreeMap<String, String>> for JobInputs {
    type Error = RequestError;

    fn try_from(files: BTreeMap<String, String>) -> Result<Self, RequestError> {
        if files.len() > MAX_INPUTS {
            return Err(RequestError::TooManyInputs(files.len()));
        }
        let reserved = |p: &str| RESERVED_DIRS.contains(&p.split('/').next().unwrap_or(p));
        if let Some(path) = files
            .keys()
            .find(|p| !is_safe_relative_path(p) || reserved(p))
        {
            return Err(RequestError::BadInputPath(path.chars().take(200).collect()));
        }
        // One file cannot also be a directory of another ("a" and "a/b").
        for path in files.keys() {
            let mut parent = path.as_str();
            while let Some((up, _)) = parent.rsplit_once('/') {
                if files.contains_key(up) {
                    return Err(RequestError::BadInputPath(path.clone()));
                }
                parent = up;
            }
        }
        Ok(JobInputs(files))
    }
}

impl From<JobInputs> for BTreeMap<String, String> {
    fn from(inputs: JobInputs) -> Self {
        inputs.0
    }
}

impl JobInputs {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (path in the job's directory, store key), by path.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }
}

/// `POST /api/inputs` answer: where to PUT one input file, and the key to name it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InputUpload {
    pub key: String,
    /// A presigned PUT URL: send the file's bytes as the body.
    pub url: String,
    /// When the URL stops working, in seconds since the epoch.
    pub expires: u64,
}

/// One file a job left under `$AWS_EXEC_ARTIFACTS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Artifact {
    /// Relative to the artifacts directory, `/`-separated.
    pub path: String,
    pub size: u64,
    /// A presigned GET URL (absent in the stored manifest).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// `GET /api/artifacts` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactList {
    pub artifacts: Vec<Artifact>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(paths: &[&str]) -> Result<JobInputs, RequestError> {
        JobInputs::try_from(
            paths
                .iter()
                .map(|p| (p.to_string(), "inputs/alice/k".to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn input_paths_stay_inside_the_job_directory() {
        assert!(inputs(&["data.zip", "etc/app.json", "a b/ü.txt"]).is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\\b",
        ] {
            assert!(
                matches!(inputs(&[bad]), Err(RequestError::BadInputPath(_))),
                "{bad:?}"
            );
        }
        assert!(
            inputs(&["a", "a/b"]).is_err(),
            "a file and a directory at once"
        );
        assert!(inputs(&["tmp"]).is_err() && inputs(&["artifacts/x"]).is_err());
        assert!(inputs(&[&"n".repeat(256)]).is_err());
        let many: Vec<String> = (0..=MAX_INPUTS).map(|i| format!("f{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(inputs(&many), Err(RequestError::TooManyInputs(_))));
    }
}
