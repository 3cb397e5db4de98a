//! The operation table: one `OperationSpec` constant per operation, the `OPERATIONS` array, and
//! per operation a marker type implementing `ksef_model::Operation` plus, when the operation has
//! path/query/header parameters, a typed `…Params` struct.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Spec;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// Calls `f(METHOD, path, operation)` for every operation, in document order.
pub fn for_each_operation_mut(spec: &mut Value, mut f: impl FnMut(&str, &str, &mut Map<String, Value>)) {
    let Some(paths) = spec["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if let Some(op) = op.as_object_mut() {
                f(&method.to_uppercase(), path, op);
            }
        }
    }
}

/// Calls `f(METHOD, path, operation)` for every operation, in document order.
pub fn for_each_operation<'a>(spec: &'a Value, mut f: impl FnMut(&str, &'a str, &'a Map<String, Value>)) {
    let Some(paths) = spec["paths"].as_object() else {
        return;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if let Some(op) = op.as_object() {
                f(&method.to_uppercase(), path, op);
            }
        }
    }
}

/// One reviewed entry of `xtask/spec/operations.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameEntry {
    /// snake_case operation name.
    pub name: String,
    /// Rate-limit group (a field of `EffectiveApiRateLimits`).
    pub group: String,
}

/// The committed mapping `METHOD path` → name and rate-limit group.
#[derive(Debug)]
pub struct OperationNames(BTreeMap<String, NameEntry>);

impl OperationNames {
    /// Reads and checks the mapping (names are unique snake_case).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let map: BTreeMap<String, NameEntry> =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut names = BTreeSet::new();
        for (key, e) in &map {
            ensure!(
                e.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && e.name.starts_with(|c: char| c.is_ascii_lowercase()),
                "{key}: `{}` is not snake_case",
                e.name
            );
            ensure!(names.insert(e.name.clone()), "{key}: name `{}` is used twice", e.name);
        }
        Ok(Self(map))
    }

    /// The key of an operation: `METHOD /path`.
    pub fn key(method: &str, path: &str) -> String {
        format!("{method} {path}")
    }

    /// The entry of an operation.
    pub fn get(&self, method: &str, path: &str) -> Option<&NameEntry> {
        self.0.get(&Self::key(method, path))
    }

    /// Fails unless the mapping names exactly the operations in `seen`.
    pub fn ensure_exactly(&self, seen: &[String]) -> Result<()> {
        let seen: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
        let unused: Vec<&str> = self.0.keys().map(String::as_str).filter(|k| !seen.contains(k)).collect();
        ensure!(unused.is_empty(), "xtask/spec/operations.toml names operations the spec lacks: {}", unused.join(", "));
        let missing: Vec<&str> = seen.iter().copied().filter(|k| !self.0.contains_key(*k)).collect();
        ensure!(missing.is_empty(), "operations without a name in xtask/spec/operations.toml: {}", missing.join(", "));
        Ok(())
    }
}

/// The generated table.
#[derive(Debug)]
pub struct Operations {
    /// `ksef-model/src/generated/operations.rs` (without header).
    pub table: String,
    /// How many operations it holds.
    pub count: usize,
}

struct Param {
    name: String,
    field: proc_macro2::Ident,
    location: &'static str,
    required: bool,
    kind: ParamKind,
    minimum: Option<i64>,
    maximum: Option<i64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    default: Option<String>,
    description: String,
}

enum ParamKind {
    Str,
    I32,
    Bool,
    DateTime,
    Enum(String),
    EnumArray(String),
}

