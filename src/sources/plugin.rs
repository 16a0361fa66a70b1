//! The plugin generator's service call, as Argo CD makes it (`applicationset/generators/plugin.go`,
//! `services/plugin`, `services/internal/http`).
//!
//! Stage: sources. [`settings`] reads the plugin's ConfigMap (`baseUrl`, `token`,
//! `requestTimeout`) and [`parse_secret_key`] its token reference (pure); [`call`] sends
//! `POST <baseUrl>/api/v1/getparams.execute` through reqwest (I/O) and [`parse_answer`] reads what
//! comes back (pure). Messages are Argo CD's, so an error reads the same in both controllers.

use std::{collections::BTreeMap, sync::OnceLock, time::Duration};

use serde_json::{Map, Value};

use super::SourceError;

/// Argo CD's request timeout when the ConfigMap sets none (`requestTimeout`, seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a plugin's answer may weigh; a larger answer is an error, not an unbounded read.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Argo CD's Secret of a token reference without a Secret name (`$key`).
pub const ARGOCD_SECRET: &str = "argocd-secret";

/// The path Argo CD posts to, below `baseUrl`.
pub const PATH: &str = "api/v1/getparams.execute";

/// What a plugin's ConfigMap says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `baseUrl`.
    pub base_url: String,
    /// `token`: a `$key` or `$secret:key` reference.
    pub token_ref: String,
    /// `requestTimeout` (0, absent or negative: [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

/// `error getting plugin from generator: ...`, Argo CD's wrapper of everything before the call.
pub fn getting(message: impl std::fmt::Display) -> SourceError {
    SourceError::Plugin(format!("error getting plugin from generator: {message}"))
}

/// The settings of the ConfigMap `namespace/name` with `data`, or Argo CD's error (without the
/// `error getting plugin from generator: ` prefix [`getting`] adds).
pub fn settings(namespace: &str, name: &str, data: &BTreeMap<String, String>) -> Result<Settings, String> {
    let field = |k: &str| data.get(k).filter(|v| !v.is_empty());
    let Some(base_url) = field("baseUrl") else {
        return Err(format!(
            "error fetching ConfigMap: baseUrl not found in ConfigMap {namespace}/{name}"
        ));
    };
    let Some(token_ref) = field("token") else {
        return Err(format!(
            "error fetching ConfigMap: token not found in ConfigMap {namespace}/{name}"
        ));
    };
    if !token_ref.starts_with('$') {
        return Err(format!(
            "error fetching Secret token: token is empty, or does not reference a secret key \
             starting with '$': {token_ref}"
        ));
    }
    let timeout = match data.get("requestTimeout") {
        None => DEFAULT_TIMEOUT,
        Some(v) => match v.parse::<i64>() {
            Ok(s) if s > 0 => Duration::from_secs(s as u64),
            // Argo CD: 0 is the default; a negative timeout would be none at all (Go's
            // http.Client), which appset does not allow: the default then too.
            Ok(_) => DEFAULT_TIMEOUT,
            Err(e) => {
                let why = match e.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        "value out of range"
                    }
                    _ => "invalid syntax",
                };
                return Err(format!(
                    "error set requestTimeout : strconv.Atoi: parsing {}: {why}",
                    crate::text::go_quote(v)
                ));
            }
        },
    };
    Ok(Settings {
        base_url: base_url.clone(),
        token_ref: token_ref.clone(),
        timeout,
    })
}

/// Argo CD's `ParseSecretKey`: `$secret:key` is `key` of the Secret `secret`; `$key` is `key` of
/// `argocd-secret`. Returns the Secret's name and the key (without `$`).
pub fn parse_secret_key(token_ref: &str) -> (String, String) {
    let r = token_ref.strip_prefix('$').unwrap_or(token_ref);
    match r.split_once(':') {
        // Go's strings.Split: the key is what lies between the first and a second colon.
        Some((secret, rest)) => (
            secret.to_string(),
            rest.split(':').next().unwrap_or_default().to_string(),
        ),
        None => (ARGOCD_SECRET.to_string(), r.to_string()),
    }
}

