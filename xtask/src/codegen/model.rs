//! Serde types with progenitor/typify, types only.
//!
//! progenitor cannot generate a *client* from the KSeF spec (an `application/xml` request body and
//! several error schemas per status), and we do not want one (its client is reqwest-only). We hand
//! it a view of the spec reduced to what its type pass needs (JSON bodies, success responses), let
//! it fill its `TypeSpace`, and keep only that. The component schemas (error bodies included) are
//! all added to the type space regardless.
//!
//! Post-processing: string enums reachable from any response become *open*: they gain an
//! `Unknown(UnknownEnumValue)` variant, so a value KSeF adds in a later release deserializes
//! instead of failing the whole response. Requests stay strictly typed: callers cannot construct an
//! `UnknownEnumValue`, and `FromStr` still rejects unknown strings.

use std::collections::{BTreeSet, VecDeque};

use anyhow::{Context, Result};
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TypePatch};
use quote::quote;
use serde_json::Value;

use super::Spec;
use super::operations::{for_each_operation, for_each_operation_mut};

/// The generated model.
#[derive(Debug)]
pub struct Model {
    /// `ksef-model/src/generated/types.rs` (without header).
    pub types: String,
    /// `ksef-model/tests/it/generated_dispatch.rs`: a test-only `match` from a schema name to its
    /// type, for the example round-trip test.
    pub dispatch: String,
    /// Number of Rust types generated.
    pub type_count: usize,
}

/// Types that are identifiers: worth hashing and ordering.
const HASHABLE: &[&str] = &["ReferenceNumber", "KsefNumber", "Nip", "Pesel", "PermissionId", "Challenge"];

/// Generates the types.
pub fn generate(spec: &Spec) -> Result<Model> {
    let view = progenitor_view(&spec.json);
    let openapi: openapiv3::OpenAPI = serde_json::from_value(view).context("fixed-up spec is not OpenAPI 3.0")?;
    let mut settings = GenerationSettings::default();
    settings.with_interface(InterfaceStyle::Positional).with_derive("PartialEq");
    for name in HASHABLE {
        settings.with_patch(name, TypePatch::default().with_derive("Hash").with_derive("Eq"));
    }
    let mut generator = Generator::new(&settings);
    generator.generate_tokens(&openapi).map_err(|e| anyhow::anyhow!("progenitor: {e}"))?;
    let tokens = generator.get_type_space().to_stream();
    let mut file: syn::File = syn::parse2(quote!(#tokens)).context("typify output does not parse")?;

    let open = response_reachable_enums(&spec.json);
    let opened = open_enums(&mut file, &open);
    anyhow::ensure!(opened > 0, "no response enum was opened: did typify change its output?");
    redact_secrets(&mut file, SECRETS)?;

    let type_count = file.items.iter().filter(|i| matches!(i, syn::Item::Struct(_) | syn::Item::Enum(_))).count();
    let dispatch = dispatch(spec)?;
    super::split_doc_lines(&mut file);
    Ok(Model { types: prettyplease::unparse(&file), dispatch, type_count })
}

/// What progenitor's type pass needs: JSON request bodies and success responses only.
fn progenitor_view(spec: &Value) -> Value {
    let mut view = spec.clone();
    for_each_operation_mut(&mut view, |_, _, op| {
        let json_body =
            op.get("requestBody").and_then(|b| b.get("content")).and_then(|c| c.get("application/json")).is_some();
        if !json_body {
            op.remove("requestBody");
        }
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.retain(|status, _| status.starts_with('2'));
            for r in responses.values_mut() {
                if let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) {
                    content.retain(|ct, _| ct == "application/json");
                }
            }
        }
    });
    view
}

