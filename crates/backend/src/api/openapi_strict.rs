//! The OpenAPI document's request schemas made as strict as the checks the service makes,
//! where a schema can say them: a client generated from the document then sends what the
//! service takes. What depends on the service (its rpc names, its longest timeout, whether
//! it has the long runner) comes from its state; what depends on the caller's own data (an
//! upload's key, a secret's name being set) no schema can say.

use aws_exec_protocol::limits::{MAX_ARGV, MAX_IDEMPOTENCY_KEY, MAX_PATH_BYTES};
use serde_json::{json, Value};

/// A relative path whose parts do not start with a dot: never `.`, `..` or an empty part.
/// Stricter than the service (which takes `.hidden`), never looser.
const SAFE_PATH: &str =
    r"^[A-Za-z0-9_+=,@~-][A-Za-z0-9._+=,@~-]*(/[A-Za-z0-9_+=,@~-][A-Za-z0-9._+=,@~-]*)*$";
const ENV_NAME: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
const SECRET_NAME: &str = "^[A-Z_][A-Z0-9_]*$";
const NO_NUL: &str = "^[^\\u0000]*$";
const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";

/// What the document's strictness depends on in this service.
pub struct Service<'a> {
    pub rpc_names: Vec<&'a str>,
    pub max_timeout: u64,
    pub long_runner: bool,
}

/// Tightens the document (as JSON) in place.
pub fn tighten(doc: &mut Value, service: &Service<'_>) {
    let schemas = &mut doc["components"]["schemas"];
    if let Some(exec) = schemas.get_mut("ExecRequest") {
        tighten_exec(exec, service);
    }
    if let Some(path) = schemas.pointer_mut("/UploadRequest/properties/path") {
        set(
            path,
            json!({"pattern": SAFE_PATH, "maxLength": MAX_PATH_BYTES}),
        );
    }
    // The Idempotency-Key header, wherever a call takes it.
    let key = format!("^[!-~]{{1,{MAX_IDEMPOTENCY_KEY}}}$");
    for operation in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for method in operation
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let params = method.get_mut("parameters").and_then(Value::as_array_mut);
            for param in params.into_iter().flatten() {
                if param["name"] == "Idempotency-Key" {
                    param["schema"] = json!({"type": "string", "pattern": key});
                }
            }
        }
    }
}

fn tighten_exec(exec: &mut Value, service: &Service<'_>) {
    let props = &mut exec["properties"];
    set(
        &mut props["argv"],
        json!({"minItems": 1, "maxItems": MAX_ARGV,
               "items": {"type": "string", "minLength": 1, "pattern": "^[^\\u0000]+$"}}),
    );
    set(
        &mut props["env"],
        json!({"propertyNames": {"pattern": ENV_NAME},
               "additionalProperties": {"type": "string", "pattern": NO_NUL}}),
    );
    set(
        &mut props["secrets"],
        json!({"items": {"type": "string", "pattern": SECRET_NAME}}),
    );
    set(
        &mut props["secret-files"],
        json!({"propertyNames": {"pattern": SAFE_PATH},
               "additionalProperties": {"type": "string", "pattern": SECRET_NAME}}),
    );
    set(
        &mut props["inputs"],
        json!({"propertyNames": {"pattern": SAFE_PATH}}),
    );
    set(
        &mut props["executable"],
        json!({"items": {"type": "string", "pattern": SAFE_PATH}}),
    );
    set(&mut props["stdin-base64"], json!({"pattern": BASE64}));
    set(
        &mut props["timeout"],
        json!({"maximum": service.max_timeout}),
    );
    if !service.long_runner {
        // Without the long runner, asking for it is refused: the document leaves it out.
        for name in ["runner", "cpu", "memory-mb"] {
            if let Some(props) = props.as_object_mut() {
                props.remove(name);
            }
        }
    } else {
        props["runner"] = json!({"type": ["string", "null"], "enum": ["fargate", null]});
    }
    // Either a command or an rpc: `argv`, or one of this service's rpc names (the Go
    // client's zero values of the other kept).
    let mut names: Vec<Value> = service.rpc_names.iter().map(|n| json!(n)).collect();
    names.sort_by_key(|n| n.to_string());
    exec["anyOf"] = json!([
        {"required": ["argv"],
         "properties": {"argv": {"type": "array"},
                        "rpc-name": {"enum": [null, ""]},
                        "rpc-args": {"enum": [null, ""]}}},
        {"required": ["rpc-name"],
         "properties": {"rpc-name": {"enum": names},
                        "argv": {"type": "null"}}},
    ]);
}

/// Adds `more`'s keys to the schema `at` (an object), keeping what it had otherwise.
fn set(at: &mut Value, more: Value) {
    if let (Some(at), Value::Object(more)) = (at.as_object_mut(), more) {
        at.extend(more);
    }
}