/// The request body: `{"applicationSetName": ..., "input": {"parameters": ...}}` (`parameters`
/// left out when empty, as Go's `omitempty` does).
pub fn request_body(appset_name: &str, parameters: &Map<String, Value>) -> Value {
    let mut input = Map::new();
    if !parameters.is_empty() {
        input.insert("parameters".into(), Value::Object(parameters.clone()));
    }
    serde_json::json!({"applicationSetName": appset_name, "input": input})
}

/// The URL posted to: `baseUrl`, a `/` added when it has none, then [`PATH`].
pub fn url(base_url: &str) -> String {
    if base_url.ends_with('/') {
        format!("{base_url}{PATH}")
    } else {
        format!("{base_url}/{PATH}")
    }
}

fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent("argocd-applicationset")
                .build()
                .map_err(|e| crate::text::causes(crate::text::error_chain(&e)))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Ask the plugin at `settings.base_url` for the parameter sets of `appset_name` with
/// `parameters`, sending `token` as a bearer token.
pub async fn call(
    settings: &Settings,
    token: &str,
    appset_name: &str,
    parameters: &Map<String, Value>,
) -> Result<Vec<Map<String, Value>>, SourceError> {
    let listing = |m: String| SourceError::Plugin(format!("error listing params: {m}"));
    let api = |m: String| listing(format!("error get api '{appset_name}': {m}"));
    let url = url(&settings.base_url);
    let client = client().map_err(|e| getting(format!("error initializing plugin client: {e}")))?;
    let body = serde_json::to_vec(&request_body(appset_name, parameters))
        .map_err(|e| listing(format!("NewRequest returned unexpected error: {e}")))?;
    let mut req = client
        .post(&url)
        .timeout(settings.timeout)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    let quoted = crate::text::go_quote(&url);
    let transport = |e: reqwest::Error| {
        if e.is_builder() {
            return listing(format!(
                "NewRequest returned unexpected error: parse {quoted}: {}",
                crate::text::causes(crate::text::error_chain(&e))
            ));
        }
        let why = if e.is_timeout() {
            format!(
                "context deadline exceeded (Client.Timeout of {}s exceeded)",
                settings.timeout.as_secs()
            )
        } else {
            // reqwest's own message repeats the URL Go's message starts with.
            let inner = crate::text::causes(crate::text::error_chain(&e).skip(1));
            if inner.is_empty() {
                crate::text::causes(crate::text::error_chain(&e))
            } else {
                inner
            }
        };
        api(format!("Post {quoted}: {why}"))
    };
    let mut resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    let mut answer = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(api(format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER_BYTES >> 20
            )));
        }
        answer.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(api(status_error(status.as_u16(), &answer)));
    }
    parse_answer(&answer).map_err(api)
}

/// Argo CD's `CheckResponse` message for a status outside 2xx: the answer's JSON `message` (else
/// `error`) string, or the whole answer when it is not JSON.
pub fn status_error(status: u16, answer: &[u8]) -> String {
    let message = match serde_json::from_slice::<Value>(answer) {
        Ok(Value::Object(m)) => m
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| m.get("error").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        Ok(_) => String::new(),
        Err(_) => String::from_utf8_lossy(answer).into_owned(),
    };
    format!("API error with status code {status}: {message}")
}

