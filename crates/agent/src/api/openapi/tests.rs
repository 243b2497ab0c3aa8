//! The OpenAPI document names every route of the API with its method, and nothing else,
//! and the copy kept in the repository (`docs/openapi.json`) is the one the code builds.
//!
//! Method: `access::ROUTES` is checked against the router's source by its own test, so
//! comparing the document's operations with `ROUTES` both ways covers the router.
//! `UPDATE_EXPECT=1 cargo test -p agent openapi` rewrites the kept copy.

use std::collections::BTreeSet;

use super::{OPERATIONS, ROUTES, document, document_json, openapi_path};

/// `(METHOD, path)` of every operation in the built document.
fn documented() -> BTreeSet<(String, String)> {
    let value: serde_json::Value =
        serde_json::from_str(document_json()).expect("the document is JSON");
    let paths = value["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn every_route_is_documented_with_its_method_and_nothing_else_is() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| (method.to_string(), openapi_path(path)))
        .collect();
    let documented = documented();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document (add them to api/openapi.rs OPERATIONS): \
         {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations in the OpenAPI document that are no route: {unrouted:?}"
    );
    assert_eq!(
        OPERATIONS.len(),
        ROUTES.len(),
        "an operation is listed twice"
    );
}

#[test]
fn every_operation_documents_the_json_error_and_every_schema_it_refers_to_exists() {
    let value = serde_json::to_value(document()).expect("the document serializes");
    let text = value.to_string();
    let schemas = value["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').expect("a closing quote")];
        assert!(schemas.contains_key(name), "no schema {name:?}");
    }
    let error = &value["components"]["responses"]["BadRequest"]["content"]["application/json"];
    assert_eq!(error["schema"]["$ref"], "#/components/schemas/ErrorBody");
    for (path, item) in value["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let error = &operation["responses"]["400"]["$ref"];
            assert_eq!(
                error, "#/components/responses/BadRequest",
                "{method} {path} does not document the JSON error"
            );
        }
    }
}

#[test]
fn the_document_kept_in_the_repository_is_the_one_the_code_builds() {
    expect_test::expect_file!["../../../../../docs/openapi.json"].assert_eq(document_json());
}
