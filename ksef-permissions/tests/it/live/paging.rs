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