/// The parameter sets of an answer `{"output": {"parameters": [{...}, ...]}}`. As Go's decoder:
/// an empty answer, or one without `output` or `parameters`, is no parameter sets; only the first
/// JSON value counts; a `null` set is an empty one. An error quotes the answer after the reason.
pub fn parse_answer(answer: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
    let text = String::from_utf8_lossy(answer);
    let fail = |why: String| format!("{why}: {text}");
    let value = match serde_json::Deserializer::from_slice(answer)
        .into_iter::<Value>()
        .next()
    {
        None => return Ok(Vec::new()),
        Some(Err(e)) => return Err(fail(e.to_string())),
        Some(Ok(v)) => v,
    };
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let cannot = |v: &Value, field: &str, ty: &str| {
        fail(format!(
            "json: cannot unmarshal {} into Go {field} of type {ty}",
            kind(v)
        ))
    };
    let output = match &value {
        Value::Null => return Ok(Vec::new()),
        Value::Object(m) => m.get("output"),
        v => return Err(cannot(v, "value", "plugin.ServiceResponse")),
    };
    let parameters = match output {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => m.get("parameters"),
        Some(v) => return Err(cannot(v, "struct field ServiceResponse.output", "plugin.Output")),
    };
    let sets = match parameters {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(cannot(
                v,
                "struct field Output.output.parameters",
                "[]map[string]interface {}",
            ));
        }
    };
    sets.iter()
        .map(|s| match s {
            Value::Null => Ok(Map::new()),
            Value::Object(m) => Ok(m.clone()),
            v => Err(cannot(
                v,
                "struct field Output.output.parameters",
                "map[string]interface {}",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_references_name_argocd_secret_or_their_own() {
        assert_eq!(
            parse_secret_key("$plugin.token"),
            ("argocd-secret".into(), "plugin.token".into())
        );
        assert_eq!(
            parse_secret_key("$other:plugin.token"),
            ("other".into(), "plugin.token".into())
        );
        assert_eq!(parse_secret_key("$a:b:c"), ("a".into(), "b".into()));
    }

    #[test]
    fn settings_say_what_the_config_map_lacks() {
        let data = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let e = settings("argocd", "p", &data(&[("token", "$t")])).unwrap_err();
        assert_eq!(
            e,
            "error fetching ConfigMap: baseUrl not found in ConfigMap argocd/p"
        );
        let e = settings("argocd", "p", &data(&[("baseUrl", "http://x")])).unwrap_err();
        assert_eq!(
            e,
            "error fetching ConfigMap: token not found in ConfigMap argocd/p"
        );
        let e = settings(
            "argocd",
            "p",
            &data(&[("baseUrl", "http://x"), ("token", "plain")]),
        )
        .unwrap_err();
        assert!(e.ends_with("starting with '$': plain"), "{e}");
        let e = settings(
            "argocd",
            "p",
            &data(&[("baseUrl", "http://x"), ("token", "$t"), ("requestTimeout", "1m")]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "error set requestTimeout : strconv.Atoi: parsing \"1m\": invalid syntax"
        );
        let s = settings(
            "argocd",
            "p",
            &data(&[("baseUrl", "http://x"), ("token", "$t"), ("requestTimeout", "0")]),
        )
        .unwrap();
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(url(&s.base_url), "http://x/api/v1/getparams.execute");
        assert_eq!(url("http://x/p/"), "http://x/p/api/v1/getparams.execute");
    }

    #[test]
    fn answers_decode_as_gos_decoder_does() {
        assert_eq!(parse_answer(b"").unwrap().len(), 0);
        assert_eq!(parse_answer(b"{}").unwrap().len(), 0);
        assert_eq!(parse_answer(b"{\"output\": {}}").unwrap().len(), 0);
        let sets = parse_answer(br#"{"output": {"parameters": [{"a": 1}, null]}} trailing"#).unwrap();
        assert_eq!(sets.len(), 2);
        assert!(sets[1].is_empty());
        let e = parse_answer(b"not json").unwrap_err();
        assert!(
            e.starts_with("expected ident at line 1 column 2: not json"),
            "{e}"
        );
        let e = parse_answer(br#"{"output": {"parameters": ["x"]}}"#).unwrap_err();
        assert!(
            e.starts_with("json: cannot unmarshal string into Go struct field Output.output.parameters"),
            "{e}"
        );
        assert_eq!(
            status_error(401, br#"{"message": "bad token"}"#),
            "API error with status code 401: bad token"
        );
        assert_eq!(status_error(500, b"boom"), "API error with status code 500: boom");
    }

    #[test]
    fn the_request_leaves_out_empty_parameters() {
        assert_eq!(
            request_body("s", &Map::new()),
            serde_json::json!({"applicationSetName": "s", "input": {}})
        );
    }
}
