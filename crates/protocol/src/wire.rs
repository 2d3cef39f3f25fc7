//! Request and response bodies of the HTTP API, spelled as aws-exec spells them.

use serde::{Deserialize, Serialize};

use crate::limits::MAX_ARGV;

/// The header carrying the caller's auth key.
pub const AUTH_HEADER: &str = "auth";

/// `POST /api/exec` body: either `argv` or `rpc-name` (+ `rpc-args`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(rename = "rpc-name", default, skip_serializing_if = "Option::is_none")]
    pub rpc_name: Option<String>,
    /// JSON text (a string holding JSON, as aws-exec sends it).
    #[serde(rename = "rpc-args", default, skip_serializing_if = "Option::is_none")]
    pub rpc_args: Option<String>,
    #[serde(rename = "push-urls", default, skip_serializing_if = "Option::is_none")]
    pub push_urls: Option<PushUrls>,
}

/// Caller-owned presigned PUT URLs that receive a job's objects instead of the service's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushUrls {
    pub log: String,
    pub exit: String,
    pub size: String,
}

/// What a job runs, once a request has been checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Command {
    Argv {
        argv: Vec<String>,
    },
    Rpc {
        #[serde(rename = "rpc-name")]
        name: String,
        /// JSON text; `null` when the caller sent none.
        #[serde(rename = "rpc-args")]
        args: String,
    },
}

/// Why a request body cannot become a [`Command`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("request needs either \"argv\" or \"rpc-name\"")]
    NoCommand,
    #[error("request has both \"argv\" and \"rpc-name\"; send one")]
    BothCommands,
    #[error("\"argv\" is empty")]
    EmptyArgv,
    #[error("\"argv\"[0] is an empty string")]
    EmptyProgram,
    #[error("\"argv\" has {0} entries; the limit is {MAX_ARGV}")]
    TooManyArgs(usize),
    #[error("\"argv\" entries cannot contain NUL bytes")]
    NulInArgv,
    #[error("\"rpc-name\" is empty")]
    EmptyRpcName,
    #[error("\"rpc-args\" is not valid JSON text: {0}")]
    BadRpcArgs(String),
}

impl ExecRequest {
    pub fn argv<I: IntoIterator<Item = S>, S: Into<String>>(argv: I) -> Self {
        ExecRequest {
            argv: Some(argv.into_iter().map(Into::into).collect()),
            ..Default::default()
        }
    }

    pub fn rpc(name: impl Into<String>, args_json: impl Into<String>) -> Self {
        ExecRequest {
            rpc_name: Some(name.into()),
            rpc_args: Some(args_json.into()),
            ..Default::default()
        }
    }

    /// Checks the request's shape and returns what it asks to run.
    pub fn command(&self) -> Result<Command, RequestError> {
        match (&self.argv, &self.rpc_name) {
            (Some(_), Some(_)) => Err(RequestError::BothCommands),
            (None, None) => Err(RequestError::NoCommand),
            (Some(argv), None) => {
                if argv.is_empty() {
                    return Err(RequestError::EmptyArgv);
                }
                if argv[0].is_empty() {
                    return Err(RequestError::EmptyProgram);
                }
                if argv.len() > MAX_ARGV {
                    return Err(RequestError::TooManyArgs(argv.len()));
                }
                if argv.iter().any(|a| a.contains('\0')) {
                    return Err(RequestError::NulInArgv);
                }
                Ok(Command::Argv { argv: argv.clone() })
            }
            (None, Some(name)) => {
                if name.is_empty() {
                    return Err(RequestError::EmptyRpcName);
                }
                let args = match self.rpc_args.as_deref() {
                    None | Some("") => "null".to_owned(),
                    Some(text) => {
                        serde_json::from_str::<serde_json::Value>(text)
                            .map_err(|e| RequestError::BadRpcArgs(e.to_string()))?;
                        text.to_owned()
                    }
                };
                Ok(Command::Rpc {
                    name: name.clone(),
                    args,
                })
            }
        }
    }
}

/// `POST /api/exec` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResponse {
    pub uid: String,
}

/// `GET /api/exec` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollQuery {
    pub uid: String,
    #[serde(rename = "range-start", default)]
    pub range_start: u64,
}

/// `GET /api/exec` answer: where to read more log, or the exit code once all is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PollResponse {
    Url { url: String },
    Exit { exit: i32 },
}

/// Every error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_aws_exec() {
        let req: ExecRequest =
            serde_json::from_str(r#"{"rpc-name":"listdir","rpc-args":"{\"path\":\".\"}"}"#)
                .unwrap();
        assert_eq!(
            req.command().unwrap(),
            Command::Rpc {
                name: "listdir".into(),
                args: r#"{"path":"."}"#.into()
            }
        );
        let poll: PollResponse = serde_json::from_str(r#"{"exit":3}"#).unwrap();
        assert_eq!(poll, PollResponse::Exit { exit: 3 });
        let poll: PollResponse = serde_json::from_str(r#"{"url":"http://x"}"#).unwrap();
        assert_eq!(
            poll,
            PollResponse::Url {
                url: "http://x".into()
            }
        );
        let q: PollQuery = serde_json::from_str(r#"{"uid":"u","range-start":5}"#).unwrap();
        assert_eq!(q.range_start, 5);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        assert_eq!(
            ExecRequest::default().command(),
            Err(RequestError::NoCommand)
        );
        assert_eq!(
            ExecRequest::argv(Vec::<String>::new()).command(),
            Err(RequestError::EmptyArgv)
        );
        assert_eq!(
            ExecRequest::argv([""]).command(),
            Err(RequestError::EmptyProgram)
        );
        assert_eq!(
            ExecRequest::argv(["a\0b"]).command(),
            Err(RequestError::NulInArgv)
        );
        let both = ExecRequest {
            rpc_name: Some("x".into()),
            ..ExecRequest::argv(["ls"])
        };
        assert_eq!(both.command(), Err(RequestError::BothCommands));
        assert!(matches!(
            ExecRequest::rpc("x", "{nope").command(),
            Err(RequestError::BadRpcArgs(_))
        ));
        assert_eq!(
            ExecRequest::rpc("x", "").command().unwrap(),
            Command::Rpc {
                name: "x".into(),
                args: "null".into()
            }
        );
    }
}
