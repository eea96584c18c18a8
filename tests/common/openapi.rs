//! Just enough JSON Schema (the subset docs/openapi.json uses: type, enum, properties,
//! required, additionalProperties, items, minimum, maximum, minItems, $ref) to hold the API's
//! answers to its document.

use serde_json::Value;

pub struct Document {
    root: Value,
}

impl Document {
    pub fn load() -> Document {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
        let text = std::fs::read_to_string(&path).unwrap();
        Document {
            root: serde_json::from_str(&text).unwrap(),
        }
    }

    pub fn raw(&self) -> &Value {
        &self.root
    }

    /// The (METHOD, path) pairs the document describes, e.g. ("GET", "/tickets/{number}").
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, item) in self.root["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
        out.sort();
        out
    }

    /// Checks `body` against the schema the document gives for `method path` answering
    /// `status`; panics with where it differs.
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &Value) {
        let operation = &self.root["paths"][path][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        let mut response = operation["responses"][status.to_string()].clone();
        assert!(
            response.is_object(),
            "{method} {path}: status {status} is not in the document"
        );
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            response = self.resolve(reference).clone();
        }
        let schema = &response["content"]["application/json"]["schema"];
        let mut problems = Vec::new();
        self.check(schema, body, "$", &mut problems);
        assert!(
            problems.is_empty(),
            "{method} {path} {status}: {problems:?}\n{body:#}"
        );
    }

    /// Checks `value` against `schema` (a schema of the document); panics with where it differs.
    pub fn check_value(&self, schema: &Value, value: &Value) {
        let mut problems = Vec::new();
        self.check(schema, value, "$", &mut problems);
        assert!(problems.is_empty(), "{problems:?}\n{value:#}");
    }

    fn resolve(&self, reference: &str) -> &Value {
        let mut node = &self.root;
        for part in reference.trim_start_matches("#/").split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "unresolved {reference}");
        node
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return self.check(self.resolve(reference), value, at, problems);
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let fits = allowed
                .iter()
                .any(|t| *t == actual || (*t == "number" && actual == "integer"));
            if !fits {
                problems.push(format!("{at}: {actual}, not {allowed:?}"));
                return;
            }
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            if !choices.contains(value) {
                problems.push(format!("{at}: {value} is not one of {choices:?}"));
            }
        }
        if let (Some(minimum), Some(n)) = (
            schema.get("minimum").and_then(Value::as_f64),
            value.as_f64(),
        ) {
            if n < minimum {
                problems.push(format!("{at}: {n} < {minimum}"));
            }
        }
        if let (Some(maximum), Some(n)) = (
            schema.get("maximum").and_then(Value::as_f64),
            value.as_f64(),
        ) {
            if n > maximum {
                problems.push(format!("{at}: {n} > {maximum}"));
            }
        }
        if let Value::Object(object) = value {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = required.as_str().unwrap();
                if !object.contains_key(name) {
                    problems.push(format!("{at}: no `{name}`"));
                }
            }
            for (name, item) in object {
                let path = format!("{at}.{name}");
                match (
                    properties.and_then(|p| p.get(name)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(property), _) => self.check(property, item, &path, problems),
                    (None, Some(Value::Bool(false))) => {
                        problems.push(format!("{path}: not in the document"))
                    }
                    (None, Some(extra)) if extra.is_object() => {
                        self.check(extra, item, &path, problems)
                    }
                    (None, _) => {}
                }
            }
        }
        if let Value::Array(items) = value {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    problems.push(format!("{at}: fewer than {min} items"));
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.check(item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
    }
}
