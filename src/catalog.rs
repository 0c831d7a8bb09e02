//! Provider catalogs: every endpoint described once, as data (`catalog/*.json`, built from the
//! references by `tools/gen_catalog.py`), compiled into the library and parsed on first use.
//! Validation and unit estimates of the endpoints without a hand-tuned table come from here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Catalog {
    pub source: String,
    /// Facts the spec lacks, each with its reference tag (`{"value": .., "tag": "C AHOAS"}`).
    #[serde(default)]
    pub facts: BTreeMap<String, Value>,
    #[serde(default)]
    pub enums: BTreeMap<String, Vec<String>>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    /// The Python method's name (stable; see tools/gen_catalog.py).
    pub name: String,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    pub key: Option<String>,
    #[serde(default)]
    pub list: bool,
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
    #[serde(default)]
    pub body: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub body_required: Vec<String>,
    pub pricing: Pricing,
    /// "offset" (limit + offset) or "none".
    pub paging: String,
}

/// A price rule with the tag of its source.
#[derive(Debug, Deserialize)]
pub struct Pricing {
    /// "fields" (max(base, rows x field costs)), "fixed" (units per request) or "free".
    pub rule: String,
    pub units: Option<u64>,
    pub base: Option<u64>,
    pub tag: String,
}

#[derive(Debug, Deserialize)]
pub struct Param {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub format: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// A list, or "@name" of a shared enum.
    pub enum_: Option<Value>,
    /// Fields a `where` filter may name.
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Field {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    #[serde(default)]
    pub nullable: bool,
    pub format: Option<String>,
    /// Item type of an array field.
    pub items: Option<Value>,
    /// Units per row when selected (the spec's "(N units)" notes); 1 when absent.
    pub units: Option<u64>,
}

pub static AHREFS_JSON: &str = include_str!("../catalog/ahrefs.json");
static AHREFS: OnceLock<Catalog> = OnceLock::new();

/// The Ahrefs catalog (148 operations of the v3 spec).
pub fn ahrefs() -> &'static Catalog {
    AHREFS.get_or_init(|| {
        let mut v: Value = serde_json::from_str(AHREFS_JSON).expect("catalog/ahrefs.json is checked by the tests");
        // `enum` is a Rust keyword: move it to `enum_` before typed parsing.
        if let Some(ops) = v.get_mut("operations").and_then(|o| o.as_array_mut()) {
            for op in ops {
                if let Some(params) = op.get_mut("params").and_then(|p| p.as_object_mut()) {
                    for p in params.values_mut() {
                        if let Some(obj) = p.as_object_mut() {
                            if let Some(e) = obj.remove("enum") {
                                obj.insert("enum_".into(), e);
                            }
                        }
                    }
                }
            }
        }
        serde_json::from_value(v).expect("catalog/ahrefs.json is checked by the tests")
    })
}

impl Catalog {
    /// A fact's value (`facts.<name>.value`).
    pub fn fact(&self, name: &str) -> Option<&Value> {
        self.facts.get(name).and_then(|f| f.get("value"))
    }

    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.method.eq_ignore_ascii_case(method) && o.path == path)
    }

    pub fn paths(&self, method: &str) -> impl Iterator<Item = &str> + Clone {
        let method = method.to_string();
        self.operations.iter().filter(move |o| o.method.eq_ignore_ascii_case(&method)).map(|o| o.path.as_str())
    }

    /// The allowed values of a parameter, resolving "@name" references.
    pub fn allowed<'a>(&'a self, p: &'a Param) -> Option<Vec<&'a str>> {
        match p.enum_.as_ref()? {
            Value::String(name) => self.enums.get(name).map(|v| v.iter().map(String::as_str).collect()),
            Value::Array(items) => Some(items.iter().filter_map(|i| i.as_str()).collect()),
            _ => None,
        }
    }
}

impl Operation {
    /// Units per row of a field, or `None` if the answer has no such field.
    pub fn field_units(&self, name: &str) -> Option<u64> {
        self.fields.get(name).map(|f| f.units.unwrap_or(1))
    }
}

