//! Decoding environment settings: `env` values in every documented form, `secrets`,
//! and `profiles`.

use std::collections::BTreeMap;

use crate::workflow::decode::{Decode, Decoder, Fields};
use crate::workflow::diagnostic::Diagnostic;
use crate::workflow::schema::{EnvValue, Profile, Secret};
use crate::workflow::yaml::{Node, Value};

/// Checks that an env or secret name is a valid shell variable name.
pub fn check_env_name(key: &Node, d: &mut Decoder) -> Option<String> {
    let name = String::decode(key, d)?;
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        d.push(
            Diagnostic::error(
                "bad-env-name",
                Some(key.span),
                format!("`{name}` is not a valid environment variable name"),
            )
            .with_width(name.chars().count())
            .with_hint("use letters, digits and `_`, not starting with a digit"),
        );
        return None;
    }
    Some(name)
}

/// A mapping of env names to values of type `T`, checking every name.
pub fn decode_env_map<T: Decode>(node: &Node, d: &mut Decoder) -> Option<BTreeMap<String, T>> {
    let Some(entries) = node.as_map() else {
        d.expected(node, "a mapping of variable names to values");
        return None;
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, v) in entries {
        match (check_env_name(k, d), T::decode(v, d)) {
            (Some(k), Some(v)) => {
                out.insert(k, v);
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

impl Decode for EnvValue {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        if !matches!(node.value, Value::Map(_)) {
            return String::decode(node, d).map(EnvValue::Static);
        }
        let mut f = Fields::new(node, "env value", d)?;
        let value = if f.has("command") {
            let command = f.req("command", d);
            let cache = f.opt("cache", d).unwrap_or(false);
            command.map(|command| EnvValue::Command { command, cache })
        } else if f.has("condition") {
            let condition = f.req("condition", d);
            let when_true = f.req("when_true", d);
            let when_false = f.req("when_false", d);
            Some(EnvValue::Conditional {
                condition: condition?,
                when_true: when_true?,
                when_false: when_false?,
            })
        } else if f.has("value") {
            let secret = f.opt("secret", d).unwrap_or(false);
            f.req("value", d)
                .map(|value| EnvValue::Secret { secret, value })
        } else {
            d.error_at(
                node,
                "bad-env-value",
                "an env value is a string, `{command, cache}`, `{condition, when_true, when_false}` or `{secret, value}`",
            );
            None
        };
        f.finish(d);
        value
    }
}

impl Decode for Secret {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        if !matches!(node.value, Value::Map(_)) {
            return String::decode(node, d).map(Secret::Value);
        }
        let mut f = Fields::new(node, "secret", d)?;
        let secret = if f.has("value") {
            let _: Option<bool> = f.opt("secret", d);
            f.req("value", d).map(Secret::Value)
        } else {
            let provider = f.raw("provider").and_then(|n| match &n.value {
                Value::Map(_) => {
                    let mut p = Fields::new(n, "secret provider", d)?;
                    let name: Option<String> = p.req("custom", d);
                    p.finish(d);
                    name
                }
                _ => String::decode(n, d),
            });
            if provider.is_none() && node.get("provider").is_none() {
                d.error_at(
                    node,
                    "missing-key",
                    "a secret needs `provider` and `key`, or `value`",
                );
            }
            let key = f.req("key", d);
            let version = f.opt("version", d);
            match (provider, key) {
                (Some(provider), Some(key)) => Some(Secret::Provider {
                    provider,
                    key,
                    version,
                }),
                _ => None,
            }
        };
        f.finish(d);
        secret
    }
}

impl Decode for Profile {
    fn decode(node: &Node, d: &mut Decoder) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            d.expected(node, "a mapping of variables");
            return None;
        };
        let mut profile = Profile {
            description: None,
            env: BTreeMap::new(),
        };
        let mut ok = true;
        for (k, v) in entries {
            if k.as_str() == Some("description") {
                profile.description = String::decode(v, d);
                continue;
            }
            match (check_env_name(k, d), EnvValue::decode(v, d)) {
                (Some(k), Some(v)) => {
                    profile.env.insert(k, v);
                }
                _ => ok = false,
            }
        }
        ok.then_some(profile)
    }
}