/// Fields that carry a secret, by generated type: their `Debug` prints `"***"` instead.
///
/// `(type, fields)`; a tuple struct (a newtype) names its field `"0"`. Every entry must match a
/// generated struct and each of its fields, or generation fails (like a fixup that matches nothing).
pub const SECRETS: &[(&str, &[&str])] = &[
    // JWTs: `authenticationToken`, `accessToken`, `refreshToken` are all `TokenInfo`.
    ("TokenInfo", &["token"]),
    // The KSeF token, shown once when generated.
    ("GenerateTokenResponse", &["token"]),
    ("GenerateTokenResponseToken", &["0"]),
    // The encrypted KSeF token with its challenge timestamp: replayable while the challenge lives.
    ("InitTokenAuthenticationRequest", &["encrypted_token"]),
    // The session's wrapped AES key.
    ("EncryptionInfo", &["encrypted_symmetric_key"]),
];

/// Replaces the derived `Debug` of each struct in `secrets` by a manual impl that prints `"***"`
/// for the secret fields and the derived output for the others.
fn redact_secrets(file: &mut syn::File, secrets: &[(&str, &[&str])]) -> Result<()> {
    let mut impls: Vec<syn::Item> = Vec::new();
    for (ty, fields) in secrets {
        let s = file
            .items
            .iter_mut()
            .find_map(|i| match i {
                syn::Item::Struct(s) if s.ident == ty => Some(s),
                _ => None,
            })
            .with_context(|| format!("SECRETS names {ty}, which is not a generated struct"))?;
        let mut had_debug = false;
        for attr in &mut s.attrs {
            if attr.path().is_ident("derive") {
                let list: syn::punctuated::Punctuated<syn::Path, syn::Token![,]> =
                    attr.parse_args_with(syn::punctuated::Punctuated::parse_terminated)?;
                had_debug |= list.iter().any(|p| p.is_ident("Debug"));
                let kept: Vec<&syn::Path> = list.iter().filter(|p| !p.is_ident("Debug")).collect();
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            }
        }
        anyhow::ensure!(had_debug, "{ty} does not derive Debug any more: review SECRETS");
        let ident = s.ident.clone();
        let name = ident.to_string();
        let redacted = |f: &str| fields.contains(&f);
        let body = match &s.fields {
            syn::Fields::Named(named) => {
                let all: Vec<String> =
                    named.named.iter().filter_map(|f| f.ident.as_ref()).map(ToString::to_string).collect();
                for f in *fields {
                    anyhow::ensure!(all.iter().any(|a| a == f), "SECRETS names {ty}.{f}, which does not exist");
                }
                let calls = named.named.iter().filter_map(|f| f.ident.as_ref()).map(|f| {
                    let label = f.to_string();
                    if redacted(&label) { quote!(.field(#label, &"***")) } else { quote!(.field(#label, &self.#f)) }
                });
                quote!(f.debug_struct(#name) #(#calls)* .finish())
            }
            syn::Fields::Unnamed(unnamed) => {
                for f in *fields {
                    anyhow::ensure!(
                        f.parse::<usize>().is_ok_and(|i| i < unnamed.unnamed.len()),
                        "SECRETS names {ty}.{f}, which does not exist"
                    );
                }
                let calls = (0..unnamed.unnamed.len()).map(|i| {
                    let idx = syn::Index::from(i);
                    if redacted(&i.to_string()) { quote!(.field(&"***")) } else { quote!(.field(&self.#idx)) }
                });
                quote!(f.debug_tuple(#name) #(#calls)* .finish())
            }
            syn::Fields::Unit => anyhow::bail!("SECRETS names {ty}, a unit struct"),
        };
        impls.push(syn::parse_quote! {
            /// Redacted: secret fields print as `"***"` (see `SECRETS` in `xtask/src/codegen/model.rs`).
            impl ::std::fmt::Debug for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    #body
                }
            }
        });
    }
    file.items.extend(impls);
    Ok(())
}

/// Names of the component string enums reachable (through `$ref`s) from any response schema,
/// error responses included.
fn response_reachable_enums(spec: &Value) -> BTreeSet<String> {
    let schemas = &spec["components"]["schemas"];
    let mut queue = VecDeque::new();
    for_each_operation(spec, |_, _, op| {
        for resp in op.get("responses").and_then(Value::as_object).into_iter().flat_map(|r| r.values()) {
            for media in resp.get("content").and_then(Value::as_object).into_iter().flat_map(|c| c.values()) {
                collect_refs(&media["schema"], &mut queue);
            }
        }
    });
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop_front() {
        if seen.insert(name.clone()) {
            collect_refs(&schemas[&name], &mut queue);
        }
    }
    seen.into_iter().filter(|n| schemas[n].get("enum").is_some()).collect()
}

fn collect_refs(v: &Value, out: &mut VecDeque<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push_back(r.rsplit('/').next().unwrap_or_default().to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// Adds `#[serde(untagged)] Unknown(crate::UnknownEnumValue)` to each named unit-only enum, drops
/// `Copy`, and teaches its `Display` impl the new arm. Returns how many enums were opened.
fn open_enums(file: &mut syn::File, names: &BTreeSet<String>) -> usize {
    let mut opened = BTreeSet::new();
    for item in &mut file.items {
        if let syn::Item::Enum(e) = item {
            let name = e.ident.to_string();
            if !names.contains(&name) || !e.variants.iter().all(|v| matches!(v.fields, syn::Fields::Unit)) {
                continue;
            }
            for attr in &mut e.attrs {
                if attr.path().is_ident("derive") {
                    let list: syn::punctuated::Punctuated<syn::Path, syn::Token![,]> =
                        attr.parse_args_with(syn::punctuated::Punctuated::parse_terminated).expect("derive list");
                    let kept: Vec<&syn::Path> = list.iter().filter(|p| !p.is_ident("Copy")).collect();
                    *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
                }
            }
            e.variants.push(syn::parse_quote! {
                /// A value this version of ksef-model does not know (KSeF added it later). It is
                /// kept verbatim; it cannot be constructed by hand, so requests stay strictly typed.
                #[serde(untagged)]
                Unknown(crate::UnknownEnumValue)
            });
            opened.insert(name);
        }
    }
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let syn::Type::Path(tp) = &*imp.self_ty else {
            continue;
        };
        let Some(last) = tp.path.segments.last() else {
            continue;
        };
        if !opened.contains(&last.ident.to_string()) {
            continue;
        }
        let is_display = imp.trait_.as_ref().and_then(|(p, _)| p.segments.last()).is_some_and(|s| s.ident == "Display");
        if !is_display {
            continue;
        }
        for impl_item in &mut imp.items {
            let syn::ImplItem::Fn(f) = impl_item else {
                continue;
            };
            for stmt in &mut f.block.stmts {
                if let syn::Stmt::Expr(syn::Expr::Match(m), _) = stmt {
                    m.arms.push(syn::parse_quote!(Self::Unknown(ref v) => f.write_str(v.as_str()),));
                }
            }
        }
    }
    opened.len()
}

/// The test-only dispatch from schema name to type.
fn dispatch(spec: &Spec) -> Result<String> {
    let names: Vec<&String> =
        spec.json["components"]["schemas"].as_object().context("no components.schemas")?.keys().collect();
    let arms = names.iter().map(|n| {
        let ident = quote::format_ident!("{}", n);
        let n = n.as_str();
        let vec = format!("Vec<{n}>");
        quote! {
            #n => Some(roundtrip::<types::#ident>(value)),
            #vec => Some(roundtrip::<Vec<types::#ident>>(value)),
        }
    });
    let file = quote! {
        //! Test-only: deserialize a JSON value into the generated type named by a schema name and
        //! serialize it back.
        use ksef_model::types;

        /// `None` if no generated type has that name.
        pub fn roundtrip_by_name(name: &str, value: serde_json::Value) -> Option<Result<serde_json::Value, String>> {
            match name {
                #(#arms)*
                _ => None,
            }
        }

        fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(value: serde_json::Value) -> Result<serde_json::Value, String> {
            let typed: T = serde_json::from_value(value).map_err(|e| format!("deserialize: {e}"))?;
            serde_json::to_value(&typed).map_err(|e| format!("serialize: {e}"))
        }
    };
    let file: syn::File = syn::parse2(file).context("dispatch does not parse")?;
    Ok(prettyplease::unparse(&file))
}