// ---------------------------------------------------------------------------------------------
// Moz API (JSON-RPC): 74 actions from Moz's method schema, `data` and `result` as JSON schema.

#[derive(Debug, Deserialize)]
pub struct MozCatalog {
    pub source: String,
    #[serde(default)]
    pub facts: BTreeMap<String, Value>,
    pub operations: Vec<MozMethod>,
}

#[derive(Debug, Deserialize)]
pub struct MozMethod {
    /// The dotted JSON-RPC name (from the action name).
    pub method: String,
    /// The Python method's name.
    pub name: String,
    /// Other spellings the docs use (hyphenated titles).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub enterprise_only: bool,
    /// The `params.data` object, as JSON schema (type, properties, required, enum, const, default, items, anyOf).
    pub data: Value,
    pub result: Value,
    #[serde(default)]
    pub result_keys: Vec<String>,
    /// The list in the result that holds the rows (None: one object).
    pub rows: Option<String>,
    /// "offset" (offset.token), "page" (page.n) or "none".
    pub paging: String,
    pub pricing: MozPricing,
    pub limit: Option<MozLimit>,
}

#[derive(Debug, Deserialize)]
pub struct MozPricing {
    /// free | per_call | per_result | per_value | dynamic
    pub rule: String,
    /// Quota pool: data, beta, mozscape (None when free).
    pub pool: Option<String>,
    pub multiplier: Option<u64>,
    pub max_values: Option<u64>,
    pub tag: String,
}

#[derive(Debug, Deserialize)]
pub struct MozLimit {
    pub bounds: [u64; 2],
    pub default: u64,
    pub tag: String,
}

pub static MOZ_JSON: &str = include_str!("../catalog/moz.json");
static MOZ: OnceLock<MozCatalog> = OnceLock::new();

/// The Moz API catalog (every action of Moz's method schema).
pub fn moz() -> &'static MozCatalog {
    MOZ.get_or_init(|| serde_json::from_str(MOZ_JSON).expect("catalog/moz.json is checked by the tests"))
}

impl MozCatalog {
    pub fn fact(&self, name: &str) -> Option<&Value> {
        self.facts.get(name).and_then(|f| f.get("value"))
    }

    /// A method by its dotted name, a documented alias (hyphenated title), the hyphenated form
    /// of any name, or its Python name.
    pub fn find(&self, name: &str) -> Option<&MozMethod> {
        let dotted = name.trim().replace('-', ".");
        self.operations.iter().find(|m| m.method == dotted || m.name == name || m.aliases.iter().any(|a| a == name))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_moz_catalog_loads_every_action() {
        let c = super::moz();
        assert_eq!(c.operations.len(), 74);
        assert_eq!(c.operations.iter().filter(|m| m.public && !m.enterprise_only).count(), 30);
        assert_eq!(c.find("data.site.linking-domain.list").map(|m| m.method.as_str()), Some("data.site.linking.domain.list"));
        assert_eq!(c.find("keyword_metrics").map(|m| m.pricing.max_values), Some(Some(4)));
        assert_eq!(c.find("data.site.link.list").and_then(|m| m.rows.as_deref()), Some("links"));
    }

    #[test]
    fn the_ahrefs_catalog_loads_every_operation() {
        let c = super::ahrefs();
        assert_eq!(c.operations.len(), 148);
        let dr = c.find("GET", "site-explorer/domain-rating").expect("domain-rating");
        assert!(!dr.params.contains_key("protocol"), "protocol is no longer accepted by domain-rating");
        let mh = c.find("GET", "site-explorer/metrics-history").expect("metrics-history");
        assert_eq!(mh.field_units("org_traffic"), Some(10));
        let country = &c.find("GET", "keywords-explorer/overview").expect("overview").params["country"];
        assert!(c.allowed(country).expect("enum").contains(&"us"));
    }
}