impl ParamKind {
    fn rust_type(&self) -> TokenStream {
        match self {
            Self::Str => quote!(::std::string::String),
            Self::I32 => quote!(i32),
            Self::Bool => quote!(bool),
            Self::DateTime => quote!(::chrono::DateTime<::chrono::Utc>),
            Self::Enum(t) => {
                let t = format_ident!("{}", t);
                quote!(crate::types::#t)
            }
            Self::EnumArray(t) => {
                let t = format_ident!("{}", t);
                quote!(::std::vec::Vec<crate::types::#t>)
            }
        }
    }

    fn type_name(&self) -> String {
        match self {
            Self::Str => "String".into(),
            Self::I32 => "i32".into(),
            Self::Bool => "bool".into(),
            Self::DateTime => "DateTime<Utc>".into(),
            Self::Enum(t) => t.clone(),
            Self::EnumArray(t) => format!("Vec<{t}>"),
        }
    }

    /// Expression turning `v: &Self` into a `String`.
    fn to_string_expr(&self) -> TokenStream {
        match self {
            Self::DateTime => quote!(crate::param_date_time(v)),
            _ => quote!(v.to_string()),
        }
    }
}

/// Generates the table from the fixed-up spec.
pub fn generate(spec: &Spec, names: &OperationNames) -> Result<Operations> {
    let schemas = spec.json["components"]["schemas"].as_object().ok_or_else(|| anyhow!("no components.schemas"))?;
    let groups: BTreeSet<String> = schemas["EffectiveApiRateLimits"]["properties"]
        .as_object()
        .ok_or_else(|| anyhow!("EffectiveApiRateLimits has no properties"))?
        .keys()
        .cloned()
        .collect();

    let mut consts = Vec::new();
    let mut idents = Vec::new();
    let mut markers = Vec::new();
    let mut err: Option<anyhow::Error> = None;
    let mut count = 0;
    for_each_operation(&spec.json, |method, path, op| {
        if err.is_some() {
            return;
        }
        match one(method, path, op, names, schemas, &groups) {
            Ok((c, m, ident)) => {
                consts.push(c);
                markers.push(m);
                idents.push(ident);
                count += 1;
            }
            Err(e) => err = Some(e.context(format!("{method} {path}"))),
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let n = count;
    let file = quote! {
        use crate::{BodySpec, Method, OperationSpec, ParamLocation, ParamSpec, RateLimits, ResponseSpec, SortDirection, SortSpec};

        #(#consts)*

        /// Every operation of the spec, in the spec's order.
        pub static OPERATIONS: [&OperationSpec; #n] = [#(&#idents),*];

        #(#markers)*
    };
    let file: syn::File = syn::parse2(file).context("generated operation table does not parse")?;
    Ok(Operations { table: prettyplease::unparse(&file), count })
}

fn one(
    method: &str,
    path: &str,
    op: &Map<String, Value>,
    names: &OperationNames,
    schemas: &Map<String, Value>,
    groups: &BTreeSet<String>,
) -> Result<(TokenStream, TokenStream, proc_macro2::Ident)> {
    let entry = names.get(method, path).ok_or_else(|| anyhow!("no name in operations.toml"))?;
    ensure!(groups.contains(&entry.group), "rate-limit group `{}` is not in EffectiveApiRateLimits", entry.group);
    let name = &entry.name;
    let group = &entry.group;
    let const_ident = format_ident!("{}", name.to_uppercase());
    let method_pascal = pascal(&method.to_lowercase());
    let pascal = pascal(name);
    let marker = format_ident!("{}", pascal);
    let method_ident = format_ident!("{}", method_pascal);
    let tag = op.get("tags").and_then(|t| t.get(0)).and_then(Value::as_str).unwrap_or_default();
    let summary = op.get("summary").and_then(Value::as_str).unwrap_or_default();
    let description = op.get("description").and_then(Value::as_str).unwrap_or_default();
    let bearer = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());

    // Parameters.
    let mut params = Vec::new();
    for p in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        params.push(param(p, schemas)?);
    }
    // Path parameters must match the template exactly.
    let template_params: BTreeSet<String> =
        path.split('{').skip(1).filter_map(|s| s.split('}').next()).map(str::to_owned).collect();
    let declared: BTreeSet<String> = params.iter().filter(|p| p.location == "Path").map(|p| p.name.clone()).collect();
    ensure!(template_params == declared, "path template params {template_params:?} ≠ declared {declared:?}");

    // Request body.
    let (request_body, request_ty) = match op.get("requestBody") {
        None => (quote!(None), quote!(())),
        Some(body) => {
            let content = body["content"].as_object().ok_or_else(|| anyhow!("requestBody without content"))?;
            ensure!(content.len() == 1, "request body with {} media types", content.len());
            let (ct, media) = content.iter().next().expect("one");
            let (type_name, ty) = body_type(ct, &media["schema"])?;
            let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
            (quote!(Some(BodySpec { content_type: #ct, type_name: #type_name, required: #required })), ty)
        }
    };

    // Success response: exactly one 2xx.
    let responses = op.get("responses").and_then(Value::as_object).ok_or_else(|| anyhow!("no responses"))?;
    let success: Vec<(&String, &Value)> = responses.iter().filter(|(s, _)| s.starts_with('2')).collect();
    ensure!(success.len() == 1, "{} success responses", success.len());
    let (status, resp) = success[0];
    let status: u16 = status.parse().context("status code")?;
    let (response_ct, response_type_name, response_ty) = match resp.get("content").and_then(Value::as_object) {
        None => (quote!(None), quote!(None), quote!(())),
        Some(content) if content.is_empty() => (quote!(None), quote!(None), quote!(())),
        Some(content) => {
            ensure!(content.len() == 1, "success response with {} media types", content.len());
            let (ct, media) = content.iter().next().expect("one");
            let (type_name, ty) = body_type(ct, &media["schema"])?;
            (quote!(Some(#ct)), quote!(Some(#type_name)), ty)
        }
    };
    let response_headers: Vec<String> =
        resp.get("headers").and_then(Value::as_object).map(|h| h.keys().cloned().collect()).unwrap_or_default();
    let error_statuses: Vec<u16> =
        responses.keys().filter(|s| !s.starts_with('2')).filter_map(|s| s.parse().ok()).collect();

    // Vendor extensions.
    let rl = op.get("x-rate-limits").ok_or_else(|| anyhow!("no x-rate-limits"))?;
    let per_second = rl["perSecond"].as_u64().ok_or_else(|| anyhow!("x-rate-limits.perSecond"))? as u32;
    let per_minute = opt_u32(rl.get("perMinute"));
    let per_hour = opt_u32(rl.get("perHour"));
    let permissions: Vec<&str> = op
        .get("x-required-permissions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let sort: Vec<TokenStream> = op
        .get("x-sort")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let field = s["field"].as_str().unwrap_or_default();
            let dir = match s["direction"].as_str() {
                Some("Desc") => quote!(SortDirection::Desc),
                _ => quote!(SortDirection::Asc),
            };
            quote!(SortSpec { field: #field, direction: #dir })
        })
        .collect();

    let spec_params = |loc: &str| -> Vec<TokenStream> {
        params
            .iter()
            .filter(|p| p.location == loc)
            .map(|p| {
                let name = &p.name;
                let loc = format_ident!("{}", p.location);
                let required = p.required;
                let ty = p.kind.type_name();
                let array = matches!(p.kind, ParamKind::EnumArray(_));
                let minimum = opt_tokens(p.minimum);
                let maximum = opt_tokens(p.maximum);
                let min_length = opt_tokens(p.min_length);
                let max_length = opt_tokens(p.max_length);
                let default = match &p.default {
                    Some(d) => quote!(Some(#d)),
                    None => quote!(None),
                };
                quote!(ParamSpec {
                    name: #name, location: ParamLocation::#loc, required: #required, rust_type: #ty, array: #array,
                    minimum: #minimum, maximum: #maximum, min_length: #min_length, max_length: #max_length, default: #default,
                })
            })
            .collect()
    };
    let path_params = spec_params("Path");
    let query_params = spec_params("Query");
    let header_params = spec_params("Header");

    let doc_head = format!(" `{method} {path}`: {summary}");
    let constant = quote! {
        #[doc = #doc_head]
        pub const #const_ident: OperationSpec = OperationSpec {
            name: #name,
            method: Method::#method_ident,
            path: #path,
            tag: #tag,
            summary: #summary,
            path_params: &[#(#path_params),*],
            query_params: &[#(#query_params),*],
            header_params: &[#(#header_params),*],
            request_body: #request_body,
            response: ResponseSpec { status: #status, content_type: #response_ct, type_name: #response_type_name, headers: &[#(#response_headers),*] },
            error_statuses: &[#(#error_statuses),*],
            bearer: #bearer,
            rate_limits: RateLimits { per_second: #per_second, per_minute: #per_minute, per_hour: #per_hour },
            rate_limit_group: #group,
            required_permissions: &[#(#permissions),*],
            sort: &[#(#sort),*],
        };
    };

    // Marker type and parameters struct.
    let (params_ty, params_struct) = if params.is_empty() {
        (quote!(()), quote!())
    } else {
        let ps = format_ident!("{}Params", pascal);
        let fields = params.iter().map(|p| {
            let f = &p.field;
            let t = p.kind.rust_type();
            let mut doc = format!(" `{}` ({} parameter", p.name, p.location.to_lowercase());
            if let (Some(lo), Some(hi)) = (p.minimum, p.maximum) {
                doc.push_str(&format!(", {lo}..={hi}"));
            } else if let Some(lo) = p.minimum {
                doc.push_str(&format!(", ≥ {lo}"));
            }
            if let Some(d) = &p.default {
                doc.push_str(&format!(", default {d}"));
            }
            doc.push(')');
            if !p.description.is_empty() {
                doc.push_str(": ");
                doc.push_str(p.description.lines().next().unwrap_or_default());
            }
            if p.required || matches!(p.kind, ParamKind::EnumArray(_)) {
                quote!(#[doc = #doc] pub #f: #t,)
            } else {
                quote!(#[doc = #doc] pub #f: ::std::option::Option<#t>,)
            }
        });
        let collect = |loc: &str| -> Vec<TokenStream> {
            params
                .iter()
                .filter(|p| p.location == loc)
                .map(|p| {
                    let f = &p.field;
                    let name = &p.name;
                    let conv = p.kind.to_string_expr();
                    if matches!(p.kind, ParamKind::EnumArray(_)) {
                        quote!(for v in &self.#f { out.push((#name, #conv)); })
                    } else if p.required {
                        quote!({ let v = &self.#f; out.push((#name, #conv)); })
                    } else {
                        quote!(if let Some(v) = &self.#f { out.push((#name, #conv)); })
                    }
                })
                .collect()
        };
        let (pp, qp, hp) = (collect("Path"), collect("Query"), collect("Header"));
        let doc = format!(" Parameters of [`{pascal}`].");
        let derive_default = if params.iter().all(|p| !p.required) { quote!(Default,) } else { quote!() };
        let s = quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, #derive_default PartialEq)]
            pub struct #ps { #(#fields)* }
            impl crate::OperationParams for #ps {
                #[allow(unused_mut)]
                fn path_params(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> { let mut out = ::std::vec::Vec::new(); #(#pp)* out }
                #[allow(unused_mut)]
                fn query_params(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> { let mut out = ::std::vec::Vec::new(); #(#qp)* out }
                #[allow(unused_mut)]
                fn header_params(&self) -> ::std::vec::Vec<(&'static str, ::std::string::String)> { let mut out = ::std::vec::Vec::new(); #(#hp)* out }
            }
        };
        (quote!(#ps), s)
    };
    let mut marker_doc = format!(" `{method} {path}`: {summary}.\n\n Tag: {tag}. Rate-limit group `{group}`.");
    if !permissions.is_empty() {
        marker_doc.push_str(&format!(" Requires any of: {}.", permissions.join(", ")));
    }
    let description_doc = description.lines().map(|l| format!(" {l}")).collect::<Vec<_>>();
    let marker_item = quote! {
        #[doc = #marker_doc]
        #[doc = ""]
        #(#[doc = #description_doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct #marker;
        impl crate::Operation for #marker {
            const SPEC: &'static OperationSpec = &#const_ident;
            type Params = #params_ty;
            type Request = #request_ty;
            type Response = #response_ty;
        }
        #params_struct
    };
    Ok((constant, marker_item, const_ident))
}

fn param(p: &Value, schemas: &Map<String, Value>) -> Result<Param> {
    ensure!(p.get("$ref").is_none(), "parameter references are not supported");
    let name = p["name"].as_str().ok_or_else(|| anyhow!("parameter without name"))?.to_owned();
    let location = match p["in"].as_str() {
        Some("path") => "Path",
        Some("query") => "Query",
        Some("header") => "Header",
        other => bail!("parameter {name} in {other:?}"),
    };
    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false) || location == "Path";
    let schema = &p["schema"];
    let resolved = deref_schema(schema, schemas);
    let kind = match (resolved["type"].as_str(), resolved["format"].as_str()) {
        (Some("integer"), _) => ParamKind::I32,
        (Some("boolean"), _) => ParamKind::Bool,
        (Some("string"), Some("date-time")) => ParamKind::DateTime,
        (Some("string"), _) if resolved.get("enum").is_some() => ParamKind::Enum(ref_name(schema)?),
        (Some("string"), _) => ParamKind::Str,
        (Some("array"), _) => {
            let items = &resolved["items"];
            ensure!(deref_schema(items, schemas).get("enum").is_some(), "array parameter {name} of non-enum items");
            ParamKind::EnumArray(ref_name(items)?)
        }
        other => bail!("parameter {name} of unsupported schema {other:?}"),
    };
    let field = if name == "x-continuation-token" { "continuation_token".to_owned() } else { snake(&name) };
    Ok(Param {
        field: format_ident!("{}", field),
        location,
        required,
        kind,
        minimum: resolved["minimum"].as_i64(),
        maximum: resolved["maximum"].as_i64(),
        min_length: resolved["minLength"].as_u64(),
        max_length: resolved["maxLength"].as_u64(),
        default: resolved.get("default").map(|d| match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        description: p.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
        name,
    })
}

/// Follows `$ref` and single-element `allOf` wrappers to the schema that says what a value is.
fn deref_schema<'a>(schema: &'a Value, schemas: &'a Map<String, Value>) -> &'a Value {
    let mut s = schema;
    for _ in 0..8 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = &schemas[r.rsplit('/').next().unwrap_or_default()];
        } else if let Some([one]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            s = one;
        } else {
            break;
        }
    }
    s
}

/// The component name a schema refers to (directly or through a single `allOf`).
fn ref_name(schema: &Value) -> Result<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return Ok(r.rsplit('/').next().unwrap_or_default().to_owned());
    }
    if let Some([one]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        return ref_name(one);
    }
    bail!("expected a $ref, got {schema}")
}

/// The type name (for the table) and Rust type (for the marker) of a body or response.
fn body_type(content_type: &str, schema: &Value) -> Result<(String, TokenStream)> {
    if content_type == "application/json" {
        if let Ok(name) = ref_name(schema) {
            let ident = format_ident!("{}", name);
            return Ok((name, quote!(crate::types::#ident)));
        }
        if schema["type"] == "array" {
            let name = ref_name(&schema["items"])?;
            let ident = format_ident!("{}", name);
            return Ok((format!("Vec<{name}>"), quote!(::std::vec::Vec<crate::types::#ident>)));
        }
        bail!("JSON body of an unnamed schema: {schema}");
    }
    ensure!(schema["type"] == "string", "non-JSON body ({content_type}) that is not a string");
    Ok(("XmlDocument".to_owned(), quote!(crate::XmlDocument)))
}

fn opt_u32(v: Option<&Value>) -> TokenStream {
    match v.and_then(Value::as_u64) {
        Some(n) => {
            let n = n as u32;
            quote!(Some(#n))
        }
        None => quote!(None),
    }
}

fn opt_tokens<T: quote::ToTokens>(v: Option<T>) -> TokenStream {
    match v {
        Some(v) => quote!(Some(#v)),
        None => quote!(None),
    }
}

/// `list_auth_sessions` → `ListAuthSessions`; `get` → `Get`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `pageSize` → `page_size`.
fn snake(camel: &str) -> String {
    let mut s = String::new();
    for ch in camel.chars() {
        if ch.is_ascii_uppercase() {
            s.push('_');
            s.push(ch.to_ascii_lowercase());
        } else if ch == '-' {
            s.push('_');
        } else {
            s.push(ch);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn case_conversions() {
        assert_eq!(super::pascal("list_auth_sessions"), "ListAuthSessions");
        assert_eq!(super::snake("pageSize"), "page_size");
        assert_eq!(super::snake("verifyCertificateChain"), "verify_certificate_chain");
    }
}
