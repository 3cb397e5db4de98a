//! Walking all pages of an offset-paged query with `hasMore`.

use ksef_permissions::paging::pages_blocking;
use ksef_permissions::query::{PersonsQuery, PersonsQueryType};
use ksef_permissions::{PersonDetails, PersonGrant, PersonPermissionType, PersonSubject};

use super::{Env, fresh_nip};

#[test]
fn pages_blocking_walks_every_page() {
    let env = Env::start();
    let nip = fresh_nip(30);
    let owner = env.owner(&nip);
    let people: Vec<String> = (0..23).map(|i| fresh_nip(31 + i)).collect();
    for n in &people {
        let call = PersonGrant::new(PersonSubject::nip(n).unwrap(), PersonDetails::by_identifier("Jan", "Kowalski"))
            .permission(PersonPermissionType::InvoiceRead)
            .description("Odczyt faktur")
            .build_call()
            .unwrap();
        env.granted(&owner, call);
    }
    let query = |page| PersonsQuery::new(PersonsQueryType::InCurrentContext).page(page).build();
    let pages: Vec<_> = pages_blocking(&env.pipeline, &env.transport, &owner, 10, std::thread::sleep, query).collect();
    assert_eq!(pages.len(), 3);
    let pages: Vec<_> = pages.into_iter().map(Result::unwrap).collect();
    assert_eq!(pages.iter().map(|p| p.permissions.len()).collect::<Vec<_>>(), [10, 10, 3]);
    assert_eq!(pages.iter().map(|p| p.has_more).collect::<Vec<_>>(), [true, true, false]);
    let mut seen: Vec<String> = pages
        .iter()
        .flat_map(|p| &p.permissions)
        .map(|p| serde_json::to_value(&p.authorized_identifier).unwrap()["value"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    let mut want = people.clone();
    want.sort();
    assert_eq!(seen, want);

    // A page size outside 10..=100 stops at page 0 with the validation error.
    let mut bad = pages_blocking(&env.pipeline, &env.transport, &owner, 5, std::thread::sleep, query);
    let err = bad.next().unwrap().unwrap_err();
    assert_eq!(err.offset(), 0);
    assert!(err.to_string().contains("page 0"), "{err}");
    assert!(bad.next().is_none());
}

/// The async loop over three pages, served by a closure transport that answers from
/// `pageOffset`; then a 403 on the second page stops the walk with the page number.
#[test]
fn for_each_page_async_follows_has_more_and_stops_at_an_error() {
    use ksef_permissions::paging::{PageError, for_each_page_async};
    use ksef_permissions::query::PersonalQuery;
    use ksef_transport::{HttpRequest, HttpResponse, Pipeline, RequestContext};

    fn page_of(req: &HttpRequest) -> u32 {
        let q = req.uri().query().unwrap_or("");
        q.split('&').find_map(|kv| kv.strip_prefix("pageOffset=")).and_then(|v| v.parse().ok()).unwrap()
    }
    fn item(n: u32) -> serde_json::Value {
        serde_json::json!({"id": format!("00000000-0000-0000-0000-{n:012}"), "permissionScope": "InvoiceRead",
                           "description": "Odczyt faktur", "permissionState": "Active",
                           "startDate": "2026-01-01T00:00:00Z", "canDelegate": false})
    }
    fn respond(status: u16, body: serde_json::Value) -> Result<HttpResponse, std::convert::Infallible> {
        Ok(http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap())
    }
    let ok = |req: HttpRequest| {
        let p = page_of(&req);
        let n = if p < 2 { 10 } else { 4 };
        let items: Vec<_> = (0..n).map(|i| item(p * 10 + i)).collect();
        async move { respond(200, serde_json::json!({"permissions": items, "hasMore": p < 2})) }
    };
    let failing = |req: HttpRequest| {
        let p = page_of(&req);
        async move {
            if p == 0 {
                respond(200, serde_json::json!({"permissions": [item(0)], "hasMore": true}))
            } else {
                respond(403, serde_json::json!({"title": "Forbidden", "status": 403}))
            }
        }
    };
    let ctx = RequestContext::new("https://ksef.invalid").unwrap().with_token("t");
    let p = Pipeline::new().without_limiter();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let mut ids = Vec::new();
        let query = |page| PersonalQuery::new().page(page).build();
        let pages = for_each_page_async(&p, &ok, &ctx, 10, tokio::time::sleep, query, |r| {
            ids.extend(r.permissions.into_iter().map(|i| i.id.to_string()));
        })
        .await
        .unwrap();
        assert_eq!((pages, ids.len()), (3, 24));
        assert_eq!(ids.last().unwrap(), "00000000-0000-0000-0000-000000000023");

        let mut seen = 0;
        let err = for_each_page_async(&p, &failing, &ctx, 10, tokio::time::sleep, query, |r| {
            seen += r.permissions.len();
        })
        .await
        .unwrap_err();
        assert!(matches!(&err, PageError::Request { offset: 1, source } if source.status().map(|s| s.as_u16()) == Some(403)), "{err:?}");
        assert_eq!(seen, 1);
    });
}
